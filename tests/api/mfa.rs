//! Second factors over the API: TOTP enrollment with a first code, recovery codes shown
//! once and each used once, a TOTP step accepted once, removal, and the refusals.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::auth::mfa::totp::TotpSecret;
use gatehouse::clock::{Clock, ManualClock};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with_clock};

const PASSWORD: &str = "correct horse battery";

crate::on_every_backend!(
    a_person_enrolls_uses_and_removes_totp,
    the_password_grant_asks_for_the_second_factor,
    an_administrator_resets_a_lost_phone
);

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/auth/mfa{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn status(app: &TestApp, token: &str) -> Value {
    app.get_json("/api/v1/auth/mfa", token).await
}

fn codes(answer: &Value) -> Vec<String> {
    answer["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

async fn a_person_enrolls_uses_and_removes_totp(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    assert_eq!(crate::helpers::claims(&token)["amr"], json!(["pwd"]));
    assert_eq!(
        status(&app, &token).await,
        json!({"totp": false, "recovery_codes_left": 0, "passkeys": []})
    );

    // The current password starts it; a wrong one is a field error.
    let wrong = post(&app, &token, "/totp", json!({"password": "not it at all"})).await;
    assert_eq!(wrong.status(), 422);
    let started = post(&app, &token, "/totp", json!({"password": PASSWORD})).await;
    assert_eq!(started.status(), 200);
    assert_eq!(started.headers()["cache-control"], "no-store");
    let enrollment: Value = started.json().await.unwrap();
    let uri = enrollment["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(":ada%40example.com?secret="), "{uri}");
    assert!(uri.contains("&issuer="), "{uri}");
    let secret = TotpSecret::from_base32(enrollment["secret"].as_str().unwrap()).unwrap();
    // Not in force until confirmed.
    assert_eq!(status(&app, &token).await["totp"], false);

    let wrong = not_the_code(&secret, &clock);
    let bad = post(&app, &token, "/totp/confirm", json!({"code": wrong})).await;
    assert_eq!(bad.status(), 422);
    let code = secret.code_at(clock.now());
    let confirmed = post(&app, &token, "/totp/confirm", json!({"code": code})).await;
    assert_eq!(confirmed.status(), 200);
    let recovery = codes(&confirmed.json().await.unwrap());
    assert_eq!(recovery.len(), 10);
    assert_eq!(
        status(&app, &token).await,
        json!({"totp": true, "recovery_codes_left": 10, "passkeys": []})
    );
    let again = post(&app, &token, "/totp", json!({"password": PASSWORD})).await;
    assert_eq!(again.status(), 409);
    mailed(&app, "A second factor was added to your account").await;

    // The step that confirmed is spent: the same code does not renew the recovery codes.
    let replayed = post(&app, &token, "/recovery-codes", json!({"code": code})).await;
    assert_eq!(replayed.status(), 422);
    clock.advance(Duration::from_secs(30));
    let next = secret.code_at(clock.now());
    let renewed = post(&app, &token, "/recovery-codes", json!({"code": next})).await;
    assert_eq!(renewed.status(), 200);
    let renewed = codes(&renewed.json().await.unwrap());
    assert_ne!(renewed, recovery);

    // The old set stopped working; a new code works once, typed any way.
    let old = post(&app, &token, "/totp/remove", json!({"code": recovery[0]})).await;
    assert_eq!(old.status(), 422);
    let typed = renewed[0].to_uppercase().replace('-', " ");
    let used = post(&app, &token, "/totp/remove", json!({"code": typed})).await;
    assert_eq!(used.status(), 204);
    assert_eq!(status(&app, &token).await["totp"], false);
    mailed(&app, "The second factor of your account was removed").await;
    let gone = post(&app, &token, "/totp/remove", json!({"code": renewed[1]})).await;
    assert_eq!(gone.status(), 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_are_limited_like_passwords_and_audited() {
    let clock = Arc::new(ManualClock::starting_now());
    let limits = [
        ("GATEHOUSE_RATE_LIMITS", "on"),
        ("GATEHOUSE_RATE_LIMIT_LOGIN_PER_ACCOUNT", "2/min"),
    ];
    let app = spawn_app_with_clock(Backend::Sqlite, &limits, clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    let enrollment: Value = post(&app, &token, "/totp", json!({"password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let secret = TotpSecret::from_base32(enrollment["secret"].as_str().unwrap()).unwrap();
    let code = secret.code_at(clock.now());
    post(&app, &token, "/totp/confirm", json!({"code": code})).await;
    clock.advance(Duration::from_secs(30));

    let wrong = not_the_code(&secret, &clock);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let answer = post(&app, &token, "/recovery-codes", json!({"code": wrong})).await;
        statuses.push(answer.status().as_u16());
        if answer.status() == 429 {
            assert!(answer.headers().contains_key("retry-after"));
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Waiting, even the right code is not looked at.
    let right = secret.code_at(clock.now());
    let waiting = post(&app, &token, "/recovery-codes", json!({"code": right})).await;
    assert_eq!(waiting.status(), 429);
    // It is the account's sign-in limit: the password waits too.
    let password = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(password.status(), 429);

    app.make_admin("ada@example.com").await;
    clock.advance(Duration::from_secs(3600));
    let admin = with_code(&app, &secret, &clock, "ada@example.com").await;
    let events = |kind: &'static str| {
        let app = &app;
        let admin = &admin;
        async move {
            let page = app
                .get_json(&format!("/api/v1/admin/audit?type={kind}"), admin)
                .await;
            page["items"].as_array().map(Vec::len).ok_or(page)
        }
    };
    assert!(events("mfa.failed").await.unwrap() >= 1);
    assert_eq!(events("mfa.enabled").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_is_sealed_at_rest_and_bodies_are_checked() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    for body in [
        json!({}),
        json!({"password": 5}),
        json!({"password": "a\u{0}b"}),
    ] {
        let answer = post(&app, &token, "/totp", body.clone()).await;
        assert_eq!(answer.status(), 422, "{body}");
    }
    let confirm = post(&app, &token, "/totp/confirm", json!({"code": "123456"})).await;
    assert_eq!(confirm.status(), 409, "nothing to confirm yet");
    let enrollment: Value = post(&app, &token, "/totp", json!({"password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let secret = TotpSecret::from_base32(enrollment["secret"].as_str().unwrap()).unwrap();
    let me = app.me(&token).await.json::<Value>().await.unwrap();
    let id = gatehouse::domain::UserId::parse(me["id"].as_str().unwrap()).unwrap();
    let core = app.core().await;
    let stored = gatehouse::store::SecondFactorStore::totp(&core.db, id)
        .await
        .unwrap()
        .unwrap()
        .sealed_secret;
    assert!(
        !stored
            .windows(secret.as_bytes().len())
            .any(|w| w == secret.as_bytes())
    );
    let no_token = app
        .client
        .get(app.url("/api/v1/auth/mfa"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
}

/// Enrolls `email` (signed in with `PASSWORD`) in TOTP at the clock's time; its secret.
async fn enrolled(app: &TestApp, clock: &ManualClock, email: &str) -> TotpSecret {
    let token = app.access_token(email, PASSWORD).await;
    let enrollment: Value = post(app, &token, "/totp", json!({"password": PASSWORD}))
        .await
        .json()
        .await
        .unwrap();
    let secret = TotpSecret::from_base32(enrollment["secret"].as_str().unwrap()).unwrap();
    let code = secret.code_at(clock.now());
    let confirmed = post(app, &token, "/totp/confirm", json!({"code": code})).await;
    assert_eq!(confirmed.status(), 200);
    clock.advance(Duration::from_secs(30));
    secret
}

const MFA_OTP: &str = "urn:gatehouse:params:oauth:grant-type:mfa-otp";

/// The `mfa_token` of a password grant for `email` that asks for the second factor.
async fn mfa_token(app: &TestApp, email: &str) -> String {
    let first: Value = app
        .password_grant(email, PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    first["mfa_token"]
        .as_str()
        .unwrap_or_else(|| panic!("not mfa_required: {first}"))
        .to_string()
}

/// The second step of a password grant: `mfa_token` and `otp`, from the built-in client.
async fn second_step(app: &TestApp, mfa_token: &str, otp: &str) -> reqwest::Response {
    app.token(&[
        ("grant_type", MFA_OTP),
        ("mfa_token", mfa_token),
        ("otp", otp),
    ])
    .await
}

/// The token answer for `email` through both steps of the password grant.
async fn both_steps(app: &TestApp, secret: &TotpSecret, clock: &ManualClock, email: &str) -> Value {
    let mfa_token = mfa_token(app, email).await;
    second_step(app, &mfa_token, &secret.code_at(clock.now()))
        .await
        .json()
        .await
        .unwrap()
}

/// An access token for `email` through both steps of the password grant.
async fn with_code(app: &TestApp, secret: &TotpSecret, clock: &ManualClock, email: &str) -> String {
    let tokens = both_steps(app, secret, clock, email).await;
    tokens["access_token"].as_str().expect("tokens").to_string()
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_asks_for_the_code_before_the_session_starts() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
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

/// The login page's second form, answered with `code`.
async fn send_code(
    browser: &crate::browser::Browser<'_>,
    csrf: &str,
    code: &str,
) -> crate::browser::Page {
    browser
        .post(
            "/login",
            &[("csrf", csrf), ("return_to", "/account"), ("code", code)],
        )
        .await
}

/// Six digits that are not the code at the clock's time.
fn not_the_code(secret: &TotpSecret, clock: &ManualClock) -> &'static str {
    if secret.code_at(clock.now()) == "123456" {
        "654321"
    } else {
        "123456"
    }
}

async fn an_administrator_resets_a_lost_phone(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let admin = app.access_token("root@example.com", PASSWORD).await;
    let ada: Value = app.register_user("ada@example.com", PASSWORD).await;
    let ada_id = ada["id"].as_str().unwrap().to_string();
    let secret = enrolled(&app, &clock, "ada@example.com").await;
    let tokens = both_steps(&app, &secret, &clock, "ada@example.com").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_string();
    let path = format!("/api/v1/admin/users/{ada_id}/mfa");
    let reset = app
        .client
        .delete(app.url(&path))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), 204);
    // Whoever holds the phone's sessions is signed out.
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ])
        .await;
    assert_eq!(
        refreshed.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // The password alone signs in again, and the reset is on record.
    let signed_in = app.password_grant("ada@example.com", PASSWORD).await;
    assert_eq!(signed_in.status(), 200);
    let events = app
        .get_json("/api/v1/admin/audit?type=mfa.reset", &admin)
        .await;
    assert_eq!(events["items"][0]["user_id"], ada_id.as_str());
    assert_eq!(events["items"][0]["detail"]["removed"], true);
    let unknown = app
        .client
        .delete(app.url("/api/v1/admin/users/00000000-0000-0000-0000-000000000000/mfa"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_resets_second_factors() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    enrolled(&app, &clock, "ada@example.com").await;
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        403
    );
    crate::audit::cli(&app, &["user", "mfa-reset", "ada@example.com"]);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
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

/// The account page turns TOTP on with a QR code drawn on the server, shows the recovery
/// codes once, and turns it off with a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_page_turns_the_second_factor_on_and_off() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    let browser = crate::browser::Browser::new(&app);
    browser.register("ada@example.com").await;
    let account = browser.get("/account").await;
    assert!(
        account.body.contains("action=\"/account/mfa/totp\""),
        "{}",
        account.body
    );
    let csrf = account.csrf();

    let wrong = browser
        .post(
            "/account/mfa/totp",
            &[("csrf", &csrf), ("password", "not the password")],
        )
        .await;
    assert_eq!(wrong.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    let started = browser
        .post(
            "/account/mfa/totp",
            &[("csrf", &csrf), ("password", crate::browser::PASSWORD)],
        )
        .await;
    assert_eq!(started.status, reqwest::StatusCode::OK);
    assert!(started.body.contains("<svg"), "a QR code: {}", started.body);
    let key = started
        .body
        .split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap();
    let secret = TotpSecret::from_base32(key).unwrap();

    let not_yet = browser
        .post(
            "/account/mfa/totp/confirm",
            &[("csrf", &csrf), ("code", not_the_code(&secret, &clock))],
        )
        .await;
    assert_eq!(not_yet.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert!(not_yet.body.contains(key), "the same key is shown again");
    let code = secret.code_at(clock.now());
    let on = browser
        .post(
            "/account/mfa/totp/confirm",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(on.status, reqwest::StatusCode::OK);
    assert_eq!(on.body.matches("<li><code>").count(), 10, "{}", on.body);
    let account = browser.get("/account").await;
    assert!(account.body.contains("/account/mfa/totp/remove"));

    clock.advance(Duration::from_secs(30));
    let code = secret.code_at(clock.now());
    let off = browser
        .post(
            "/account/mfa/totp/remove",
            &[("csrf", &csrf), ("code", &code)],
        )
        .await;
    assert_eq!(off.location.as_deref(), Some("/account?done=mfa_removed"));
    let account = browser.get("/account").await;
    assert!(account.body.contains("action=\"/account/mfa/totp\""));
}

/// Waits until a message with `subject` has been written (no SMTP in tests: `.eml` files).
async fn mailed(app: &TestApp, subject: &str) {
    for _ in 0..100 {
        let found = std::fs::read_dir(&app.config.mail.dir)
            .map(|entries| {
                entries.flatten().any(|e| {
                    std::fs::read_to_string(e.path())
                        .is_ok_and(|text| text.contains(&format!("Subject: {subject}")))
                })
            })
            .unwrap_or(false);
        if found {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "no message `{subject}` in {}",
        app.config.mail.dir.display()
    );
}
