//! `GATEHOUSE_MFA_REQUIRED_ROLES`: people with such a role set up a second factor when they
//! sign in on the pages, are refused by the password grant until they have, cannot remove
//! it, and reach the admin API only with a sign-in that used it.

use std::sync::Arc;
use std::time::Duration;

use gatehouse::auth::mfa::totp::TotpSecret;
use gatehouse::clock::{Clock, ManualClock};
use serde_json::{Value, json};

use super::*;
use crate::browser::Browser;
use crate::helpers::{Backend, spawn_app_with_clock};

crate::on_every_backend!(a_required_role_sets_up_its_second_factor_at_sign_in);

const POLICY: (&str, &str) = ("GATEHOUSE_MFA_REQUIRED_ROLES", "admin, auditor");

async fn a_required_role_sets_up_its_second_factor_at_sign_in(backend: Backend) {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(backend, &[POLICY], clock.clone()).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;

    // The password grant cannot set one up: refused, with no token to go on with.
    let refused = app.password_grant("root@example.com", PASSWORD).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "mfa_enrollment_required", "{body}");
    assert!(body.get("mfa_token").is_none() && body.get("access_token").is_none());
    // A wrong password is still a wrong password: nothing said about the policy.
    let wrong = app
        .password_grant("root@example.com", "not the password")
        .await;
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // The login page sets it up after the password; no session until its first code.
    let browser = Browser::new(&app);
    let after_password = sign_in_on_page(&browser, "root@example.com", "/account").await;
    assert_eq!(after_password.status, reqwest::StatusCode::OK);
    assert!(
        after_password.body.contains("<svg"),
        "{}",
        after_password.body
    );
    let key = shown_key(&after_password.body);
    let secret = TotpSecret::from_base32(&key).unwrap();
    assert!(
        browser.get("/account").await.location.is_some(),
        "no session yet"
    );

    let csrf = after_password.csrf();
    let wrong = send_code(&browser, &csrf, not_the_code(&secret, &clock)).await;
    assert_eq!(wrong.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(shown_key(&wrong.body), key, "the same key is shown again");
    let done = send_code(&browser, &csrf, &secret.code_at(clock.now())).await;
    assert_eq!(done.status, reqwest::StatusCode::OK, "{}", done.body);
    assert_eq!(done.body.matches("<li><code>").count(), 10, "{}", done.body);
    assert!(done.body.contains(r#"href="/account""#), "{}", done.body);
    let account = browser.get("/account").await;
    assert_eq!(account.status, reqwest::StatusCode::OK);
    assert!(account.body.contains("Your role requires a second factor"));
    assert!(!account.body.contains("/account/mfa/totp/remove"));
    mailed(&app, "A second factor was added to your account").await;

    // From now on the password grant asks for the code, and the tokens say it was used.
    clock.advance(Duration::from_secs(30));
    let tokens = both_steps(&app, &secret, &clock, "root@example.com").await;
    let token = tokens["access_token"].as_str().unwrap();
    let claims = crate::helpers::claims(token);
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "urn:gatehouse:acr:mfa");
    assert_eq!(
        status(&app, token).await,
        json!({"totp": true, "recovery_codes_left": 10, "passkeys": [], "required": true})
    );
    let users = app.get_json("/api/v1/admin/users", token).await;
    assert!(users["items"].is_array(), "{users}");

    // The role requires it: it cannot be removed, even with a right code.
    clock.advance(Duration::from_secs(30));
    let code = secret.code_at(clock.now());
    let removed = post(&app, token, "/totp/remove", json!({"code": code})).await;
    assert_eq!(removed.status(), 409);
    assert_eq!(status(&app, token).await["totp"], true);
}

/// A session from before the policy (the password alone) keeps working, but not on the
/// admin API, which asks for a sign-in with a second factor (RFC 9470).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_asks_a_password_only_sign_in_for_more() {
    let clock = Arc::new(ManualClock::starting_now());
    let mut app = spawn_app_with_clock(Backend::Sqlite, &[], clock.clone()).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    let before = app.access_token("root@example.com", PASSWORD).await;
    assert!(app.get_json("/api/v1/admin/users", &before).await["items"].is_array());

    app.config.accounts.mfa_required_roles = vec![gatehouse::domain::Role::parse("admin").unwrap()];
    app.restart().await;
    let refused = app
        .client
        .get(app.url("/api/v1/admin/users"))
        .bearer_auth(&before)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="insufficient_user_authentication""#)
            && challenge.contains(r#"acr_values="urn:gatehouse:acr:mfa""#),
        "{challenge}"
    );
    // The person's own API still answers.
    assert_eq!(app.me(&before).await.status(), 200);
}

/// People without a required role are not asked for anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_roles_sign_in_with_the_password_alone() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(Backend::Sqlite, &[POLICY], clock.clone()).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let token = app.access_token("ada@example.com", PASSWORD).await;
    assert_eq!(
        crate::helpers::claims(&token)["acr"],
        "urn:gatehouse:acr:password"
    );
    assert_eq!(status(&app, &token).await["required"], false);
}

/// The key shown as text on an enrollment page.
fn shown_key(body: &str) -> String {
    body.split("<code>")
        .nth(1)
        .and_then(|rest| rest.split("</code>").next())
        .unwrap_or_else(|| panic!("no key shown: {body}"))
        .to_string()
}
