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
        let page = browser.get(&path).await;
        let location = page
            .location
            .unwrap_or_else(|| panic!("{path}: {}", page.body));
        let params = query_of(&location);
        assert_eq!(params["error"], error, "{path}");
        assert_eq!(params["state"], "xyz", "{path}");
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
