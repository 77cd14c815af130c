//! Sessions and refresh tokens over HTTP: rotation, replay, revocation, introspection,
//! self-service and administration.

use std::collections::HashSet;
use std::time::Duration;

use gatehouse::domain::Secret;
use gatehouse::oauth::NewClient;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::on_every_backend;

on_every_backend!(
    a_refresh_rotates_the_token_and_keeps_the_session,
    reuse_after_the_grace_window_ends_the_session,
    concurrent_refreshes_leave_exactly_one_lineage,
    a_refresh_token_works_only_for_its_client_and_scope,
    revocation_follows_rfc_7009,
    introspection_follows_rfc_7662,
    only_clients_allowed_to_introspect_see_other_clients_tokens,
    people_see_and_end_only_their_own_sessions,
    a_password_change_ends_every_other_session,
    administrators_manage_users_and_sessions,
    a_session_survives_a_restart,
);

const PASSWORD: &str = "analytical engine";

async fn sign_in(app: &TestApp, email: &str) -> Value {
    let response = app.password_grant(email, PASSWORD).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    app.token(&form).await
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_string()
}

pub(crate) fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap(),
    )
    .unwrap()
}

/// Registers a confidential client with the permissions `allow` and returns its secret.
pub(crate) async fn confidential_client(app: &TestApp, id: &str, allow: &[&str]) -> String {
    let secret = app
        .core()
        .await
        .clients
        .create(
            NewClient {
                id: id.into(),
                public: false,
                secret: None,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: vec!["refresh_token".into(), "password".into()],
                scopes: vec![],
                permissions: allow.iter().map(|p| p.to_string()).collect(),
                first_party: false,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("a generated secret");
    secret.expose().clone()
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
    let app = spawn_app_with(backend, &[("GATEHOUSE_REFRESH_REUSE_GRACE", "1s")]).await;
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

    tokio::time::sleep(Duration::from_millis(2100)).await;
    let replay = refresh(&app, &s(&first, "refresh_token"), &[]).await;

    assert_eq!(replay.status(), 400);
    let body: Value = replay.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
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
    assert_eq!(other.status(), 400);
    assert_eq!(
        other.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let wider = refresh(&app, &token, &[("scope", "openid email profile")]).await;
    assert_eq!(wider.status(), 400);
    assert_eq!(
        wider.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );

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

async fn introspect(app: &TestApp, secret: &str, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("resource-server", Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revocation_follows_rfc_7009(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "resource-server", &["introspection"]).await;
    let revoke = |form: Vec<(&'static str, String)>| {
        app.client
            .post(app.url("/oauth2/revoke"))
            .form(&form)
            .send()
    };

    // An access token: refused by introspection and /me until it expires; the session lives.
    let tokens = sign_in(&app, "ada@example.com").await;
    let response = revoke(vec![("token", s(&tokens, "access_token"))])
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        introspect(&app, &secret, &s(&tokens, "access_token")).await,
        json!({"active": false})
    );
    assert_eq!(app.me(&s(&tokens, "access_token")).await.status(), 401);
    let renewed: Value = refresh(&app, &s(&tokens, "refresh_token"), &[])
        .await
        .json()
        .await
        .unwrap();

    // A refresh token: the whole session ends.
    let response = revoke(vec![
        ("token", s(&renewed, "refresh_token")),
        ("token_type_hint", "refresh_token".into()),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        refresh(&app, &s(&renewed, "refresh_token"), &[])
            .await
            .status(),
        400
    );
    assert_eq!(app.me(&s(&renewed, "access_token")).await.status(), 401);

    // Unknown and malformed tokens get the same 200.
    for token in ["unknown", "a.b.c", ""] {
        assert_eq!(
            revoke(vec![("token", token.into())])
                .await
                .unwrap()
                .status(),
            200,
            "{token}"
        );
    }
    // Another client's token is not revoked.
    let tokens = sign_in(&app, "ada@example.com").await;
    let response = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth("resource-server", Some(&secret))
        .form(&[("token", s(&tokens, "refresh_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        refresh(&app, &s(&tokens, "refresh_token"), &[])
            .await
            .status(),
        200
    );
    // Bad client credentials are still refused.
    let response = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(
            "resource-server",
            Some("wrong secret, wrong secret, wrong!"),
        )
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// RFC 7662 §4: a client introspects its own tokens; other clients' tokens only with the
/// `introspection` permission — to others they are exactly `{"active": false}`.
async fn only_clients_allowed_to_introspect_see_other_clients_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let reports = confidential_client(&app, "reports", &[]).await;
    let allowed = confidential_client(&app, "resource-server", &["introspection"]).await;
    let first_party = sign_in(&app, "ada@example.com").await;
    let own: Value = app
        .token(&[
            ("grant_type", "password"),
            ("username", "ada@example.com"),
            ("password", PASSWORD),
            ("client_id", "reports"),
            ("client_secret", &reports),
        ])
        .await
        .json()
        .await
        .unwrap();
    let ask = |client: &'static str, secret: String, token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/oauth2/introspect"))
                .basic_auth(client, Some(secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };

    for kind in ["access_token", "refresh_token"] {
        let others = s(&first_party, kind);
        assert_eq!(
            ask("reports", reports.clone(), others.clone()).await,
            json!({"active": false}),
            "another client's {kind}, without the permission"
        );
        let seen = ask("resource-server", allowed.clone(), others).await;
        assert_eq!(seen["active"], true, "{kind} with the permission");
        assert_eq!(seen["client_id"], "gatehouse");
        let mine = ask("reports", reports.clone(), s(&own, kind)).await;
        assert_eq!(mine["active"], true, "its own {kind}");
        assert_eq!(mine["client_id"], "reports");
    }
}

async fn introspection_follows_rfc_7662(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "resource-server", &["introspection"]).await;
    let tokens = sign_in(&app, "ada@example.com").await;

    let active = introspect(&app, &secret, &s(&tokens, "access_token")).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], user["id"]);
    assert_eq!(active["client_id"], "gatehouse");
    assert_eq!(active["scope"], "openid profile email");
    assert_eq!(active["iss"], app.issuer.as_str());
    assert!(active["exp"].is_i64() && active["sid"].is_string());
    let refresh_info = introspect(&app, &secret, &s(&tokens, "refresh_token")).await;
    assert_eq!(refresh_info["active"], true);
    assert_eq!(refresh_info["token_type"], "refresh_token");
    assert_eq!(refresh_info["sid"], active["sid"]);

    for garbage in ["", "garbage", "a.b.c"] {
        assert_eq!(
            introspect(&app, &secret, garbage).await,
            json!({"active": false}),
            "{garbage}"
        );
    }
    // The client secret may also come in the form.
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[
            ("token", "x"),
            ("client_id", "resource-server"),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Public clients, unknown clients and wrong secrets may not introspect.
    let public = app
        .client
        .post(app.url("/oauth2/introspect"))
        .form(&[("token", s(&tokens, "access_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), 401);
    assert_eq!(
        public.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
    let wrong = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("resource-server", Some("not the secret at all, not at all"))
        .form(&[("token", s(&tokens, "access_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    // A disabled account's tokens are inactive at once.
    app.sql(
        "UPDATE users SET disabled = TRUE WHERE email = $1",
        &["ada@example.com"],
    )
    .await;
    assert_eq!(
        introspect(&app, &secret, &s(&tokens, "access_token")).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect(&app, &secret, &s(&tokens, "refresh_token")).await,
        json!({"active": false})
    );
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

async fn administrators_manage_users_and_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let ada = app.register_user("ada@example.com", PASSWORD).await;
    app.register_user("bob@example.com", PASSWORD).await;
    let admin = s(&sign_in(&app, "root@example.com").await, "access_token");
    let ada_tokens = sign_in(&app, "ada@example.com").await;
    sign_in(&app, "ada@example.com").await;
    let ada_id = s(&ada, "id");
    let call = |method: reqwest::Method, path: String, token: String| {
        app.client
            .request(method, app.url(&path))
            .bearer_auth(token)
    };
    use reqwest::Method;

    // Non-admins are refused everywhere.
    for (method, path) in [
        (Method::GET, "/api/v1/admin/users".to_string()),
        (Method::GET, format!("/api/v1/admin/users/{ada_id}")),
        (Method::PATCH, format!("/api/v1/admin/users/{ada_id}")),
        (
            Method::GET,
            format!("/api/v1/admin/users/{ada_id}/sessions"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/users/{ada_id}/sessions"),
        ),
        (
            Method::DELETE,
            "/api/v1/admin/sessions/AAAAAAAAAAAAAAAAAAAAAA".to_string(),
        ),
    ] {
        let response = call(method.clone(), path.clone(), s(&ada_tokens, "access_token"))
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{method} {path}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(challenge.contains("insufficient_scope"), "{challenge}");
        let unauthenticated = app
            .client
            .request(method.clone(), app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(unauthenticated.status(), 401, "{method} {path}");
    }

    // Listing, searching, paging.
    let page: Value = call(
        Method::GET,
        "/api/v1/admin/users?limit=2".into(),
        admin.clone(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let cursor = s(&page, "next_cursor");
    let rest: Value = call(
        Method::GET,
        format!("/api/v1/admin/users?limit=2&cursor={cursor}"),
        admin.clone(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest.get("next_cursor").is_none());
    let found: Value = call(
        Method::GET,
        "/api/v1/admin/users?q=ADA".into(),
        admin.clone(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["email"], "ada@example.com");
    let none: Value = call(
        Method::GET,
        "/api/v1/admin/users?q=%25".into(),
        admin.clone(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        none["items"].as_array().unwrap().len(),
        0,
        "% is matched literally"
    );
    assert_eq!(
        call(
            Method::GET,
            "/api/v1/admin/users?limit=0".into(),
            admin.clone()
        )
        .send()
        .await
        .unwrap()
        .status(),
        400
    );
    let one: Value = call(
        Method::GET,
        format!("/api/v1/admin/users/{ada_id}"),
        admin.clone(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(one, ada);
    let missing = uuid::Uuid::new_v4();
    assert_eq!(
        call(
            Method::GET,
            format!("/api/v1/admin/users/{missing}"),
            admin.clone()
        )
        .send()
        .await
        .unwrap()
        .status(),
        404
    );
    assert_eq!(
        call(
            Method::GET,
            "/api/v1/admin/users/nonsense".into(),
            admin.clone()
        )
        .send()
        .await
        .unwrap()
        .status(),
        404
    );

    // Roles.
    let response = call(
        Method::PATCH,
        format!("/api/v1/admin/users/{ada_id}"),
        admin.clone(),
    )
    .json(&json!({"roles": ["coach", "coach"]}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["roles"],
        json!(["coach"])
    );
    let bad = call(
        Method::PATCH,
        format!("/api/v1/admin/users/{ada_id}"),
        admin.clone(),
    )
    .json(&json!({"roles": ["Not A Role"], "disabled": "yes"}))
    .send()
    .await
    .unwrap();
    assert_eq!(bad.status(), 422);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["errors"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Sessions of a user; ending one, then all.
    let listed: Value = call(
        Method::GET,
        format!("/api/v1/admin/users/{ada_id}/sessions"),
        admin.clone(),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let sids: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| s(i, "id"))
        .collect();
    assert_eq!(sids.len(), 2);
    let end_one = call(
        Method::DELETE,
        format!("/api/v1/admin/sessions/{}", sids[0]),
        admin.clone(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(end_one.status(), 204);
    let again = call(
        Method::DELETE,
        format!("/api/v1/admin/sessions/{}", sids[0]),
        admin.clone(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(again.status(), 404);
    let end_all = call(
        Method::DELETE,
        format!("/api/v1/admin/users/{ada_id}/sessions"),
        admin.clone(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(end_all.status(), 204);
    assert_eq!(
        refresh(&app, &s(&ada_tokens, "refresh_token"), &[])
            .await
            .status(),
        400
    );

    // Disabling ends every session at once and stops sign-in; enabling allows it again.
    let ada_tokens = sign_in(&app, "ada@example.com").await;
    let response = call(
        Method::PATCH,
        format!("/api/v1/admin/users/{ada_id}"),
        admin.clone(),
    )
    .json(&json!({"disabled": true}))
    .send()
    .await
    .unwrap();
    assert_eq!(response.json::<Value>().await.unwrap()["disabled"], true);
    assert_eq!(
        refresh(&app, &s(&ada_tokens, "refresh_token"), &[])
            .await
            .status(),
        400
    );
    assert_eq!(app.me(&s(&ada_tokens, "access_token")).await.status(), 401);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        400
    );
    call(
        Method::PATCH,
        format!("/api/v1/admin/users/{ada_id}"),
        admin.clone(),
    )
    .json(&json!({"disabled": false}))
    .send()
    .await
    .unwrap();
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );

    // An admin whose role is taken away loses access at once, whatever the token says.
    let root_id = s(&app.me(&admin).await.json::<Value>().await.unwrap(), "id");
    call(
        Method::PATCH,
        format!("/api/v1/admin/users/{root_id}"),
        admin.clone(),
    )
    .json(&json!({"roles": []}))
    .send()
    .await
    .unwrap();
    assert_eq!(
        call(Method::GET, "/api/v1/admin/users".into(), admin.clone())
            .send()
            .await
            .unwrap()
            .status(),
        403
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

/// A `redis-server` of the test's own, on a free port, keeping its data in an
/// append-only file so a restart brings the sessions back.
pub(crate) struct OwnRedis {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub(crate) fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        redis.spawn();
        redis
    }

    pub(crate) fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start");
    }

    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_gives_503_and_service_resumes_when_it_returns() {
    if crate::helpers::redis_url().is_none() {
        eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set");
        return;
    }
    let mut redis = OwnRedis::start();
    let url = redis.url();
    let app = spawn_app_with(Backend::Sqlite, &[("GATEHOUSE_REDIS_URL", &url)]).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(
        &app,
        "resource-server",
        &["introspection", "revocation-feed"],
    )
    .await;
    let tokens = sign_in(&app, "ada@example.com").await;
    let tokens: Value = refresh(&app, &s(&tokens, "refresh_token"), &[])
        .await
        .json()
        .await
        .unwrap();

    redis.stop();

    let response = refresh(&app, &s(&tokens, "refresh_token"), &[]).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    let revoke = app
        .client
        .post(app.url("/oauth2/revoke"))
        .form(&[("token", s(&tokens, "refresh_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 503);
    assert_eq!(
        revoke.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    let introspection = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth("resource-server", Some(&secret))
        .form(&[("token", s(&tokens, "access_token"))])
        .send()
        .await
        .unwrap();
    assert_eq!(
        introspection.status(),
        503,
        "never `active: false` for a token that may be fine"
    );
    let feed = || {
        app.client
            .get(app.url("/api/v1/revocations"))
            .basic_auth("resource-server", Some(&secret))
            .send()
    };
    let response = feed().await.unwrap();
    assert_eq!(
        response.status(),
        503,
        "never an empty feed that may be wrong"
    );
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        503
    );
    assert_eq!(app.me(&s(&tokens, "access_token")).await.status(), 503);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["redis"], "unavailable");

    redis.spawn();

    let mut renewed = None;
    for _ in 0..50 {
        let response = refresh(&app, &s(&tokens, "refresh_token"), &[]).await;
        if response.status() == 200 {
            renewed = Some(response.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(response.status(), 503, "only 503 while Redis comes back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let renewed = renewed.expect("service resumed when Redis returned");
    assert_eq!(app.me(&s(&renewed, "access_token")).await.status(), 200);
    assert_eq!(feed().await.unwrap().status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}
