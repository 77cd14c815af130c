//! Signing in with a second factor: the password grant's `mfa_required` and its mfa-otp
//! step, the login page's code form, and the limits on guessing.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::clock::{Clock, ManualClock};
use serde_json::{Value, json};

use super::*;
use crate::helpers::{Backend, spawn_app_with_clock};

crate::on_every_backend!(
    the_password_grant_asks_for_the_second_factor,
    the_login_page_asks_for_the_code_before_the_session_starts,
);

async fn the_password_grant_asks_for_the_second_factor(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = enrolled(&app, &clock, "ada@example.com").await;

    let first = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(first.status(), 403);
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required");
    assert!(body.get("access_token").is_none());
    let token = body["mfa_token"].as_str().unwrap().to_string();

    // A wrong code is invalid_grant and does not spend the token.
    let wrong = not_the_code(&secret, &clock);
    let answer = |otp: String| {
        let app = &app;
        let token = token.clone();
        async move { second_step(app, &token, &otp).await }
    };
    let refused = answer(wrong.to_string()).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let issued = answer(secret.code_at(clock.now())).await;
    assert_eq!(issued.status(), 200);
    let tokens: Value = issued.json().await.unwrap();
    assert_eq!(
        app.me(tokens["access_token"].as_str().unwrap())
            .await
            .status(),
        200
    );
    // The tokens say how the person signed in (RFC 8176), and refreshing keeps it.
    let amr = json!(["pwd", "otp", "mfa"]);
    assert_eq!(
        crate::helpers::claims(tokens["access_token"].as_str().unwrap())["amr"],
        amr
    );
    let refreshed: Value = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        crate::helpers::claims(refreshed["access_token"].as_str().unwrap())["amr"],
        amr
    );
    // Single-use: neither the token nor the step again.
    clock.advance(Duration::from_secs(30));
    let again = answer(secret.code_at(clock.now())).await;
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // Bound to the client that asked: another client that may use the password grant
    // cannot finish it, even with the right code.
    let other_client_token = mfa_token(&app, "ada@example.com").await;
    let core = app.core().await;
    core.clients
        .create(
            gatehouse::oauth::NewClient {
                id: "other-app".into(),
                public: true,
                secret: None,
                redirect_uris: vec![],
                post_logout_redirect_uris: vec![],
                grants: vec!["password".into()],
                scopes: vec![],
                permissions: vec![],
                first_party: true,
            },
            clock.now(),
        )
        .await
        .unwrap();
    let elsewhere = app
        .token(&[
            ("grant_type", MFA_OTP),
            ("client_id", "other-app"),
            ("mfa_token", &other_client_token),
            ("otp", &secret.code_at(clock.now())),
        ])
        .await;
    assert_eq!(elsewhere.status(), 400);
    let refused: Value = elsewhere.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_grant");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("mfa_token"),
        "{refused}"
    );
    // And to five minutes: past them, even the right code is refused.
    clock.advance(Duration::from_secs(301));
    let expired = second_step(&app, &other_client_token, &secret.code_at(clock.now())).await;
    let refused: Value = expired.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_grant");
    assert!(
        refused["error_description"]
            .as_str()
            .unwrap()
            .contains("mfa_token"),
        "{refused}"
    );
    let missing = app.token(&[("grant_type", MFA_OTP)]).await;
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

async fn the_login_page_asks_for_the_code_before_the_session_starts(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = enrolled(&app, &clock, "ada@example.com").await;
    let browser = crate::browser::Browser::new(&app);
    let form = browser.get("/login").await;
    let csrf = form.csrf();
    let after_password = browser
        .post(
            "/login",
            &[
                ("csrf", &csrf),
                ("return_to", "/account"),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(after_password.status, reqwest::StatusCode::OK);
    assert!(
        after_password.body.contains("name=\"code\""),
        "{}",
        after_password.body
    );
    // No session yet.
    let account = browser.get("/account").await;
    assert!(account.location.unwrap_or_default().starts_with("/login"));

    let wrong = not_the_code(&secret, &clock);
    let refused = send_code(&browser, &csrf, wrong).await;
    assert_eq!(refused.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let code = secret.code_at(clock.now());
    let signed_in = send_code(&browser, &csrf, &code).await;
    assert_eq!(signed_in.location.as_deref(), Some("/account"));
    assert_eq!(
        browser.get("/account").await.status,
        reqwest::StatusCode::OK
    );

    // Another browser, without the cookie of this sign-in, cannot finish it.
    let stranger = crate::browser::Browser::new(&app);
    let csrf = stranger.get("/login").await.csrf();
    clock.advance(Duration::from_secs(30));
    let code = secret.code_at(clock.now());
    let no_sign_in = send_code(&stranger, &csrf, &code).await;
    assert_eq!(no_sign_in.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stranger.get("/account").await.location.is_some());
}

/// Knowing the password does not buy more guesses at the code: a right password does not
/// forgive the wrong codes before it, only a right code does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_does_not_reset_the_count_of_wrong_codes() {
    let clock = Arc::new(ManualClock::starting_now());
    let limits = [
        ("GATEHOUSE_RATE_LIMITS", "on"),
        // Every attempt counts, password or code; a complete sign-in forgets them.
        ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_ACCOUNT", "4/min"),
    ];
    let app = spawn_app_with_clock(Backend::Sqlite, &limits, clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = enrolled(&app, &clock, "ada@example.com").await;
    let wrong = not_the_code(&secret, &clock);
    let mut last = 0;
    for _ in 0..2 {
        let mfa_token = mfa_token(&app, "ada@example.com").await;
        last = second_step(&app, &mfa_token, wrong).await.status().as_u16();
    }
    assert_eq!(last, 400);
    let after = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(
        after.status(),
        429,
        "the right password forgave the wrong codes"
    );
}

/// A sign-in waiting for its code lives in Redis: while Redis is down its second step is
/// 503 (never `invalid_grant`, never tokens without the code), and it finishes once Redis
/// is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_waiting_for_its_code_outlasts_a_redis_outage() {
    let Some(mut redis) = crate::redis_outage::OwnRedis::for_test() else {
        return;
    };
    let url = redis.url();
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[("GATEHOUSE_REDIS_URL", &url)],
        clock.clone(),
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let secret = enrolled(&app, &clock, "ada@example.com").await;
    let token = mfa_token(&app, "ada@example.com").await;

    redis.stop();
    let code = secret.code_at(clock.now());
    let down = second_step(&app, &token, &code).await;
    assert_eq!(down.status(), 503);
    assert_eq!(
        down.json::<Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    let refused = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status(), 503, "no sign-in that skips the code");

    redis.spawn();
    let mut tokens = None;
    for _ in 0..50 {
        let answer = second_step(&app, &token, &code).await;
        if answer.status() == 200 {
            tokens = Some(answer.json::<Value>().await.unwrap());
            break;
        }
        assert_eq!(answer.status(), 503, "only 503 while Redis comes back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tokens = tokens.expect("the sign-in finished when Redis returned");
    let claims = crate::helpers::claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
}
