//! One set of session-store tests, run unchanged against SQLite, PostgreSQL and Redis.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use gatehouse::domain::{Email, NewUser, Profile, Secret, Session, SessionId, UserId, UserName};
use gatehouse::store::redis::RedisSessions;
use gatehouse::store::{
    Database, Revocation, RevocationFeed, Rotated, Rotation, SessionStore, UserStore,
};
use gatehouse::token::RefreshToken;

use crate::helpers::{TestDatabase, postgres_url, redis_url};

const IDLE: Duration = Duration::from_secs(3600);
const GRACE: Duration = Duration::from_secs(10);

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
}

/// A store with one user in it, and what keeps the store's backing alive.
struct Fixture {
    store: Arc<dyn SessionStore>,
    user: UserId,
    other_user: UserId,
    _db: TestDatabase,
}

async fn user(db: &Database, email: &str) -> UserId {
    let user = NewUser {
        id: UserId::generate(),
        email: Email::parse(email).unwrap(),
        name: UserName::parse("Store Test").unwrap(),
        password_hash: Secret::new("$argon2id$placeholder".into()),
        roles: vec![],
        email_verified: false,
        profile: Profile::default(),
        created_at: t(0),
    };
    db.create_user(&user).await.unwrap();
    user.id
}

async fn fixture(kind: &str) -> Option<Fixture> {
    // Sessions reference users in SQL, so every fixture has a database with two users.
    let db = match kind {
        "postgres" => TestDatabase::postgres(postgres_url()?).await,
        _ => TestDatabase::sqlite().await,
    };
    let database = Database::connect(&db.url, 2).await.unwrap();
    database.migrate().await.unwrap();
    let user_id = user(&database, "a@example.com").await;
    let other_user = user(&database, "b@example.com").await;
    let store: Arc<dyn SessionStore> = match kind {
        "redis" => {
            let url = redis_url()?;
            let prefix = db.redis_prefix();
            Arc::new(RedisSessions::connect(&url, &prefix, IDLE).unwrap())
        }
        _ => Arc::new(database),
    };
    Some(Fixture {
        store,
        user: user_id,
        other_user,
        _db: db,
    })
}

fn session(user: UserId, created: i64) -> Session {
    Session {
        id: SessionId::generate(),
        user_id: user,
        client_id: "app".into(),
        scope: "openid profile email".into(),
        created_at: t(created),
        last_used_at: t(created),
        absolute_expires_at: t(created + 86_400),
        idle_expires_at: t(created + IDLE.as_secs() as i64),
        auth_time: t(created),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("Mozilla/5.0 (conformance)".into()),
    }
}

fn rotation<'a>(
    session: &'a SessionId,
    presented: &RefreshToken,
    successor: &RefreshToken,
    now: i64,
) -> Rotation<'a> {
    Rotation {
        session,
        presented: presented.hash(),
        successor: successor.hash(),
        sealed: presented.seal(successor),
        client_id: "app",
        widens_scope: false,
        now: t(now),
        grace: GRACE,
        idle_ttl: IDLE,
        listed_until: t(now + 900),
    }
}

/// Ended at `at`, listed in the feed for 900 s.
fn ended(at: i64) -> Revocation {
    Revocation {
        at: t(at),
        listed_until: t(at + 900),
    }
}

macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name(super::fixture("sqlite").await.unwrap()).await;
                }
                #[tokio::test]
                async fn postgres() {
                    match super::fixture("postgres").await {
                        Some(f) => super::$name(f).await,
                        None => eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set"),
                    }
                }
                #[tokio::test]
                async fn redis() {
                    match super::fixture("redis").await {
                        Some(f) => super::$name(f).await,
                        None => eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set"),
                    }
                }
            }
        )*
    };
}

on_every_store!(
    a_session_is_stored_found_and_listed,
    rotation_replaces_the_current_token,
    a_retry_within_the_grace_window_gets_the_same_successor,
    reuse_after_the_grace_window_ends_the_session,
    a_token_of_another_client_or_a_wider_scope_changes_nothing,
    an_idle_session_expires,
    sessions_end_one_by_one_or_all_at_once,
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

async fn a_session_is_stored_found_and_listed(f: Fixture) {
    let first = session(f.user, 0);
    let second = session(f.user, 5);
    let theirs = session(f.other_user, 1);
    for s in [&first, &second, &theirs] {
        let token = RefreshToken::generate(s.id.clone());
        f.store.create_session(s, token.hash()).await.unwrap();
    }

    assert_eq!(
        f.store.find_session(&first.id, t(10)).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        f.store
            .find_session(&SessionId::generate(), t(10))
            .await
            .unwrap(),
        None
    );
    let listed = f.store.list_user_sessions(f.user, t(10)).await.unwrap();
    assert_eq!(
        listed,
        vec![second, first],
        "newest first, only this user's"
    );
}

async fn rotation_replaces_the_current_token(f: Fixture) {
    let s = session(f.user, 0);
    let first = RefreshToken::generate(s.id.clone());
    f.store.create_session(&s, first.hash()).await.unwrap();
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
    let s = session(f.user, 0);
    let first = RefreshToken::generate(s.id.clone());
    f.store.create_session(&s, first.hash()).await.unwrap();
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
    let s = session(f.user, 0);
    let first = RefreshToken::generate(s.id.clone());
    f.store.create_session(&s, first.hash()).await.unwrap();
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
    let s = session(f.user, 0);
    let first = RefreshToken::generate(s.id.clone());
    f.store.create_session(&s, first.hash()).await.unwrap();
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
        rotated.scope, "openid profile email",
        "the session keeps its scope"
    );
}

async fn an_idle_session_expires(f: Fixture) {
    let s = session(f.user, 0);
    let first = RefreshToken::generate(s.id.clone());
    f.store.create_session(&s, first.hash()).await.unwrap();
    let idle_end = IDLE.as_secs() as i64;

    assert!(
        f.store
            .find_session(&s.id, t(idle_end - 1))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        f.store.find_session(&s.id, t(idle_end)).await.unwrap(),
        None
    );
    let next = RefreshToken::generate(s.id.clone());
    let outcome = f
        .store
        .rotate_refresh_token(rotation(&s.id, &first, &next, idle_end + 1))
        .await
        .unwrap();
    assert_eq!(outcome, Rotated::Refused);
    assert!(
        f.store
            .list_user_sessions(f.user, t(idle_end + 1))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn sessions_end_one_by_one_or_all_at_once(f: Fixture) {
    let sessions: Vec<Session> = (0..4).map(|i| session(f.user, i)).collect();
    for s in &sessions {
        f.store
            .create_session(s, RefreshToken::generate(s.id.clone()).hash())
            .await
            .unwrap();
    }
    let theirs = session(f.other_user, 0);
    f.store
        .create_session(&theirs, RefreshToken::generate(theirs.id.clone()).hash())
        .await
        .unwrap();

    assert!(
        f.store
            .end_session(&sessions[0].id, ended(5))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .end_session(&sessions[0].id, ended(5))
            .await
            .unwrap()
    );
    let count = f
        .store
        .end_user_sessions(f.user, Some(&sessions[3].id), ended(5))
        .await
        .unwrap();

    assert_eq!(count, 2);
    let left = f.store.list_user_sessions(f.user, t(10)).await.unwrap();
    assert_eq!(
        left.iter().map(|s| &s.id).collect::<Vec<_>>(),
        vec![&sessions[3].id]
    );
    assert!(
        f.store
            .find_session(&theirs.id, t(10))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        f.store
            .end_user_sessions(f.user, None, ended(6))
            .await
            .unwrap(),
        1
    );
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

#[tokio::test]
async fn a_redis_session_with_its_refresh_token_stays_under_400_bytes() {
    let Some(f) = fixture("redis").await else {
        eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set");
        return;
    };
    let mut s = session(f.user, 0);
    // A real browser's user agent, and a rotated token (previous hash and sealed successor).
    s.user_agent = Some(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
            .into(),
    );
    let first = RefreshToken::generate(s.id.clone());
    f.store.create_session(&s, first.hash()).await.unwrap();
    let second = RefreshToken::generate(s.id.clone());
    f.store
        .rotate_refresh_token(rotation(&s.id, &first, &second, 100))
        .await
        .unwrap();

    let client = redis::Client::open(redis_url().unwrap()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:s:{{{}}}", f._db.redis_prefix(), s.id);
    let bytes: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();

    eprintln!("MEMORY USAGE of one session with its refresh token: {bytes} bytes");
    assert!(bytes < 400, "{bytes} bytes");
}

on_every_store!(
    replaying_an_older_token_ends_the_session,
    the_history_keeps_the_32_tokens_before_the_previous_one,
);

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
