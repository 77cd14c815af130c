//! Revoked access tokens, and the revocation feed of ended sessions and revoked tokens.

use chrono::{DateTime, Utc};
use gatehouse::domain::Session;
use gatehouse::store::{RevocationFeed, Rotated};
use gatehouse::token::RefreshToken;

use super::{Fixture, ended, fixture, rotation, session, t};

on_every_store!(
    revoked_access_tokens_are_remembered,
    the_revocation_feed_lists_every_ended_session_and_revoked_token,
);

/// Ids with their times in seconds after `t(0)`.
type Listed<'a> = Vec<(&'a str, i64)>;

fn ids(feed: &RevocationFeed) -> (Listed<'_>, Listed<'_>) {
    let seconds = |at: &DateTime<Utc>| at.timestamp() - t(0).timestamp();
    (
        feed.sessions
            .iter()
            .map(|(id, at)| (id.as_str(), seconds(at)))
            .collect(),
        feed.access_tokens
            .iter()
            .map(|(id, at)| (id.as_str(), seconds(at)))
            .collect(),
    )
}

async fn the_revocation_feed_lists_every_ended_session_and_revoked_token(f: Fixture) {
    let mut sessions: Vec<Session> = (0..4).map(|i| session(f.user, i)).collect();
    sessions.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let first_tokens: Vec<RefreshToken> = sessions
        .iter()
        .map(|s| RefreshToken::generate(s.id.clone()))
        .collect();
    for (s, token) in sessions.iter().zip(&first_tokens) {
        f.store.create_session(s, token.hash()).await.unwrap();
    }
    let theirs = session(f.other_user, 0);
    f.store
        .create_session(&theirs, RefreshToken::generate(theirs.id.clone()).hash())
        .await
        .unwrap();
    let feed = |since: i64, now: i64| {
        let store = f.store.clone();
        async move { store.revocations_since(t(since), t(now)).await.unwrap() }
    };
    assert_eq!(feed(0, 10).await, RevocationFeed::default());

    // Sign-out of one session, then "sign out everywhere else".
    assert!(
        f.store
            .end_session(&sessions[0].id, ended(10))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .end_session(&sessions[0].id, ended(11))
            .await
            .unwrap()
    );
    f.store
        .end_user_sessions(f.user, Some(&sessions[3].id), ended(20))
        .await
        .unwrap();
    // A replayed refresh token ends the last one.
    let second = RefreshToken::generate(sessions[3].id.clone());
    let third = RefreshToken::generate(sessions[3].id.clone());
    f.store
        .rotate_refresh_token(rotation(&sessions[3].id, &first_tokens[3], &second, 25))
        .await
        .unwrap();
    let replay = f
        .store
        .rotate_refresh_token(rotation(&sessions[3].id, &first_tokens[3], &third, 40))
        .await
        .unwrap();
    assert!(matches!(replay, Rotated::Reused(_)));
    // Ending everything in the same second finds nothing more, and must not take the
    // replay's entry out again.
    assert_eq!(
        f.store
            .end_user_sessions(f.user, None, ended(40))
            .await
            .unwrap(),
        0
    );
    assert!(
        !f.store
            .end_session(&sessions[3].id, ended(40))
            .await
            .unwrap()
    );
    // An access token revoked on its own, listed until it would expire.
    f.store
        .revoke_access_token("jti-1", t(300), t(30))
        .await
        .unwrap();

    let s = |i: usize| sessions[i].id.as_str();
    let all = feed(0, 50).await;
    assert_eq!(
        ids(&all),
        (
            vec![(s(0), 10), (s(1), 20), (s(2), 20), (s(3), 40)],
            vec![("jti-1", 30)]
        )
    );
    // `since` is inclusive; the other user's session never appears.
    assert_eq!(
        ids(&feed(20, 50).await),
        (
            vec![(s(1), 20), (s(2), 20), (s(3), 40)],
            vec![("jti-1", 30)]
        )
    );
    assert_eq!(ids(&feed(41, 50).await), (vec![], vec![]));
    // Each entry is listed until its own time; then it is gone, also after a purge.
    assert_eq!(
        ids(&feed(0, 910).await),
        (vec![(s(1), 20), (s(2), 20), (s(3), 40)], vec![])
    );
    f.store.purge_expired(t(2000)).await.unwrap();
    assert_eq!(feed(0, 2000).await, RevocationFeed::default());
}

async fn revoked_access_tokens_are_remembered(f: Fixture) {
    let now = Utc::now();
    let jti = uuid::Uuid::new_v4().to_string();
    assert!(!f.store.is_access_token_revoked(&jti, now).await.unwrap());

    f.store
        .revoke_access_token(&jti, now + chrono::Duration::minutes(15), now)
        .await
        .unwrap();
    f.store
        .revoke_access_token(&jti, now + chrono::Duration::minutes(15), now)
        .await
        .unwrap();

    assert!(f.store.is_access_token_revoked(&jti, now).await.unwrap());
    assert!(
        !f.store
            .is_access_token_revoked("another", now)
            .await
            .unwrap()
    );
}
