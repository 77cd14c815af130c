//! Token revocation (RFC 7009) and introspection (RFC 7662) over HTTP.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_oauth_error, confidential_client, spawn_app};
use crate::on_every_backend;
use crate::sessions::{PASSWORD, refresh, s, sign_in};

on_every_backend!(
    revocation_follows_rfc_7009,
    introspection_follows_rfc_7662,
    only_clients_allowed_to_introspect_see_other_clients_tokens,
);

async fn introspect(app: &TestApp, secret: &str, token: &str) -> Value {
    let response = app
        .post_form(
            "/oauth2/introspect",
            &[("token", token)],
            Some(("resource-server", secret)),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revocation_follows_rfc_7009(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = confidential_client(&app, "resource-server", &["introspection"]).await;
    let revoke = |form: Vec<(&'static str, String)>| {
        let app = &app;
        async move { app.post_form("/oauth2/revoke", &form, None).await }
    };

    // An access token: refused by introspection and /me until it expires; the session lives.
    let tokens = sign_in(&app, "ada@example.com").await;
    let response = revoke(vec![("token", s(&tokens, "access_token"))]).await;
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
    .await;
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
            revoke(vec![("token", token.into())]).await.status(),
            200,
            "{token}"
        );
    }
    // Another client's token is not revoked.
    let tokens = sign_in(&app, "ada@example.com").await;
    let response = app
        .post_form(
            "/oauth2/revoke",
            &[("token", s(&tokens, "refresh_token"))],
            Some(("resource-server", &secret)),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        refresh(&app, &s(&tokens, "refresh_token"), &[])
            .await
            .status(),
        200
    );
    // Bad client credentials are still refused.
    let response = app
        .post_form(
            "/oauth2/revoke",
            &[("token", "x")],
            Some(("resource-server", "wrong secret, wrong secret, wrong!")),
        )
        .await;
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
                .post_form(
                    "/oauth2/introspect",
                    &[("token", token)],
                    Some((client, &secret)),
                )
                .await;
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
        .post_form(
            "/oauth2/introspect",
            &[
                ("token", "x"),
                ("client_id", "resource-server"),
                ("client_secret", &secret),
            ],
            None,
        )
        .await;
    assert_eq!(response.status(), 200);
    // Public clients, unknown clients and wrong secrets may not introspect.
    let public = app
        .post_form(
            "/oauth2/introspect",
            &[("token", s(&tokens, "access_token"))],
            None,
        )
        .await;
    assert_oauth_error(public, 401, "invalid_client").await;
    let wrong = app
        .post_form(
            "/oauth2/introspect",
            &[("token", s(&tokens, "access_token"))],
            Some(("resource-server", "not the secret at all, not at all")),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );

    // An account disabled by hand in SQL (moving `updated_at`, as the README asks): its
    // tokens are inactive once the server has looked for changed accounts.
    let statement = format!(
        "UPDATE users SET disabled = TRUE, updated_at = {} WHERE email = $1",
        app.sql_now()
    );
    app.sql(&statement, &["ada@example.com"]).await;
    let start = std::time::Instant::now();
    while introspect(&app, &secret, &s(&tokens, "access_token")).await != json!({"active": false}) {
        assert!(start.elapsed().as_secs() < 3, "still active after 3 s");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        introspect(&app, &secret, &s(&tokens, "refresh_token")).await,
        json!({"active": false})
    );
}
