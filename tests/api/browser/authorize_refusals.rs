//! The authorization endpoint's refusals, each by name.

use std::sync::Arc;

use gatehouse::clock::ManualClock;
use reqwest::StatusCode;
use serde_json::Value;

use super::{
    Browser, REDIRECT, VERIFIER, authorize_path, challenge, client, enc, exchange, query_of,
};
use crate::helpers::{Backend, spawn_app_with_clock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_endpoint_refuses_by_name() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[("GATEHOUSE_AUTH_CODE_TTL", "1s")],
        clock.clone(),
    )
    .await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);

    // Not trusted yet: an error page, never a redirect.
    for path in [
        authorize_path("nope", ""),
        authorize_path("webapp", "").replace(&enc(REDIRECT), &enc("https://evil.example.com/cb")),
        "/oauth2/authorize?response_type=code".to_string(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.location.is_none(), "{path}");
    }
    // prompt=none without a session.
    let page = browser.get(&authorize_path("webapp", "&prompt=none")).await;
    assert_eq!(query_of(&page.location.unwrap())["error"], "login_required");

    browser.register("ada@example.com").await;
    let cases = [
        (
            authorize_path("webapp", "").replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            authorize_path("webapp", "")
                .replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            authorize_path("webapp", "").replace(&format!("&code_challenge={}", challenge()), ""),
            "invalid_request",
        ),
        (
            authorize_path("webapp", "&request=eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            authorize_path("webapp", "&request_uri=https%3A%2F%2Fx"),
            "request_uri_not_supported",
        ),
        (
            authorize_path("webapp", "")
                .replace("scope=openid%20profile%20email", "scope=openid%20admin"),
            "invalid_scope",
        ),
    ];
    for (path, error) in cases {
        assert_eq!(refused(&browser, &path).await["error"], error, "{path}");
    }

    // A first-party client skips consent; prompt=login asks for the password again.
    let page = browser.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();
    let relogin = browser
        .get(&authorize_path("webapp", "&prompt=login"))
        .await;
    assert!(relogin.location.unwrap().starts_with("/login"));

    // Codes live GATEHOUSE_AUTH_CODE_TTL; a wrong redirect URI is refused.
    let mismatch = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("code_verifier", VERIFIER),
            ("client_id", "webapp"),
        ])
        .await;
    assert_eq!(
        mismatch.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let page = browser.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();
    clock.advance(std::time::Duration::from_secs(2));
    let expired = exchange(&app, "webapp", &code, VERIFIER).await;
    assert_eq!(
        expired.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // A sign-in older than max_age must be repeated.
    let stale = browser.get(&authorize_path("webapp", "&max_age=0")).await;
    assert!(stale.location.unwrap().starts_with("/login"));
    let fresh_enough = browser
        .get(&authorize_path("webapp", "&max_age=3600"))
        .await;
    assert!(query_of(&fresh_enough.location.unwrap()).contains_key("code"));
}

/// The refusals the authorization flow makes before our own checks run (oxide-auth's
/// `response_type` and scope syntax checks) still say why, with `state` and `iss`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_made_by_the_flow_itself_say_why() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    let cases = [
        (
            authorize_path("webapp", "").replace("response_type=code&", ""),
            "invalid_request",
            "response_type is required",
        ),
        (
            authorize_path("webapp", "").replace("response_type=code", "response_type=id_token"),
            "unsupported_response_type",
            "response_type=code",
        ),
        (
            authorize_path("webapp", "")
                .replace("scope=openid%20profile", "scope=openid%20pro%22file"),
            "invalid_scope",
            "scope",
        ),
        (
            authorize_path("webapp", "&prompt=none%20login"),
            "invalid_request",
            "prompt=none",
        ),
    ];
    for (path, error, why) in cases {
        let params = refused(&browser, &path).await;
        assert_eq!(params["error"], error, "{path}");
        assert!(
            params["error_description"].contains(why),
            "{path}: {params:?}"
        );
        assert_eq!(params["iss"], app.issuer, "{path}");
    }
}

/// RFC 8252 §7.3: a native app registered with a loopback redirect URI may listen on any
/// port, at the authorization endpoint and at the code exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_redirect_uri_may_use_any_port() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    app.register_public_app("native", "http://127.0.0.1/callback", &[], true)
        .await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    let asked = "http://127.0.0.1:53117/callback";
    let path = authorize_path("native", "").replace(&enc(REDIRECT), &enc(asked));
    let page = browser.get(&path).await;
    let location = page.location.unwrap_or_else(|| panic!("{}", page.body));
    assert!(location.starts_with(asked), "{location}");
    let code = query_of(&location)["code"].clone();
    let answer = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", asked),
            ("code_verifier", VERIFIER),
            ("client_id", "native"),
        ])
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
}

/// The parameters of the redirect refusing `path`, which echoes `state`.
async fn refused(browser: &Browser<'_>, path: &str) -> std::collections::HashMap<String, String> {
    let page = browser.get(path).await;
    let location = page
        .location
        .unwrap_or_else(|| panic!("{path}: {}", page.body));
    let params = query_of(&location);
    assert_eq!(params["state"], "xyz", "{path}");
    params
}
