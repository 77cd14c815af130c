//! Moving over from the old service: imported accounts keep their old id, and the old
//! service's HS256 tokens are exchanged for sessions (RFC 8693), each once, until the end
//! date; every refusal looks the same.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use gatehouse::clock::{Clock, ManualClock};
use josekit::jws::JwsSigner;
use serde_json::Value;

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, claims, spawn_app_with, spawn_app_with_clock,
};
use crate::on_every_backend;

on_every_backend!(
    an_old_token_becomes_a_session_once,
    every_refusal_is_the_same_invalid_grant,
    an_account_with_a_second_factor_is_asked_for_it,
    old_ids_are_imported_unique_and_kept,
    without_the_secret_the_grant_is_not_offered,
    nothing_is_exchanged_after_the_end_date,
    exchanges_count_against_the_sign_in_limit_of_an_address,
);

/// The old service's `SECRET_KEY`.
const SECRET: &str = "the-old-coaching-api-secret-key-0123456789";
const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const LEGACY_JWT: &str = "urn:gatehouse:params:oauth:token-type:legacy-jwt";
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The one description of every refusal.
const REFUSED: &str = "the token cannot be exchanged: it is not a current token of the old \
                       service for an account that can sign in, or it was exchanged already";
const PASSWORD: &str = crate::mfa::PASSWORD;

/// A token as the old service minted it with python-jose: HS256, `sub` the user id as a
/// string, `exp` `lifetime` from now (negative: expired).
fn mint(sub: &str, lifetime: i64, now: chrono::DateTime<Utc>) -> String {
    mint_with(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &format!(r#"{{"sub":"{sub}","exp":{}}}"#, now.timestamp() + lifetime),
        josekit::jws::HS256.signer_from_bytes(SECRET).unwrap(),
    )
}

fn mint_with(header: &str, claims: &str, key: impl JwsSigner) -> String {
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = key.sign(signed.as_bytes()).unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

const THIRTY_DAYS: i64 = 30 * 86_400;

async fn legacy_app(backend: Backend, clock: Arc<ManualClock>) -> TestApp {
    spawn_app_with_clock(
        backend,
        &[
            ("GATEHOUSE_LEGACY_HS256_SECRET", SECRET),
            ("GATEHOUSE_LEGACY_TOKENS_UNTIL", "2099-12-31"),
        ],
        clock,
    )
    .await
}

/// Imports `(email, legacy_id)` accounts whose old password is [`PASSWORD`].
fn import(app: &TestApp, people: &[(&str, i64)]) -> String {
    let hash = bcrypt::hash(PASSWORD, 4).unwrap();
    let lines: Vec<String> = people
        .iter()
        .map(|(email, id)| {
            format!(
                r#"{{"email":"{email}","name":"Person {id}","hashed_password":"{hash}","legacy_id":{id}}}"#
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let output = crate::cli::import(app, &file);
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr);
    format!("{stdout}{stderr}")
}

async fn exchange(app: &TestApp, token: &str, scope: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", token),
        ("subject_token_type", LEGACY_JWT),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    app.token(&form).await
}

/// Whether discovery lists the token exchange grant.
async fn announced(app: &TestApp) -> bool {
    let discovery: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let grants = discovery["grant_types_supported"].as_array().unwrap();
    grants.iter().any(|g| g == EXCHANGE)
}

async fn refused(app: &TestApp, token: &str) {
    let body = assert_oauth_error(exchange(app, token, None).await, 400, "invalid_grant").await;
    assert_eq!(body["error_description"], REFUSED, "{token}");
}

async fn an_old_token_becomes_a_session_once(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = legacy_app(backend, clock.clone()).await;
    import(&app, &[("ada@example.com", 42)]);
    let old = mint("42", THIRTY_DAYS, clock.now());

    let response = exchange(&app, &old, Some("openid email")).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["issued_token_type"], ACCESS_TOKEN_TYPE);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid email");
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(access["amr"], serde_json::json!(["legacy"]));
    // The old id goes along, for resource servers whose data still uses it.
    assert_eq!(access["legacy_id"], 42);
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["email"], "ada@example.com");
    assert_eq!(id_token["sub"], access["sub"]);
    assert_eq!(id_token["amr"], serde_json::json!(["legacy"]));

    // A session like any other: /me, refresh.
    let me: Value = app
        .me(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["legacy_id"], 42);
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(refreshed.status(), 200);

    // Once only: the same token again is refused, and the session it started lives on.
    refused(&app, &old).await;
    let me = app.me(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);

    // Announced, audited, counted.
    assert!(announced(&app).await);
    let console = crate::console::administrator(&app).await;
    let person = console
        .get(&crate::console::person_path(&console, "ada@example.com").await)
        .await;
    assert!(
        person
            .body
            .contains("Id in the old service</dt><dd>42</dd>")
    );
    let admin = app
        .access_token("root@example.com", crate::browser::PASSWORD)
        .await;
    let audit = app
        .get_json("/api/v1/admin/audit?type=legacy.exchanged", &admin)
        .await;
    let items = audit["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{audit}");
    assert_eq!(items[0]["user_id"], access["sub"]);
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(metrics.contains("gatehouse_legacy_exchanged_total"));
    assert!(!audit.to_string().contains(&old) && !metrics.contains(&old));
}

async fn every_refusal_is_the_same_invalid_grant(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = legacy_app(backend, clock.clone()).await;
    import(&app, &[("ada@example.com", 42), ("bob@example.com", 43)]);
    crate::audit::cli(&app, &["user", "disable", "bob@example.com"]);
    let now = clock.now();
    let good = mint("42", THIRTY_DAYS, now);

    let tampered = {
        let (head, rest) = good.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let claims = format!(r#"{{"sub":"43","exp":{}}}"#, now.timestamp() + THIRTY_DAYS);
        format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(claims))
    };
    let claims = format!(r#"{{"sub":"42","exp":{}}}"#, now.timestamp() + THIRTY_DAYS);
    let hs512 = mint_with(
        r#"{"alg":"HS512","typ":"JWT"}"#,
        &claims,
        josekit::jws::HS512
            .signer_from_bytes(format!("{SECRET}{SECRET}"))
            .unwrap(),
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(&claims)
    );
    let other_key = mint_with(
        r#"{"alg":"HS256","typ":"JWT"}"#,
        &claims,
        josekit::jws::HS256
            .signer_from_bytes("a-different-secret-key-of-enough-length")
            .unwrap(),
    );
    for token in [
        tampered,
        mint("42", -1, now),
        hs512,
        unsigned,
        other_key,
        mint("999", THIRTY_DAYS, now),
        mint("43", THIRTY_DAYS, now),
        "not a token".to_string(),
    ] {
        refused(&app, &token).await;
    }
    // None of them spent the good token, which then works once.
    assert_eq!(exchange(&app, &good, None).await.status(), 200);
    refused(&app, &good).await;

    // A request that is not an exchange of an old token is told what is wrong with it.
    let wrong_type = app
        .token(&[
            ("grant_type", EXCHANGE),
            ("subject_token", &good),
            ("subject_token_type", ACCESS_TOKEN_TYPE),
        ])
        .await;
    assert_oauth_error(wrong_type, 400, "invalid_request").await;
    let no_token = app
        .token(&[("grant_type", EXCHANGE), ("subject_token_type", LEGACY_JWT)])
        .await;
    assert_oauth_error(no_token, 400, "invalid_request").await;
}

async fn an_account_with_a_second_factor_is_asked_for_it(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = legacy_app(backend, clock.clone()).await;
    import(&app, &[("ada@example.com", 42)]);
    let secret = crate::mfa::enrolled(&app, &clock, "ada@example.com").await;

    let old = mint("42", THIRTY_DAYS, clock.now());
    let first = assert_oauth_error(exchange(&app, &old, None).await, 403, "mfa_required").await;
    let mfa_token = first["mfa_token"].as_str().unwrap();
    let code = secret.code_at(clock.now());
    let tokens: Value = crate::mfa::second_step(&app, mfa_token, &code)
        .await
        .json()
        .await
        .unwrap();
    let access = claims(tokens["access_token"].as_str().expect("tokens"));
    assert_eq!(access["amr"], serde_json::json!(["legacy", "otp", "mfa"]));
    // The token was spent by the first step.
    refused(&app, &old).await;
}

async fn old_ids_are_imported_unique_and_kept(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = legacy_app(backend, clock.clone()).await;
    app.register_user("registered@example.com", PASSWORD).await;
    let first = import(&app, &[("ada@example.com", 42)]);
    assert!(
        first.contains("imported 1, already present 0, invalid 0"),
        "{first}"
    );
    // Again: kept. Another address with the same old id: refused. An account without an
    // old id gets the line's; one with another keeps its own.
    let again = import(
        &app,
        &[
            ("ada@example.com", 42),
            ("other@example.com", 42),
            ("registered@example.com", 7),
        ],
    );
    assert!(
        again.contains("imported 0, already present 2, invalid 1"),
        "{again}"
    );
    assert!(
        again.contains("line 2: legacy_id: another account has 42 already"),
        "{again}"
    );
    assert!(
        again.contains("old ids recorded on 1 account(s)"),
        "{again}"
    );
    let changed = import(&app, &[("ada@example.com", 8)]);
    assert!(
        changed.contains("line 1: legacy_id: the account of this email has an old id other than 8"),
        "{changed}"
    );

    // The account whose old id was recorded late is exchanged like the others.
    let tokens: Value = exchange(&app, &mint("7", THIRTY_DAYS, clock.now()), None)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .me(tokens["access_token"].as_str().expect("tokens"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "registered@example.com");
}

async fn without_the_secret_the_grant_is_not_offered(backend: Backend) {
    let app = spawn_app_with(backend, &[]).await;
    import(&app, &[("ada@example.com", 42)]);
    assert!(!announced(&app).await);
    let response = exchange(&app, &mint("42", THIRTY_DAYS, Utc::now()), None).await;
    assert_oauth_error(response, 400, "unsupported_grant_type").await;
}

async fn nothing_is_exchanged_after_the_end_date(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let until = (clock.now() + chrono::Duration::hours(1)).to_rfc3339();
    let app = spawn_app_with_clock(
        backend,
        &[
            ("GATEHOUSE_LEGACY_HS256_SECRET", SECRET),
            ("GATEHOUSE_LEGACY_TOKENS_UNTIL", &until),
        ],
        clock.clone(),
    )
    .await;
    import(&app, &[("ada@example.com", 42), ("bob@example.com", 43)]);
    let before = exchange(&app, &mint("42", THIRTY_DAYS, clock.now()), None).await;
    assert_eq!(before.status(), 200);
    clock.advance(Duration::from_secs(3601));
    refused(&app, &mint("43", THIRTY_DAYS, clock.now())).await;

    // A server started after the end date no longer announces the exchange.
    let later = app.sibling().await;
    assert!(!announced(&later).await);
}

async fn exchanges_count_against_the_sign_in_limit_of_an_address(backend: Backend) {
    let app = spawn_app_with(
        backend,
        &[
            ("GATEHOUSE_LEGACY_HS256_SECRET", SECRET),
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_IP", "2/min"),
        ],
    )
    .await;
    import(&app, &[("ada@example.com", 42)]);
    refused(&app, "not a token").await;
    refused(&app, "still not a token").await;
    let limited = exchange(&app, &mint("42", THIRTY_DAYS, Utc::now()), None).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.json::<Value>().await.unwrap()["error"], "slow_down");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_gives_503_and_leaves_the_old_token_good() {
    let Some(mut redis) = crate::redis_outage::OwnRedis::for_test() else {
        return;
    };
    let app = redis
        .app(&[("GATEHOUSE_LEGACY_HS256_SECRET", SECRET)])
        .await;
    import(&app, &[("ada@example.com", 42)]);
    let old = mint("42", THIRTY_DAYS, Utc::now());

    redis.stop();
    let response = exchange(&app, &old, None).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_oauth_error(response, 503, "temporarily_unavailable").await;

    // Back: the same token is exchanged, once.
    redis.spawn();
    let mut exchanged = None;
    for _ in 0..50 {
        let response = exchange(&app, &old, None).await;
        if response.status() != 503 {
            exchanged = Some(response.status());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(exchanged, Some(reqwest::StatusCode::OK));
    refused(&app, &old).await;
}
