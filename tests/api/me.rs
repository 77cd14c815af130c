//! `/api/v1/auth/me` and bearer-token verification.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::{JwsSigner, RS256};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_databases;

on_both_databases!(
    me_returns_the_signed_in_user,
    me_can_change_name_and_profile,
    me_refuses_every_kind_of_bad_token,
    me_without_credentials_gets_a_bare_challenge,
);

async fn me_returns_the_signed_in_user(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .register_user("ada@example.com", "analytical engine")
        .await;
    let token = app
        .access_token("ada@example.com", "analytical engine")
        .await;

    let response = app.me(&token).await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let me: Value = response.json().await.unwrap();
    assert_eq!(me, user);
}

async fn me_can_change_name_and_profile(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register(
        &json!({"email": "ada@example.com", "name": "Ada", "password": "analytical engine",
                         "profile": {"country": "GB", "city": "London"}}),
    )
    .await;
    let token = app
        .access_token("ada@example.com", "analytical engine")
        .await;
    let patch = |body: Value| {
        app.client
            .patch(app.url("/api/v1/auth/me"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    let response = patch(json!({"name": "Ada King", "profile": {"city": "Paris", "preferred_language": "fr",
                                                                  "business_context": {"stage": "growth"}}}))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["name"], "Ada King");
    assert_eq!(
        me["profile"]["country"], "GB",
        "a field not given is left alone"
    );
    assert_eq!(me["profile"]["city"], "Paris");
    assert_eq!(me["profile"]["preferred_language"], "fr");
    assert_eq!(
        me["profile"]["business_context"],
        json!({"stage": "growth"})
    );
    assert_ne!(me["updated_at"], me["created_at"]);

    let response = patch(json!({"profile": {"country": null}})).await.unwrap();
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["profile"]["country"], Value::Null);
    assert_eq!(me["profile"]["city"], "Paris");

    let response = patch(json!({"name": "", "profile": {"preferred_language": "12"}}))
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2);
    // Nothing of a refused change was applied.
    let me: Value = app.me(&token).await.json().await.unwrap();
    assert_eq!(me["name"], "Ada King");
}

/// Signs `claims` with the server's own key under `header`, as an attacker with a
/// stolen or guessed token layout would try.
fn sign(app: &TestApp, header: Value, claims: Value) -> String {
    let (_, pem) = app.signing_key_pem();
    let signer = RS256.signer_from_pem(&pem).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

fn hs256(key: &[u8], header: Value, claims: Value) -> String {
    let signer = josekit::jws::HS256.signer_from_bytes(key).unwrap();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn me_refuses_every_kind_of_bad_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .register_user("ada@example.com", "analytical engine")
        .await;
    let good = app
        .access_token("ada@example.com", "analytical engine")
        .await;
    let (kid, pem) = app.signing_key_pem();
    let now = chrono::Utc::now().timestamp();
    // A live session, so that only the property under test differs.
    let sid = {
        let payload = URL_SAFE_NO_PAD
            .decode(good.split('.').nth(1).unwrap())
            .unwrap();
        serde_json::from_slice::<Value>(&payload).unwrap()["sid"].clone()
    };
    let claims = json!({
        "iss": app.issuer, "sub": user["id"], "aud": app.issuer, "exp": now + 600, "iat": now,
        "nbf": now, "jti": "x", "client_id": "gatehouse", "scope": "openid", "roles": [], "sid": sid
    });
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
    let with = |key: &str, value: Value| {
        let mut c = claims.clone();
        c[key] = value;
        c
    };
    // The forged-claims path must otherwise succeed, or every case below proves nothing.
    assert_eq!(
        app.me(&sign(&app, header.clone(), claims.clone()))
            .await
            .status(),
        200
    );

    let mut without_exp = claims.clone();
    without_exp.as_object_mut().unwrap().remove("exp");
    let tampered = {
        let parts: Vec<&str> = good.split('.').collect();
        let mut payload: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["roles"] = json!(["admin"]);
        format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        )
    };
    let none_token = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // The classic key-confusion attack: HMAC keyed with our public key.
    let public_pem = {
        let pair = josekit::jwk::alg::rsa::RsaKeyPair::from_pem(&pem).unwrap();
        josekit::jwk::KeyPair::to_pem_public_key(&pair)
    };
    let confused = hs256(
        &public_pem,
        json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
        claims.clone(),
    );

    let cases: Vec<(&str, String)> = vec![
        (
            "expired",
            sign(&app, header.clone(), with("exp", json!(now - 10))),
        ),
        (
            "future nbf",
            sign(&app, header.clone(), with("nbf", json!(now + 3600))),
        ),
        (
            "wrong iss",
            sign(
                &app,
                header.clone(),
                with("iss", json!("https://evil.example")),
            ),
        ),
        (
            "wrong aud",
            sign(
                &app,
                header.clone(),
                with("aud", json!("https://other.example")),
            ),
        ),
        ("no exp", sign(&app, header.clone(), without_exp)),
        (
            "float exp",
            sign(
                &app,
                header.clone(),
                with("exp", json!((now + 600) as f64 + 0.5)),
            ),
        ),
        ("tampered", tampered),
        ("alg none", none_token),
        ("HS256 with the public key", confused),
        (
            "unknown kid",
            sign(
                &app,
                json!({"alg": "RS256", "typ": "at+jwt", "kid": "nope"}),
                claims.clone(),
            ),
        ),
        (
            "no kid",
            sign(
                &app,
                json!({"alg": "RS256", "typ": "at+jwt"}),
                claims.clone(),
            ),
        ),
        (
            "id token typ",
            sign(
                &app,
                json!({"alg": "RS256", "typ": "JWT", "kid": kid}),
                claims.clone(),
            ),
        ),
        (
            "unknown user",
            sign(
                &app,
                header.clone(),
                with("sub", json!(uuid::Uuid::new_v4().to_string())),
            ),
        ),
        (
            "not a user",
            sign(&app, header.clone(), with("sub", json!("some-client"))),
        ),
        ("no session", {
            let mut c = claims.clone();
            c.as_object_mut().unwrap().remove("sid");
            sign(&app, header.clone(), c)
        }),
        (
            "an ended session",
            sign(
                &app,
                header.clone(),
                with("sid", json!("AAAAAAAAAAAAAAAAAAAAAA")),
            ),
        ),
        ("garbage", "not.a.token".to_string()),
        ("two parts", "abc.def".to_string()),
        ("huge", "a".repeat(9000)),
    ];
    for (name, token) in cases {
        let response = app.me(&token).await;
        assert_eq!(response.status(), 401, "{name}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{name}: {challenge}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 401, "{name}");
    }
}

async fn me_without_credentials_gets_a_bare_challenge(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app.get("/api/v1/auth/me").await;

    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_answers_by_scope() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = app
        .register_user("ada@example.com", "analytical engine")
        .await;
    let token_for = |scope: &'static str| {
        let app = &app;
        async move {
            let response = app
                .token(&[
                    ("grant_type", "password"),
                    ("username", "ada@example.com"),
                    ("password", "analytical engine"),
                    ("scope", scope),
                ])
                .await;
            let body: Value = response.json().await.unwrap();
            body["access_token"].as_str().unwrap().to_string()
        }
    };
    let userinfo = |token: String, post: bool| {
        let request = if post {
            app.client.post(app.url("/oauth2/userinfo"))
        } else {
            app.client.get(app.url("/oauth2/userinfo"))
        };
        request.bearer_auth(token).send()
    };

    let all: Value = userinfo(token_for("openid profile email").await, false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all["sub"], user["id"]);
    assert_eq!(all["name"], "Test Person");
    assert_eq!(all["email"], "ada@example.com");
    assert_eq!(all["email_verified"], false);
    assert!(all["updated_at"].is_i64());

    let email_only: Value = userinfo(token_for("openid email").await, true)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(email_only["email"], "ada@example.com");
    assert!(email_only.get("name").is_none());
    let bare: Value = userinfo(token_for("openid").await, false)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        bare.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["sub"]
    );

    let no_openid = userinfo(token_for("email").await, false).await.unwrap();
    assert_eq!(no_openid.status(), 403);
    assert!(
        no_openid.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let anonymous = app.get("/oauth2/userinfo").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
}
