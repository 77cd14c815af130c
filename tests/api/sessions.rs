//! Sessions and refresh tokens over HTTP: rotation, replay, the sessions a person sees
//! and ends, and what a password change or a restart does to them.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use gatehouse::clock::ManualClock;
use gatehouse::domain::Secret;
use gatehouse::oauth::NewClient;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, claims, confidential_client, spawn_app,
    spawn_app_with_clock,
};
use crate::on_every_backend;

on_every_backend!(
    a_refresh_rotates_the_token_and_keeps_the_session,
    reuse_after_the_grace_window_ends_the_session,
    concurrent_refreshes_leave_exactly_one_lineage,
    a_refresh_token_works_only_for_its_client_and_scope,
    people_see_and_end_only_their_own_sessions,
    a_password_change_ends_every_other_session,
    a_session_survives_a_restart,
);

pub(crate) const PASSWORD: &str = "analytical engine";

/// Signs `email` in with the password grant, asserting success; the token response.
pub(crate) async fn sign_in(app: &TestApp, email: &str) -> Value {
    let response = app.password_grant(email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The refresh grant with `token`, plus `extra` form fields.
pub(crate) async fn refresh(
    app: &TestApp,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    app.token(&form).await
}

/// The string field `key` of `v`, panicking with the whole value when it is missing.
pub(crate) fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

async fn a_refresh_rotates_the_token_and_keeps_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let first = sign_in(&app, "ada@example.com").await;

    let response = refresh(&app, &s(&first, "refresh_token"), &[]).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["scope"], first["scope"]);
    let (a, b) = (
        claims(&s(&first, "access_token")),
        claims(&s(&second, "access_token")),
    );
    assert_eq!(a["sid"], b["sid"]);
    assert_eq!(a["auth_time"], b["auth_time"]);
    assert_ne!(a["jti"], b["jti"]);
    // The new refresh token works, and so does the new access token.
    assert_eq!(
        refresh(&app, &s(&second, "refresh_token"), &[])
            .await
            .status(),
        200
    );
    assert_eq!(app.me(&s(&second, "access_token")).await.status(), 200);
    // Garbage is invalid_grant, not a server error.
    for garbage in [
        "",
        "nonsense",
        "a.b",
        &format!("{}x", s(&second, "refresh_token")),
    ] {
        let response = refresh(&app, garbage, &[]).await;
        assert_eq!(response.status(), 400, "{garbage}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"] == "invalid_grant" || body["error"] == "invalid_request",
            "{body}"
        );
    }
}

async fn reuse_after_the_grace_window_ends_the_session(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        backend,
        &[("GATEHOUSE_REFRESH_REUSE_GRACE", "1s")],
        clock.clone(),
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let first = sign_in(&app, "ada@example.com").await;
    let second: Value = refresh(&app, &s(&first, "refresh_token"), &[])
        .await
        .json()
        .await
        .unwrap();

    // A retry inside the window gets the same successor.
    let retry: Value = refresh(&app, &s(&first, "refresh_token"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(retry["refresh_token"], second["refresh_token"]);

    clock.advance(Duration::from_secs(2));
    let replay = refresh(&app, &s(&first, "refresh_token"), &[]).await;

    assert_oauth_error(replay, 400, "invalid_grant").await;
    // The whole session is over: the newest refresh token and the access tokens too.
    assert_eq!(
        refresh(&app, &s(&second, "refresh_token"), &[])
            .await
            .status(),
        400
    );
    assert_eq!(app.me(&s(&second, "access_token")).await.status(), 401);
}

async fn concurrent_refreshes_leave_exactly_one_lineage(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let first = sign_in(&app, "ada@example.com").await;
    let token = s(&first, "refresh_token");

    let attempts = (0..20).map(|_| refresh(&app, &token, &[]));
    let responses = futures_util::future::join_all(attempts).await;

    let mut successors = HashSet::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        successors.insert(s(&body, "refresh_token"));
    }
    assert_eq!(
        successors.len(),
        1,
        "one token yielded {} successors",
        successors.len()
    );
    let successor = successors.into_iter().next().unwrap();
    assert_eq!(refresh(&app, &successor, &[]).await.status(), 200);
}

async fn a_refresh_token_works_only_for_its_client_and_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "reports", &[]).await;
    let response = app
        .token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("scope", "openid email"),
        ])
        .await;
    let first: Value = response.json().await.unwrap();
    let token = s(&first, "refresh_token");

    let other = refresh(
        &app,
        &token,
        &[("client_id", "reports"), ("client_secret", &secret)],
    )
    .await;
    assert_oauth_error(other, 400, "invalid_grant").await;

    let wider = refresh(&app, &token, &[("scope", "openid email profile")]).await;
    assert_oauth_error(wider, 400, "invalid_scope").await;

    // Neither attempt used the token up; a narrower scope is fine.
    let narrower = refresh(&app, &token, &[("scope", "email")]).await;
    assert_eq!(narrower.status(), 200);
    let body: Value = narrower.json().await.unwrap();
    assert_eq!(body["scope"], "email");
    assert_eq!(claims(&s(&body, "access_token"))["scope"], "email");
    // The session keeps its scope for the next refresh.
    let next: Value = refresh(&app, &s(&body, "refresh_token"), &[])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["scope"], "openid email");
}

async fn sessions_of(app: &TestApp, access_token: &str) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/auth/sessions"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn people_see_and_end_only_their_own_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    app.register_user("bob@example.com", PASSWORD).await;
    let phone = sign_in(&app, "ada@example.com").await;
    let laptop = sign_in(&app, "ada@example.com").await;
    let bob = sign_in(&app, "bob@example.com").await;

    let listed = sessions_of(&app, &s(&laptop, "access_token")).await;
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<&Value> = items.iter().filter(|i| i["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], claims(&s(&laptop, "access_token"))["sid"]);
    for item in items {
        for field in [
            "id",
            "client_id",
            "created_at",
            "last_used_at",
            "expires_at",
        ] {
            assert!(item[field].is_string(), "{field}: {item}");
        }
        assert_eq!(item["ip"], "127.0.0.1", "{item}");
        assert!(item.get("user_agent").is_some(), "{item}");
    }
    assert!(listed.get("next_cursor").is_none());

    let end = |token: String, sid: String| {
        app.client
            .delete(app.url(&format!("/api/v1/auth/sessions/{sid}")))
            .bearer_auth(token)
            .send()
    };
    let bobs_sid = s(&claims(&s(&bob, "access_token")), "sid");
    let response = end(s(&laptop, "access_token"), bobs_sid).await.unwrap();
    assert_eq!(
        response.status(),
        404,
        "someone else's session is not found"
    );
    assert_eq!(
        refresh(&app, &s(&bob, "refresh_token"), &[]).await.status(),
        200
    );
    assert_eq!(
        end(s(&laptop, "access_token"), "nonsense".into())
            .await
            .unwrap()
            .status(),
        404
    );

    let phone_sid = s(&claims(&s(&phone, "access_token")), "sid");
    assert_eq!(
        end(s(&laptop, "access_token"), phone_sid)
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        refresh(&app, &s(&phone, "refresh_token"), &[])
            .await
            .status(),
        400
    );
    assert_eq!(app.me(&s(&phone, "access_token")).await.status(), 401);
    assert_eq!(
        sessions_of(&app, &s(&laptop, "access_token")).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn a_password_change_ends_every_other_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let other = sign_in(&app, "ada@example.com").await;
    let current = sign_in(&app, "ada@example.com").await;
    let change = |body: Value| {
        app.client
            .post(app.url("/api/v1/auth/password"))
            .bearer_auth(s(&current, "access_token"))
            .json(&body)
            .send()
    };

    let wrong =
        change(json!({"current_password": "not it at all", "new_password": "difference engine"}))
            .await
            .unwrap();
    assert_eq!(wrong.status(), 422);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(wrong["errors"][0]["field"], "current_password", "{wrong}");
    let weak = change(json!({"current_password": PASSWORD, "new_password": "short"}))
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    let weak: Value = weak.json().await.unwrap();
    assert_eq!(weak["errors"][0]["field"], "new_password", "{weak}");
    assert_eq!(
        refresh(&app, &s(&other, "refresh_token"), &[])
            .await
            .status(),
        200,
        "nothing changed yet"
    );
    let other = sign_in(&app, "ada@example.com").await;

    let response =
        change(json!({"current_password": PASSWORD, "new_password": "difference engine"}))
            .await
            .unwrap();

    assert_eq!(response.status(), 204);
    assert_eq!(
        refresh(&app, &s(&other, "refresh_token"), &[])
            .await
            .status(),
        400
    );
    assert_eq!(
        refresh(&app, &s(&current, "refresh_token"), &[])
            .await
            .status(),
        200
    );
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        400
    );
    assert_eq!(
        app.password_grant("ada@example.com", "difference engine")
            .await
            .status(),
        200
    );
}

async fn a_session_survives_a_restart(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let tokens = sign_in(&app, "ada@example.com").await;

    app.restart().await;

    assert_eq!(app.me(&s(&tokens, "access_token")).await.status(), 200);
    assert_eq!(
        refresh(&app, &s(&tokens, "refresh_token"), &[])
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_grant_without_refresh_for_clients_that_cannot_refresh() {
    let app = spawn_app(Backend::Sqlite).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = app
        .core()
        .await
        .clients
        .create(
            NewClient {
                id: "kiosk".into(),
                public: false,
                secret: Some(Secret::new("k".repeat(40))),
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: vec!["password".into()],
                scopes: vec![],
                permissions: vec![],
                first_party: true,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert!(secret.is_none(), "a given secret is not echoed");
    let kiosk_secret = "k".repeat(40);

    let response = app
        .token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("client_id", "kiosk"),
            ("client_secret", kiosk_secret.as_str()),
        ])
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert_eq!(claims(&s(&body, "access_token"))["client_id"], "kiosk");
}
