//! The token endpoint and the password grant.

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::RS256;
use serde_json::Value;

use crate::helpers::{Backend, assert_oauth_error, spawn_app, spawn_app_with};
use crate::on_both_databases;

on_both_databases!(
    the_password_grant_issues_an_rs256_access_token,
    an_issued_token_verifies_with_the_published_jwk_alone,
    unknown_email_and_wrong_password_get_the_same_answer,
    the_password_grant_refuses_bad_requests,
    a_disabled_account_cannot_sign_in,
    a_bcrypt_user_signs_in_and_is_rehashed_to_argon2id,
    a_bcrypt_password_that_normalisation_changes_still_signs_in,
    composed_and_decomposed_passwords_are_one_password,
    the_token_endpoint_answers_at_both_paths,
    old_clients_without_grant_type_get_a_password_grant_at_their_path_only,
);

fn decode_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

async fn the_password_grant_issues_an_rs256_access_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .register_user("ada@example.com", "analytical engine")
        .await;

    let response = app
        .token(&[
            ("grant_type", "password"),
            ("username", "Ada@Example.com"),
            ("password", "analytical engine"),
            ("scope", "openid email"),
        ])
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "openid email");
    let refresh = body["refresh_token"].as_str().expect("a refresh token");
    assert!(refresh.len() >= 43 + 22, "{refresh}");
    let token = body["access_token"].as_str().unwrap();
    let header = decode_part(token, 0);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let (kid, _) = app.signing_key_pem();
    assert_eq!(header["kid"], kid.as_str());
    let claims = decode_part(token, 1);
    assert_eq!(claims["iss"], app.issuer.as_str());
    assert_eq!(claims["aud"], app.issuer.as_str());
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["client_id"], "gatehouse");
    assert_eq!(claims["scope"], "openid email");
    assert_eq!(claims["roles"], serde_json::json!([]));
    for numeric in ["exp", "iat", "nbf", "auth_time"] {
        assert!(claims[numeric].is_i64(), "{numeric} is not an integer");
    }
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36);
    assert_eq!(
        claims["sid"].as_str().unwrap(),
        &refresh[..22],
        "the refresh token belongs to the session"
    );
}

async fn an_issued_token_verifies_with_the_published_jwk_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let token = app
        .access_token("ada@example.com", "analytical engine")
        .await;

    let response = app.get("/.well-known/jwks.json").await;
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    let jwks: Value = response.json().await.unwrap();

    let kid = decode_part(&token, 0)["kid"].as_str().unwrap().to_string();
    let jwk_json = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the signing key is published")
        .clone();
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(jwk_json.get(private).is_none(), "the JWKS leaks {private}");
    }
    let jwk = Jwk::from_bytes(jwk_json.to_string().as_bytes()).unwrap();
    let verifier = RS256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jwt::decode_with_verifier(&token, &verifier).unwrap();
    assert_eq!(payload.issuer(), Some(app.issuer.as_str()));
}

async fn unknown_email_and_wrong_password_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;

    let mut timings = [Vec::new(), Vec::new()];
    let mut bodies = Vec::new();
    for _ in 0..5 {
        for (i, email) in ["ada@example.com", "nobody@example.com"]
            .into_iter()
            .enumerate()
        {
            let started = Instant::now();
            let response = app.password_grant(email, "wrong password").await;
            timings[i].push(started.elapsed());
            assert_eq!(response.status(), 400);
            bodies.push(response.text().await.unwrap());
        }
    }

    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    // Both paths run one argon2 verification; without the dummy hash the unknown email
    // would answer many times faster. The bound is loose so a busy machine cannot trip it.
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (known, unknown) = (median(&mut timings[0]), median(&mut timings[1]));
    assert!(
        unknown * 4 > known && known * 4 > unknown,
        "wrong password took {known:?}, unknown email {unknown:?}"
    );
}

async fn the_password_grant_refuses_bad_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let ok = [
        ("username", "ada@example.com"),
        ("password", "analytical engine"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut form: Vec<(&str, &str)> = ok.to_vec();
        form.extend_from_slice(extra);
        form
    };
    type Case<'a> = (Vec<(&'a str, &'a str)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (ok.to_vec(), 400, "invalid_request"),
        (
            with(&[("grant_type", "implicit")]),
            400,
            "unsupported_grant_type",
        ),
        (
            with(&[("grant_type", "client_credentials")]),
            400,
            "unauthorized_client",
        ),
        (
            vec![
                ("grant_type", "password"),
                ("password", "analytical engine"),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![("grant_type", "password"), ("username", "ada@example.com")],
            400,
            "invalid_request",
        ),
        (
            with(&[("grant_type", "password"), ("scope", "admin")]),
            400,
            "invalid_scope",
        ),
        (
            with(&[("grant_type", "password"), ("scope", "bad\"scope")]),
            400,
            "invalid_scope",
        ),
        (
            with(&[("grant_type", "password"), ("client_id", "no-such-client")]),
            401,
            "invalid_client",
        ),
        (
            with(&[("grant_type", "password"), ("client_secret", "a secret")]),
            401,
            "invalid_client",
        ),
    ];
    for (form, status, error) in cases {
        let response = app.token(&form).await;
        assert_eq!(response.status().as_u16(), status, "{form:?}");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{form:?}");
        assert!(body["error_description"].is_string());
    }

    // Basic and form credentials at once is ambiguous (RFC 6749 §2.3).
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("gatehouse", Some("secret"))
        .form(&with(&[
            ("grant_type", "password"),
            ("client_secret", "secret"),
        ]))
        .send()
        .await
        .unwrap();
    assert_oauth_error(response, 400, "invalid_request").await;

    // A failed Basic authentication is answered with a Basic challenge.
    let response = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("no-such-client", Some("secret"))
        .form(&with(&[("grant_type", "password")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
}

async fn a_disabled_account_cannot_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let token = app
        .access_token("ada@example.com", "analytical engine")
        .await;

    app.sql(
        "UPDATE users SET disabled = TRUE WHERE email = $1",
        &["ada@example.com"],
    )
    .await;

    let response = app
        .password_grant("ada@example.com", "analytical engine")
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
    // Tokens issued before the account was disabled stop working at /me.
    assert_eq!(app.me(&token).await.status(), 401);
}

async fn a_bcrypt_user_signs_in_and_is_rehashed_to_argon2id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("old@example.com", "placeholder password")
        .await;
    // As the old Python service stored it (passlib writes $2b$).
    let bcrypt_hash = bcrypt::hash("from the old days", 4).unwrap();
    app.sql(
        "UPDATE users SET password_hash = $1 WHERE email = $2",
        &[&bcrypt_hash, "old@example.com"],
    )
    .await;

    assert_eq!(
        app.password_grant("old@example.com", "wrong password")
            .await
            .status(),
        400
    );
    assert!(app.stored_hash("old@example.com").await.starts_with("$2b$"));

    let response = app
        .password_grant("old@example.com", "from the old days")
        .await;
    assert_eq!(response.status(), 200);
    let stored = app.stored_hash("old@example.com").await;
    assert!(
        stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored}"
    );
    assert_eq!(
        app.password_grant("old@example.com", "from the old days")
            .await
            .status(),
        200
    );
}

/// The old service's passlib hashed passwords as typed; Gatehouse's own hashes are of the
/// NFKC form. A full-width or ligature password must still open its imported account.
async fn a_bcrypt_password_that_normalisation_changes_still_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("old@example.com", "placeholder password")
        .await;
    let typed = "ｏｌｄ ｄａｙｓ \u{fb01}sh";
    let bcrypt_hash = bcrypt::hash(typed, 4).unwrap();
    app.sql(
        "UPDATE users SET password_hash = $1 WHERE email = $2",
        &[&bcrypt_hash, "old@example.com"],
    )
    .await;

    let first = app.password_grant("old@example.com", typed).await;
    let upgraded = app.stored_hash("old@example.com").await;
    let again = app.password_grant("old@example.com", typed).await;
    let normalised = app.password_grant("old@example.com", "old days fish").await;

    assert_eq!(first.status(), 200);
    assert!(upgraded.starts_with("$argon2id$"));
    assert_eq!(
        again.status(),
        200,
        "the upgraded hash opens with the same typing"
    );
    assert_eq!(
        normalised.status(),
        200,
        "and with its NFKC form, as every argon2 hash"
    );
}

async fn composed_and_decomposed_passwords_are_one_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let composed = "caf\u{e9} cr\u{e8}me";
    let decomposed = "cafe\u{301} cre\u{300}me";
    app.register_user("ada@example.com", composed).await;

    assert_eq!(
        app.password_grant("ada@example.com", composed)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.password_grant("ada@example.com", decomposed)
            .await
            .status(),
        200
    );
    assert_eq!(
        app.password_grant("ada@example.com", "cafe creme")
            .await
            .status(),
        400
    );
}

async fn the_token_endpoint_answers_at_both_paths(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;

    for path in ["/oauth2/token", "/api/v1/auth/token"] {
        let response = app
            .client
            .post(app.url(path))
            .form(&[
                ("grant_type", "password"),
                ("username", "ada@example.com"),
                ("password", "analytical engine"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert!(body["access_token"].is_string(), "{path}: {body}");
        assert_eq!(body["token_type"], "Bearer", "{path}");
    }
}

/// FastAPI's `OAuth2PasswordRequestForm`, which the old service's clients were built on,
/// makes `grant_type` optional; RFC 6749 §4.3.2 does not.
async fn old_clients_without_grant_type_get_a_password_grant_at_their_path_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;
    let post = |path: &'static str, password: &'static str| {
        app.client
            .post(app.url(path))
            .form(&[("username", "ada@example.com"), ("password", password)])
            .send()
    };

    let old_path = post("/api/v1/auth/token", "analytical engine")
        .await
        .unwrap();
    let refused = post("/api/v1/auth/token", "wrong password").await.unwrap();
    let oauth_path = post("/oauth2/token", "analytical engine").await.unwrap();

    assert_eq!(old_path.status(), 200);
    let body: Value = old_path.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["refresh_token"].is_string(), "{body}");
    let me = app.me(body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    assert_oauth_error(refused, 400, "invalid_grant").await;
    let body = assert_oauth_error(oauth_path, 400, "invalid_request").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("grant_type"),
        "{body}"
    );
}

#[tokio::test]
async fn the_password_grant_can_be_turned_off() {
    let app = spawn_app_with(Backend::Sqlite, &[("GATEHOUSE_PASSWORD_GRANT", "false")]).await;
    app.register_user("ada@example.com", "analytical engine")
        .await;

    let response = app
        .password_grant("ada@example.com", "analytical engine")
        .await;

    assert_oauth_error(response, 400, "unauthorized_client").await;
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        !discovery["grant_types_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g == "password")
    );
}

async fn service_client(app: &crate::helpers::TestApp, id: &str, grants: &[&str]) -> String {
    app.core()
        .await
        .clients
        .create(
            gatehouse::oauth::NewClient {
                id: id.into(),
                public: false,
                secret: None,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: grants.iter().map(|g| g.to_string()).collect(),
                scopes: vec!["invoices:read".into(), "invoices:write".into()],
                permissions: vec![],
                first_party: false,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap()
        .expose()
        .clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_gets_a_token_for_itself_with_client_credentials() {
    let app = spawn_app(Backend::Sqlite).await;
    let secret = service_client(&app, "billing", &["client_credentials"]).await;
    let grant = |form: Vec<(&'static str, String)>, basic: Option<(&'static str, String)>| {
        let mut request = app.client.post(app.url("/oauth2/token")).form(&form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        request.send()
    };

    let response = grant(
        vec![("grant_type", "client_credentials".into())],
        Some(("billing", secret.clone())),
    )
    .await
    .unwrap();

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "invoices:read invoices:write");
    let token = body["access_token"].as_str().unwrap();
    let claims = decode_part(token, 1);
    assert_eq!(claims["sub"], "billing");
    assert_eq!(claims["client_id"], "billing");
    assert!(claims.get("sid").is_none() && claims.get("auth_time").is_none());
    assert_eq!(claims["roles"], serde_json::json!([]));
    // It is not a user's token.
    assert_eq!(app.me(token).await.status(), 401);

    let narrowed = grant(
        vec![
            ("grant_type", "client_credentials".into()),
            ("scope", "invoices:read".into()),
            ("client_id", "billing".into()),
            ("client_secret", secret.clone()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        narrowed.json::<Value>().await.unwrap()["scope"],
        "invoices:read"
    );
    let user_scope = grant(
        vec![
            ("grant_type", "client_credentials".into()),
            ("scope", "openid".into()),
        ],
        Some(("billing", secret.clone())),
    )
    .await
    .unwrap();
    assert_eq!(
        user_scope.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    let wrong = grant(
        vec![("grant_type", "client_credentials".into())],
        Some(("billing", "x".repeat(43))),
    )
    .await
    .unwrap();
    assert_eq!(wrong.status(), 401);
    let public = grant(vec![("grant_type", "client_credentials".into())], None)
        .await
        .unwrap();
    assert_eq!(
        public.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    let other_secret = service_client(&app, "reports", &["refresh_token"]).await;
    let unlisted = grant(
        vec![("grant_type", "client_credentials".into())],
        Some(("reports", other_secret)),
    )
    .await
    .unwrap();
    assert_eq!(
        unlisted.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );

    // A client id that looks like a user id is refused: it would become a token's `sub`.
    let uuid_like = app
        .core()
        .await
        .clients
        .create(
            gatehouse::oauth::NewClient {
                id: uuid::Uuid::new_v4().to_string(),
                public: false,
                secret: None,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: vec!["client_credentials".into()],
                scopes: vec![],
                permissions: vec![],
                first_party: false,
            },
            chrono::Utc::now(),
        )
        .await;
    assert!(uuid_like.is_err());
}
