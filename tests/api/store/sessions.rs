//! Sessions stored, found, listed, expired and ended; and what one costs in Redis.

use gatehouse::domain::{Session, SessionId};
use gatehouse::store::Rotated;
use gatehouse::token::RefreshToken;

use super::{Fixture, IDLE, ended, fixture, rotation, session, t};
use crate::helpers::redis_url;

on_every_store!(
    a_session_is_stored_found_and_listed,
    an_idle_session_expires,
    sessions_end_one_by_one_or_all_at_once,
);

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

async fn an_idle_session_expires(f: Fixture) {
    let (s, first) = f.started().await;
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
    let key = format!("{}:s:{{{}}}", f.db.redis_prefix(), s.id);
    let bytes: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();

    eprintln!("MEMORY USAGE of one session with its refresh token: {bytes} bytes");
    assert!(bytes < 400, "{bytes} bytes");
}
