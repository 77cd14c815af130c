//! What an instance remembers between requests (sessions, tokens, accounts) is forgotten
//! at once where the change is made, and within `GATEHOUSE_CACHE_SYNC_INTERVAL` on every
//! other instance.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_every_backend;
use crate::sessions::{PASSWORD, s, sign_in};

on_every_backend!(
    an_ended_session_is_refused_at_once_here_and_soon_on_the_others,
    a_disabled_account_is_refused_soon_on_the_others,
    a_changed_name_is_seen_soon_on_the_others,
    without_caches_every_instance_sees_every_change_at_once,
);

/// The default interval (500 ms) plus one look, with room for a slow machine.
const BOUND: Duration = Duration::from_secs(3);

/// Waits until `/me` on `app` with `token` answers `status`; the time it took.
async fn me_answers(app: &TestApp, token: &str, status: u16) -> Duration {
    let start = Instant::now();
    loop {
        if app.me(token).await.status() == status {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < BOUND,
            "{} still does not answer {status} after {BOUND:?}",
            app.base
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Two instances on the same stores; Ada signed in on the first, her token used on both
/// (so both remember her session).
async fn two_instances(backend: Backend) -> (TestApp, TestApp, serde_json::Value) {
    let here = spawn_app(backend).await;
    let there = here.sibling().await;
    here.register_user("ada@example.com", PASSWORD).await;
    let tokens = sign_in(&here, "ada@example.com").await;
    let access = s(&tokens, "access_token");
    for app in [&here, &there] {
        for _ in 0..2 {
            assert_eq!(app.me(&access).await.status(), 200);
        }
    }
    (here, there, tokens)
}

/// Ending a session on one instance: refused there on the next request, and on the other
/// within the interval (it remembered the session as live).
async fn an_ended_session_is_refused_at_once_here_and_soon_on_the_others(backend: Backend) {
    let (here, there, tokens) = two_instances(backend).await;
    let access = s(&tokens, "access_token");
    here.revoke(&s(&tokens, "refresh_token")).await;
    assert_eq!(here.me(&access).await.status(), 401);
    me_answers(&there, &access, 401).await;

    // An access token revoked by itself, likewise.
    let tokens = sign_in(&there, "ada@example.com").await;
    let access = s(&tokens, "access_token");
    for app in [&here, &there] {
        assert_eq!(app.me(&access).await.status(), 200);
    }
    there.revoke(&access).await;
    assert_eq!(there.me(&access).await.status(), 401);
    me_answers(&here, &access, 401).await;
}

/// An administrator disables Ada on one instance: the other refuses her token soon after,
/// though it remembered her account as enabled.
async fn a_disabled_account_is_refused_soon_on_the_others(backend: Backend) {
    let (here, there, tokens) = two_instances(backend).await;
    let access = s(&tokens, "access_token");
    here.register_user("root@example.com", PASSWORD).await;
    here.make_admin("root@example.com").await;
    let admin = s(&sign_in(&here, "root@example.com").await, "access_token");
    let ada_id = s(&here.get_json("/api/v1/auth/me", &access).await, "id");
    let response = here
        .client
        .patch(here.url(&format!("/api/v1/admin/users/{ada_id}")))
        .bearer_auth(&admin)
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(here.me(&access).await.status(), 401);
    me_answers(&there, &access, 401).await;
}

/// Ada renames herself on one instance; the other answers `/me` with the new name soon.
async fn a_changed_name_is_seen_soon_on_the_others(backend: Backend) {
    let (here, there, tokens) = two_instances(backend).await;
    let access = s(&tokens, "access_token");
    let response = here
        .client
        .patch(here.url("/api/v1/auth/me"))
        .bearer_auth(&access)
        .json(&json!({"name": "Ada Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let me = "/api/v1/auth/me";
    assert_eq!(here.get_json(me, &access).await["name"], "Ada Lovelace");
    let start = Instant::now();
    while there.get_json(me, &access).await["name"] != "Ada Lovelace" {
        assert!(
            start.elapsed() < BOUND,
            "the other instance still has the old name"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With `GATEHOUSE_CACHE_SYNC_INTERVAL=0` an instance remembers nothing: a session ended
/// on another is refused on the very next request.
async fn without_caches_every_instance_sees_every_change_at_once(backend: Backend) {
    let here = spawn_app(backend).await;
    let there = here
        .sibling_with(|config| config.store.cache_sync_interval = None)
        .await;
    here.register_user("ada@example.com", PASSWORD).await;
    let tokens = sign_in(&here, "ada@example.com").await;
    let access = s(&tokens, "access_token");
    assert_eq!(there.me(&access).await.status(), 200);
    here.revoke(&s(&tokens, "refresh_token")).await;
    assert_eq!(there.me(&access).await.status(), 401);
}
