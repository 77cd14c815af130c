//! Refresh-token rotation: the grace window for retries, and replays that end the session.

use gatehouse::domain::Session;
use gatehouse::store::Rotated;
use gatehouse::token::RefreshToken;

use super::{Fixture, IDLE, fixture, rotation, session, t};

on_every_store!(
    rotation_replaces_the_current_token,
    a_retry_within_the_grace_window_gets_the_same_successor,
    reuse_after_the_grace_window_ends_the_session,
    a_token_of_another_client_or_a_wider_scope_changes_nothing,
    replaying_an_older_token_ends_the_session,
    the_history_keeps_the_32_tokens_before_the_previous_one,
);

async fn rotation_replaces_the_current_token(f: Fixture) {
    let (s, first) = f.started().await;
    let second = RefreshToken::generate(s.id.clone());

    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &first, &second, 100))
        .await
        .unwrap();

    let Rotated::Rotated(rotated) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(rotated.last_used_at, t(100));
    assert_eq!(rotated.idle_expires_at, t(100 + IDLE.as_secs() as i64));
    let found = f
        .store
        .find_session_by_refresh(&s.id, second.hash(), t(101))
        .await
        .unwrap();
    assert_eq!(found.map(|s| s.id), Some(s.id.clone()));
    assert_eq!(
        f.store
            .find_session_by_refresh(&s.id, first.hash(), t(101))
            .await
            .unwrap(),
        None
    );
    let third = RefreshToken::generate(s.id.clone());
    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &second, &third, 200))
        .await
        .unwrap();
    assert!(matches!(outcome, Rotated::Rotated(_)), "{outcome:?}");
}

async fn a_retry_within_the_grace_window_gets_the_same_successor(f: Fixture) {
    let (s, first) = f.started().await;
    let second = RefreshToken::generate(s.id.clone());
    f.store
        .rotate_refresh_token(rotation(&s.id, &first, &second, 100))
        .await
        .unwrap();

    // The retry comes with a successor of its own, which must not be used.
    let unused = RefreshToken::generate(s.id.clone());
    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &first, &unused, 105))
        .await
        .unwrap();

    let Rotated::Retried(_, sealed) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(first.open(&sealed).hash(), second.hash());
    let current = f
        .store
        .find_session_by_refresh(&s.id, second.hash(), t(106))
        .await
        .unwrap();
    assert!(current.is_some(), "the first successor stays current");
}

async fn reuse_after_the_grace_window_ends_the_session(f: Fixture) {
    let (s, first) = f.started().await;
    let second = RefreshToken::generate(s.id.clone());
    f.store
        .rotate_refresh_token(rotation(&s.id, &first, &second, 100))
        .await
        .unwrap();

    let replay = RefreshToken::generate(s.id.clone());
    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &first, &replay, 111))
        .await
        .unwrap();

    assert!(matches!(outcome, Rotated::Reused(_)), "{outcome:?}");
    assert_eq!(f.store.find_session(&s.id, t(112)).await.unwrap(), None);
    let next = RefreshToken::generate(s.id.clone());
    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &second, &next, 112))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Rotated::Refused,
        "the newest token died with the session"
    );
}

async fn a_token_of_another_client_or_a_wider_scope_changes_nothing(f: Fixture) {
    let (s, first) = f.started().await;
    let next = RefreshToken::generate(s.id.clone());

    let mut other_client = rotation(&s.id, &first, &next, 10);
    other_client.client_id = "other-app";
    assert_eq!(
        f.store.rotate_refresh_token(other_client).await.unwrap(),
        Rotated::Refused
    );
    let mut widening = rotation(&s.id, &first, &next, 10);
    widening.widens_scope = true;
    assert_eq!(
        f.store.rotate_refresh_token(widening).await.unwrap(),
        Rotated::ScopeWidened
    );
    let stranger = RefreshToken::generate(s.id.clone());
    assert_eq!(
        f.store
            .rotate_refresh_token(rotation(&s.id, &stranger, &next, 10))
            .await
            .unwrap(),
        Rotated::Refused,
        "a guessed token does not end the session"
    );

    let narrowing = rotation(&s.id, &first, &next, 10);
    let outcome = f.store.rotate_refresh_token(narrowing).await.unwrap();
    let Rotated::Rotated(rotated) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(
        rotated.scope.to_string(),
        "openid profile email",
        "the session keeps its scope"
    );
}
/// A new session rotated `times` times, 20 s apart from t(100); all its tokens, oldest first.
async fn rotated_session(f: &Fixture, times: usize) -> (Session, Vec<RefreshToken>) {
    let s = session(f.user, 0);
    let mut tokens = vec![RefreshToken::generate(s.id.clone())];
    f.store.create_session(&s, tokens[0].hash()).await.unwrap();
    for i in 0..times {
        let next = RefreshToken::generate(s.id.clone());
        let outcome = f
            .store
            .rotate_refresh_token(rotation(&s.id, &tokens[i], &next, 100 + i as i64 * 20))
            .await
            .unwrap();
        assert!(matches!(outcome, Rotated::Rotated(_)), "{outcome:?}");
        tokens.push(next);
    }
    (s, tokens)
}

/// After 40 rotations the current token is the 40th successor; the previous one and the
/// 32 before it are recognised as replays, anything older only refused.
async fn the_history_keeps_the_32_tokens_before_the_previous_one(f: Fixture) {
    let (s, tokens) = rotated_session(&f, 40).await;
    let now = 100 + 40 * 20;
    let replay = RefreshToken::generate(s.id.clone());

    let forgotten = f
        .store
        .rotate_refresh_token(rotation(&s.id, &tokens[6], &replay, now))
        .await
        .unwrap();
    assert_eq!(forgotten, Rotated::Refused);
    assert!(f.store.find_session(&s.id, t(now)).await.unwrap().is_some());

    let remembered = f
        .store
        .rotate_refresh_token(rotation(&s.id, &tokens[7], &replay, now))
        .await
        .unwrap();
    assert!(matches!(remembered, Rotated::Reused(_)), "{remembered:?}");
    assert_eq!(f.store.find_session(&s.id, t(now)).await.unwrap(), None);
}

/// A token stolen and used twice by an attacker leaves the real client holding an
/// ancestor two rotations back; presenting it must still end the session.
async fn replaying_an_older_token_ends_the_session(f: Fixture) {
    let (s, tokens) = rotated_session(&f, 3).await;

    let replay = RefreshToken::generate(s.id.clone());
    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &tokens[0], &replay, 200))
        .await
        .unwrap();

    assert!(matches!(outcome, Rotated::Reused(_)), "{outcome:?}");
    assert_eq!(f.store.find_session(&s.id, t(201)).await.unwrap(), None);
    let stranger = RefreshToken::generate(s.id.clone());
    assert_eq!(
        f.store
            .rotate_refresh_token(rotation(&s.id, &stranger, &replay, 202))
            .await
            .unwrap(),
        Rotated::Refused
    );
}

/// SQLite keeps checkpointing its write-ahead log while refresh tokens rotate: a long
/// chain leaves it near SQLite's automatic checkpoint size (1,000 pages), where a
/// rotation that skipped the checkpoint left it growing by every rotation's pages.
#[tokio::test]
async fn sqlite_rotations_keep_the_write_ahead_log_bounded() {
    let f = fixture("sqlite").await.unwrap();
    let (s, mut current) = f.started().await;
    for second in 1..=3_000 {
        let next = RefreshToken::generate(s.id.clone());
        let outcome = f
            .store
            .rotate_refresh_token(rotation(&s.id, &current, &next, second))
            .await
            .unwrap();
        assert!(matches!(outcome, Rotated::Rotated(_)), "{outcome:?}");
        current = next;
    }
    let wal = f.db.dir.path().join("gatehouse.db-wal");
    let bytes = std::fs::metadata(&wal).unwrap().len();
    // A frame is a 4 KiB page and its 24-byte header; 3,000 rotations write ~10,000.
    assert!(
        bytes < 2_000 * (4_096 + 24),
        "the WAL holds {} frames",
        bytes / (4_096 + 24)
    );
}
