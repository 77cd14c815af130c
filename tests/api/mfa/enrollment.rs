//! Enrolling TOTP over the API and on the account page: a first code, recovery codes shown
//! once and each used once, a TOTP step accepted once, removal, and the refusals.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::auth::mfa::totp::TotpSecret;
use gatehouse::clock::{Clock, ManualClock};
use serde_json::{Value, json};

use super::*;
use crate::helpers::{Backend, spawn_app_with_clock};

crate::on_every_backend!(a_person_enrolls_uses_and_removes_totp,);

async fn a_person_enrolls_uses_and_removes_totp(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    assert_eq!(crate::helpers::claims(&token)["amr"], json!(["pwd"]));
    assert_eq!(
        status(&app, &token).await,
        json!({"totp": false, "recovery_codes_left": 0, "passkeys": [], "required": false})
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
        json!({"totp": true, "recovery_codes_left": 10, "passkeys": [], "required": false})
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
