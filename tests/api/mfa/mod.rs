//! Second factors over HTTP: enrolling TOTP (`enrollment`), signing in with it
//! (`sign_in`), the roles that require one (`policy`), clients asking for one (`step_up`),
//! and administrators removing them (`reset`). The helpers every part uses are here.

mod enrollment;
mod passkeys;
mod policy;
mod reset;
mod sign_in;
mod step_up;

use std::time::Duration;

use gatehouse::auth::mfa::totp::TotpSecret;
use gatehouse::clock::{Clock, ManualClock};
use serde_json::{Value, json};

use crate::helpers::TestApp;

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/api/v1/auth/mfa{path}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn status(app: &TestApp, token: &str) -> Value {
    app.get_json("/api/v1/auth/mfa", token).await
}

pub(crate) fn codes(answer: &Value) -> Vec<String> {
    answer["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// Enrolls `email` (signed in with `PASSWORD`) in TOTP at the clock's time; its secret.
pub(crate) async fn enrolled(app: &TestApp, clock: &ManualClock, email: &str) -> TotpSecret {
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

pub(crate) const MFA_OTP: &str = "urn:gatehouse:params:oauth:grant-type:mfa-otp";

/// The `mfa_token` of a password grant for `email` that asks for the second factor.
pub(crate) async fn mfa_token(app: &TestApp, email: &str) -> String {
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
pub(crate) async fn second_step(app: &TestApp, mfa_token: &str, otp: &str) -> reqwest::Response {
    app.token(&[
        ("grant_type", MFA_OTP),
        ("mfa_token", mfa_token),
        ("otp", otp),
    ])
    .await
}

/// The token answer for `email` through both steps of the password grant.
pub(crate) async fn both_steps(
    app: &TestApp,
    secret: &TotpSecret,
    clock: &ManualClock,
    email: &str,
) -> Value {
    let mfa_token = mfa_token(app, email).await;
    second_step(app, &mfa_token, &secret.code_at(clock.now()))
        .await
        .json()
        .await
        .unwrap()
}

/// An access token for `email` through both steps of the password grant.
pub(crate) async fn with_code(
    app: &TestApp,
    secret: &TotpSecret,
    clock: &ManualClock,
    email: &str,
) -> String {
    let tokens = both_steps(app, secret, clock, email).await;
    tokens["access_token"].as_str().expect("tokens").to_string()
}

/// The login page's second form, answered with `code`.
pub(crate) async fn send_code(
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

/// The login page's second form, as the page that asks for it carries it (its
/// `return_to`), answered with `code`.
pub(crate) async fn answer_code_page(
    browser: &crate::browser::Browser<'_>,
    page: &crate::browser::Page,
    code: &str,
) -> crate::browser::Page {
    let return_to = hidden(&page.body, "return_to").expect("a return_to field");
    browser
        .post(
            "/login",
            &[
                ("csrf", &page.csrf()),
                ("return_to", &return_to),
                ("code", code),
            ],
        )
        .await
}

/// Signs in with `PASSWORD` on the login form at `login_path` (`/login?return_to=…`), as
/// its hidden fields say; the page that answers the password.
pub(crate) async fn sign_in_on_page(
    browser: &crate::browser::Browser<'_>,
    email: &str,
    login_path: &str,
) -> crate::browser::Page {
    let login_path = if login_path.starts_with("/login") {
        login_path.to_string()
    } else {
        format!("/login?return_to={}", crate::browser::enc(login_path))
    };
    let form = browser.get(&login_path).await;
    let mut fields = vec![
        ("csrf".to_string(), form.csrf()),
        ("email".to_string(), email.to_string()),
        ("password".to_string(), PASSWORD.to_string()),
    ];
    for name in ["return_to", "second_factor"] {
        if let Some(value) = hidden(&form.body, name) {
            fields.push((name.to_string(), value));
        }
    }
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    browser.post("/login", &fields).await
}

/// The value of the hidden field `name` in a page, unescaped.
pub(crate) fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!(r#"type="hidden" name="{name}" value=""#);
    let start = body.find(&marker)? + marker.len();
    let value = body[start..].split('"').next()?;
    Some(
        value
            .replace("&#34;", "\"")
            .replace("&#39;", "'")
            .replace("&#60;", "<")
            .replace("&#62;", ">")
            .replace("&#38;", "&")
            .replace("&amp;", "&"),
    )
}

/// Six digits that are not the code at the clock's time.
pub(crate) fn not_the_code(secret: &TotpSecret, clock: &ManualClock) -> &'static str {
    if secret.code_at(clock.now()) == "123456" {
        "654321"
    } else {
        "123456"
    }
}

/// Waits until a message with `subject` has been written (no SMTP in tests: `.eml` files).
pub(crate) async fn mailed(app: &TestApp, subject: &str) {
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
