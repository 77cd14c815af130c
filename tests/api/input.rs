//! Hostile text: control characters, repeated parameters and keys, look-alike addresses
//! and names, and search, answered alike on every backend.

use gatehouse::audit::{AuditQuery, Event, EventType};
use gatehouse::domain::Email;
use gatehouse::store::{StoreError, UserStore};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::{on_both_databases, on_every_backend};

on_every_backend!(
    control_characters_are_refused_alike_at_every_endpoint,
    an_audit_event_is_stored_whatever_the_client_sent,
);

/// What does not depend on where sessions live runs on the two databases only.
mod databases {
    use super::*;

    on_both_databases!(
        a_json_body_with_control_characters_is_refused_by_field,
        every_field_of_the_token_forms_is_refused_by_name,
        each_authorization_parameter_is_accepted_once,
        a_json_key_given_twice_is_refused,
        look_alike_addresses_and_names_are_refused,
        addresses_are_compared_on_their_folded_form,
        accounts_stored_before_folding_get_their_keys,
        search_ignores_case_beyond_ascii,
    );
}

const REDIRECT: &str = "https://app.example.com/callback";

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn authorize_path(extra: &str) -> String {
    format!(
        "/oauth2/authorize?response_type=code&client_id=webapp&redirect_uri={}&scope=openid\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    )
}

async fn admin_token(app: &TestApp) -> String {
    app.register_user("admin@example.com", "administrator password")
        .await;
    app.make_admin("admin@example.com").await;
    app.access_token("admin@example.com", "administrator password")
        .await
}

/// Asserts an answer of `status` whose body names no internal failure.
async fn assert_refused(response: reqwest::Response, status: u16, what: &str) -> Value {
    assert_eq!(response.status(), status, "{what}");
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_ne!(body["error"], "server_error", "{what}");
    assert_ne!(body["error"], "temporarily_unavailable", "{what}");
    body
}

/// Each field the token, revocation and introspection forms read, with a control
/// character: 400 `invalid_request` naming that field, before anything is looked up.
async fn every_field_of_the_token_forms_is_refused_by_name(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = no_redirects();
    let token_fields = [
        "grant_type",
        "username",
        "password",
        "refresh_token",
        "code",
        "redirect_uri",
        "code_verifier",
        "mfa_token",
        "otp",
        "recovery_code",
        "subject_token",
        "subject_token_type",
        "requested_token_type",
        "scope",
        "client_id",
        "client_secret",
    ];
    let lookup_fields = ["token", "token_type_hint", "client_id", "client_secret"];
    let cases = token_fields
        .iter()
        .map(|f| ("/oauth2/token", ("grant_type", "client_credentials"), *f))
        .chain(lookup_fields.iter().flat_map(|f| {
            ["/oauth2/revoke", "/oauth2/introspect"].map(|path| (path, ("token", "x"), *f))
        }));
    for (path, (base, base_value), field) in cases {
        let mut pairs = vec![(field, "a\u{1}b")];
        if field != base {
            pairs.push((base, base_value));
        }
        let response = client
            .post(app.url(path))
            .form(&pairs)
            .send()
            .await
            .unwrap();
        let what = format!("{field} at {path}");
        let body = assert_refused(response, 400, &what).await;
        assert_eq!(body["error"], "invalid_request", "{what}");
        assert_eq!(
            body["error_description"],
            format!("the parameter {field} must not contain control characters"),
            "{what}"
        );
    }
}

async fn control_characters_are_refused_alike_at_every_endpoint(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_public_app("webapp", REDIRECT, &[], false)
        .await;
    let client = no_redirects();
    let form = |path: &str, pairs: &[(&str, &str)]| {
        client
            .post(app.url(path))
            .form(&pairs.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>())
    };

    for path in ["/oauth2/token", "/api/v1/auth/token"] {
        let body = assert_refused(
            form(
                path,
                &[("grant_type", "client_credentials"), ("client_id", "a\0b")],
            )
            .send()
            .await
            .unwrap(),
            400,
            path,
        )
        .await;
        assert_eq!(body["error"], "invalid_request");
    }
    let body = assert_refused(
        form("/oauth2/revoke", &[("token", "x"), ("client_id", "a\0b")])
            .send()
            .await
            .unwrap(),
        400,
        "revocation",
    )
    .await;
    assert_eq!(body["error"], "invalid_request");
    // A password grant with NUL in the username never reaches the password check.
    let body = assert_refused(
        form(
            "/oauth2/token",
            &[
                ("grant_type", "password"),
                ("username", "ada\0@example.com"),
                ("password", "whatever it is"),
            ],
        )
        .send()
        .await
        .unwrap(),
        400,
        "password grant",
    )
    .await;
    assert_eq!(body["error"], "invalid_request");
    for path in ["/oauth2/introspect", "/api/v1/revocations"] {
        let request = if path == "/oauth2/introspect" {
            client.post(app.url(path)).form(&[("token", "x")])
        } else {
            client.get(app.url(path))
        };
        let response = request
            .basic_auth("a\0b", Some("secret"))
            .send()
            .await
            .unwrap();
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic")
        );
        assert_refused(response, 401, path).await;
    }
    let introspect = form(
        "/oauth2/introspect",
        &[("token", "x"), ("client_id", "a\0b")],
    )
    .send()
    .await
    .unwrap();
    assert_refused(introspect, 400, "introspection by form").await;

    let admin = admin_token(&app).await;
    let search = client
        .get(app.url("/api/v1/admin/users?q=a%00"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_refused(search, 400, "search").await;

    // Refused before anything is stored: no ID token can carry `"nonce":"n\u0000"`.
    for extra in ["&nonce=n%00", "&state=s%01"] {
        let response = client
            .get(app.url(&authorize_path(extra)))
            .send()
            .await
            .unwrap();
        assert_refused(response, 400, extra).await;
    }
    let stray = authorize_path("").replace("%2Fcallback", "%2Fcallback%00");
    let response = client.get(app.url(&stray)).send().await.unwrap();
    assert!(response.headers().get("location").is_none());
    assert_refused(response, 400, "redirect_uri with NUL").await;
    let logout = client
        .get(app.url("/oauth2/logout?client_id=a%00b"))
        .send()
        .await
        .unwrap();
    assert_refused(logout, 400, "logout").await;
    let session = client
        .delete(app.url("/api/v1/admin/sessions/a%00b"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_refused(session, 400, "path").await;
}

async fn a_json_body_with_control_characters_is_refused_by_field(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .register(&json!({
            "email": "ada@example.com", "name": "Ada", "password": "analytical engine",
            "profile": {"business_context": {"k": "a\u{0}b"}}
        }))
        .await;

    let body = assert_refused(response, 422, "register").await;
    assert_eq!(body["errors"][0]["field"], "profile.business_context");

    let token = {
        app.register_user("ada@example.com", "analytical engine")
            .await;
        app.access_token("ada@example.com", "analytical engine")
            .await
    };
    let response = app
        .client
        .patch(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .json(&json!({"profile": {"business_context": {"notes\u{1b}": "two\nlines"}}}))
        .send()
        .await
        .unwrap();
    let body = assert_refused(response, 422, "me").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["errors"][0]["field"], "profile.business_context");
    // Line breaks in free text are fine.
    let response = app
        .client
        .patch(app.url("/api/v1/auth/me"))
        .bearer_auth(&token)
        .json(&json!({"profile": {"business_context": {"notes": "two\nlines"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn an_audit_event_is_stored_whatever_the_client_sent(backend: Backend) {
    let app = spawn_app(backend).await;
    let core = app.core().await;

    core.audit
        .record(
            Event::new(EventType::LoginFailed)
                .client("web\0app")
                .detail(json!({"username": "ada\0@example.com", "k\u{7f}": ["\u{1}"]})),
        )
        .await;

    let events = core
        .audit
        .list(&AuditQuery {
            kind: Some(EventType::LoginFailed),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "the event was lost");
    assert_eq!(events[0].client_id.as_deref(), Some("web\\u{0}app"));
    assert_eq!(
        events[0].detail,
        json!({"username": "ada\\u{0}@example.com", "k\\u{7f}": ["\\u{1}"]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_event_that_cannot_be_stored_is_counted() {
    let Some(base) = crate::helpers::postgres_url() else {
        eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set");
        return;
    };
    let url = url::Url::parse(&base).unwrap();
    let target = tokio::net::lookup_host((url.host_str().unwrap(), url.port().unwrap_or(5432)))
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = crate::helpers::TcpProxy::start(target).await;
    let app = crate::helpers::spawn_app_through(Backend::Postgres, &[], Some(&proxy)).await;
    let core = app.core().await;
    let counted = || async {
        let text = app.get("/metrics").await.text().await.unwrap();
        text.lines()
            .find(|l| {
                l.starts_with("gatehouse_audit_write_failures_total")
                    && l.contains(r#"type="key.revoked""#)
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = counted().await;

    proxy.set_up(false);
    core.audit.record(Event::new(EventType::KeyRevoked)).await;
    proxy.set_up(true);

    assert_eq!(counted().await, before + 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_a_value_is_not_an_outage() {
    let Some(base) = crate::helpers::postgres_url() else {
        eprintln!("not run: GATEHOUSE_TEST_DATABASE_URL is not set");
        return;
    };
    let db = crate::helpers::TestDatabase::postgres(base).await;
    let database = gatehouse::store::Database::connect(&db.url, 2)
        .await
        .unwrap();
    database.migrate().await.unwrap();

    // Text the edge refuses, handed to the store directly: PostgreSQL cannot hold NUL.
    let found = database
        .find_credentials(&Email::from_stored("a\0b@example.com".into()))
        .await;

    assert!(
        matches!(found, Err(StoreError::Rejected(_))),
        "{found:?} is not a refused value"
    );
}

async fn each_authorization_parameter_is_accepted_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_public_app("webapp", REDIRECT, &[], false)
        .await;
    let client = no_redirects();
    let get = |extra: String| {
        let client = client.clone();
        let url = app.url(&authorize_path(&extra));
        async move { client.get(url).send().await.unwrap() }
    };
    let redirect = url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>();

    // With the client or its redirect URI in doubt, nothing is sent anywhere.
    for extra in [
        format!("&redirect_uri={redirect}"),
        "&client_id=webapp".to_string(),
    ] {
        let response = get(extra.clone()).await;
        assert_eq!(response.status(), 400, "{extra}");
        assert!(response.headers().get("location").is_none(), "{extra}");
        let page = response.text().await.unwrap();
        assert!(page.contains("more than once"), "{extra}: {page}");
    }
    // Otherwise the client hears of it (RFC 6749 §4.1.2.1), without the doubtful state.
    for extra in [
        "&state=a&state=b",
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "&nonce=a&nonce=b",
    ] {
        let response = get(extra.to_string()).await;
        assert_eq!(response.status(), 303, "{extra}");
        let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        assert!(location.as_str().starts_with(REDIRECT), "{extra}");
        let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(query["error"], "invalid_request", "{extra}");
        assert!(!query.contains_key("state"), "{extra}");
    }
}

async fn a_json_key_given_twice_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body(
            r#"{"email": "a@example.com", "name": "A", "password": "long enough",
                "email": "b@example.com", "profile": {"city": "X", "city": "Y"}}"#,
        )
        .send()
        .await
        .unwrap();

    let body = assert_refused(response, 422, "repeated keys").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "profile.city"]);
    assert_eq!(body["errors"][0]["message"], "appears more than once");
}

async fn look_alike_addresses_and_names_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("zw@example.com", "a good password").await;

    for email in [
        "zw\u{200b}@example.com",
        "zw\u{202e}@example.com",
        "\u{feff}zw@example.com",
        "zw\u{ffff}@example.com",
        "zw\u{10ffff}@example.com",
    ] {
        let response = app
            .register(&json!({"email": email, "name": "Z", "password": "a good password"}))
            .await;
        let body = assert_refused(response, 422, email).await;
        assert_eq!(body["errors"][0]["field"], "email", "{email:?}");
    }
    for name in [
        "Z\u{200b}",
        "\u{202e}Z",
        "Z\u{feff}",
        "Z\u{ffff}",
        "Z\u{10ffff}",
    ] {
        let response = app
            .register(
                &json!({"email": "n@example.com", "name": name, "password": "a good password"}),
            )
            .await;
        let body = assert_refused(response, 422, name).await;
        assert_eq!(body["errors"][0]["field"], "name", "{name:?}");
    }
}

async fn addresses_are_compared_on_their_folded_form(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app
        .register_user("Straße@example.com", "a good password")
        .await;
    assert_eq!(
        user["email"], "straße@example.com",
        "stored as typed, lower-cased"
    );

    for other in ["STRASSE@example.com", "ｓｔｒａｓｓｅ@example.com"] {
        let response = app
            .register(&json!({"email": other, "name": "S", "password": "a good password"}))
            .await;
        assert_eq!(response.status(), 409, "{other}");
    }
    let response = app
        .password_grant("STRASSE@EXAMPLE.COM", "a good password")
        .await;
    assert_eq!(response.status(), 200);
}

async fn accounts_stored_before_folding_get_their_keys(backend: Backend) {
    let mut app = spawn_app(backend).await;
    app.register_user("straße@example.com", "a good password")
        .await;
    let token = admin_token(&app).await;
    // As an account stored before the folded keys existed.
    app.sql("UPDATE users SET email_key = NULL, name_key = NULL", &[])
        .await;

    app.restart().await;

    let response = app
        .password_grant("STRASSE@example.com", "a good password")
        .await;
    assert_eq!(response.status(), 200);
    let found: Value = app
        .get_json("/api/v1/admin/users?q=TEST%20PERSON", &token)
        .await;
    assert_eq!(found["items"].as_array().unwrap().len(), 2, "{found}");
}

async fn search_ignores_case_beyond_ascii(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = admin_token(&app).await;
    let response = app
        .register(
            &json!({"email": "emilie@example.com", "name": "Émilie Durand",
                          "password": "a good password"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    app.register_user("ÉLODIE@example.com", "a good password")
        .await;

    for (q, expected) in [
        ("émilie", "emilie@example.com"),
        ("ÉMILIE", "emilie@example.com"),
        ("élodie@", "élodie@example.com"),
        ("ÉLODIE", "élodie@example.com"),
    ] {
        let found: Value = app
            .client
            .get(app.url(&format!(
                "/api/v1/admin/users?q={}",
                url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
            )))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let emails: Vec<&str> = found["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(emails, [expected], "q={q}");
    }
}
