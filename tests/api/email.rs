//! Mailed links over HTTP, with the file transport: registration sends a verification
//! mail whose link verifies the address once.

use std::time::Duration;

use serde_json::{Value, json};

use std::sync::Arc;

use gatehouse::clock::ManualClock;

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, spawn_app, spawn_app_with, spawn_app_with_clock,
};

crate::on_both_databases!(
    registration_mails_a_link_that_verifies_the_address_once,
    a_tampered_or_unknown_token_verifies_nothing,
    a_reset_request_answers_alike_for_known_and_unknown_addresses,
    the_reset_link_sets_a_new_password_once_and_ends_every_session,
);

const PASSWORD: &str = "correct horse battery";

/// The messages written so far, waiting until there are `count` of them.
async fn mails(app: &TestApp, count: usize) -> Vec<String> {
    for _ in 0..100 {
        let found: Vec<String> = std::fs::read_dir(&app.config.mail.dir)
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "fewer than {count} messages in {}",
        app.config.mail.dir.display()
    );
}

/// The message as a reader sees it: quoted-printable soft breaks and `=3D` undone.
fn decoded(raw: &str) -> String {
    raw.replace("=\r\n", "").replace("=3D", "=")
}

/// The path and query of the verification link in a message.
fn verification_link(app: &TestApp, raw: &str) -> String {
    link(app, raw, "verify-email")
}

/// The path and query of the link to `/{page}` in a message.
fn link(app: &TestApp, raw: &str, page: &str) -> String {
    let text = decoded(raw);
    let start = text
        .find(&format!("{}/{page}?token=", app.issuer))
        .unwrap_or_else(|| panic!("no {page} link in:\n{text}"));
    let link: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_:/.?=".contains(*c))
        .collect();
    link[app.issuer.len()..].to_string()
}

/// Whether `/me` says the address of `email` (signing in with `password`) is verified.
async fn verified(app: &TestApp, email: &str, password: &str) -> bool {
    let grant: Value = app
        .password_grant(email, password)
        .await
        .json()
        .await
        .unwrap();
    let me: Value = app
        .me(grant["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    me["email_verified"].as_bool().unwrap()
}

async fn registration_mails_a_link_that_verifies_the_address_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;

    let mail = mails(&app, 1).await.remove(0);
    assert!(
        mail.contains("Subject: Confirm your email address"),
        "{mail}"
    );
    assert!(mail.contains("ada@example.com>"), "{mail}");
    assert!(
        mail.contains("text/plain") && mail.contains("text/html"),
        "{mail}"
    );
    assert!(decoded(&mail).contains("expires in 24 hours"), "{mail}");
    assert!(!verified(&app, "ada@example.com", PASSWORD).await);

    let link = verification_link(&app, &mail);
    let first = app.get(&link).await;
    assert_eq!(first.status(), 200);
    assert!(first.text().await.unwrap().contains("confirmed"));
    assert!(verified(&app, "ada@example.com", PASSWORD).await);

    let again = app.get(&link).await;
    assert_eq!(again.status(), 400, "a link works once");
}

async fn a_tampered_or_unknown_token_verifies_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let link = verification_link(&app, &mails(&app, 1).await[0]);
    let token = link.split("token=").nth(1).unwrap();
    let mut tampered: Vec<char> = token.chars().collect();
    tampered[5] = if tampered[5] == 'A' { 'B' } else { 'A' };
    let tampered: String = tampered.into_iter().collect();

    for path in [
        format!("/verify-email?token={tampered}"),
        format!("/verify-email?token={}", &token[..20]),
        "/verify-email?token=".to_string(),
        "/verify-email?token=%00%FF<script>".to_string(),
    ] {
        let response = app.get(&path).await;
        assert_eq!(response.status(), 400, "{path}");
    }
    assert!(!verified(&app, "ada@example.com", PASSWORD).await);
    // The real link still works after all that.
    assert_eq!(app.get(&link).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_verifies_nothing() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[("GATEHOUSE_EMAIL_VERIFICATION_TTL", "1s")],
        clock.clone(),
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    let link = verification_link(&app, &mails(&app, 1).await[0]);

    clock.advance(Duration::from_secs(2));

    assert_eq!(app.get(&link).await.status(), 400);
    assert!(!verified(&app, "ada@example.com", PASSWORD).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mail_speaks_the_language_of_the_account() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app
        .register(&json!({
            "email": "amelie@example.com",
            "name": "Amélie",
            "password": PASSWORD,
            "profile": {"preferred_language": "fr"}
        }))
        .await;
    assert_eq!(response.status(), 201);

    let mail = mails(&app, 1).await.remove(0);
    assert!(
        mail.contains("Subject: Confirmez votre adresse e-mail"),
        "{mail}"
    );
    let text = decoded(&mail);
    assert!(text.contains("expire dans 24 heures"), "{text}");
    verification_link(&app, &mail);
}

async fn ask_reset(app: &TestApp, email: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/password-reset"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The reset mail among the messages (registration sent a verification mail first).
async fn reset_mail(app: &TestApp) -> String {
    let all = mails(app, 2).await;
    all.into_iter()
        .find(|m| m.contains("Subject: Reset your password"))
        .expect("a reset mail")
}

async fn a_reset_request_answers_alike_for_known_and_unknown_addresses(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    mails(&app, 1).await;

    let known = ask_reset(&app, "ada@example.com").await;
    let unknown = ask_reset(&app, "nobody@example.com").await;

    assert_eq!(known.0, 202);
    assert_eq!(known, unknown, "the same status and body");
    let reset = reset_mail(&app).await;
    assert!(reset.contains("ada@example.com>"), "{reset}");
    assert!(decoded(&reset).contains("expires in 30 minutes"), "{reset}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mails(&app, 2).await.len(),
        2,
        "no mail for the unknown address"
    );
    // A malformed address is a validation error, not a hint about accounts.
    assert_eq!(ask_reset(&app, "not an address").await.0, 422);
}

/// Sends the reset form read from `form`.
async fn send_reset(
    browser: &crate::browser::Browser<'_>,
    form: &crate::browser::Page,
    token: &str,
    password: &str,
    confirm: &str,
) -> crate::browser::Page {
    browser
        .post(
            "/reset-password",
            &[
                ("csrf", &form.csrf()),
                ("token", token),
                ("password", password),
                ("password_confirm", confirm),
            ],
        )
        .await
}

async fn the_reset_link_sets_a_new_password_once_and_ends_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_user("ada@example.com", PASSWORD).await;
    let before: Value = app
        .password_grant("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ask_reset(&app, "ada@example.com").await.0, 202);
    let link = link(&app, &reset_mail(&app).await, "reset-password");
    let token = link.split("token=").nth(1).unwrap().to_string();
    let browser = crate::browser::Browser::new(&app);

    // Opening the link (as a mail scanner would) spends nothing.
    let form = browser.get(&link).await;
    assert_eq!(form.status, 200);
    let form = browser.get(&link).await;
    assert_eq!(form.status, 200);
    // Two different passwords are refused without spending the link.
    let differ = send_reset(
        &browser,
        &form,
        &token,
        "a brand new secret",
        "another secret",
    )
    .await;
    assert_eq!(differ.status, 422);
    let new = "a brand new secret";
    let done = send_reset(&browser, &form, &token, new, new).await;
    assert_eq!(done.status, 200, "{}", done.body);

    // Every earlier session is over, the old password is refused, the new one works.
    let refresh = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", before["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 400);
    assert_eq!(
        app.me(before["access_token"].as_str().unwrap())
            .await
            .status(),
        401
    );
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        400
    );
    assert_eq!(
        app.password_grant("ada@example.com", "a brand new secret")
            .await
            .status(),
        200
    );
    // Following a link mailed to the address proves the address as well.
    assert!(verified(&app, "ada@example.com", "a brand new secret").await);
    // The link worked once.
    assert_eq!(browser.get(&link).await.status, 400);
    let other = "yet another secret";
    let again = send_reset(&browser, &form, &token, other, other).await;
    assert_eq!(again.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_reset_link_changes_nothing() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[("GATEHOUSE_PASSWORD_RESET_TTL", "1s")],
        clock.clone(),
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;
    assert_eq!(ask_reset(&app, "ada@example.com").await.0, 202);
    let link = link(&app, &reset_mail(&app).await, "reset-password");

    clock.advance(Duration::from_secs(2));

    let browser = crate::browser::Browser::new(&app);
    assert_eq!(browser.get(&link).await.status, 400);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_requests_are_limited_per_address() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_RESET_PER_ADDRESS", "2/h"),
        ],
    )
    .await;
    for _ in 0..2 {
        assert_eq!(ask_reset(&app, "nobody@example.com").await.0, 202);
    }
    assert_eq!(ask_reset(&app, "NOBODY@example.com").await.0, 429);
    assert_eq!(ask_reset(&app, "someone@example.com").await.0, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailed_link_requests_are_limited_per_client_address() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_RATE_LIMITS", "on"),
            ("GATEHOUSE_RATE_LIMIT_RESET_PER_IP", "2/h"),
        ],
    )
    .await;
    assert_eq!(ask_reset(&app, "one@example.com").await.0, 202);
    assert_eq!(ask_verification(&app, "two@example.com").await.0, 202);
    // A third address from the same client: both kinds of request share the count.
    assert_eq!(ask_reset(&app, "three@example.com").await.0, 429);
}

async fn ask_verification(app: &TestApp, email: &str) -> (u16, String) {
    let response = app
        .client
        .post(app.url("/api/v1/auth/verify-email"))
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unverified_account_can_ask_for_a_new_link_and_only_it_gets_one() {
    let app = spawn_app(Backend::Sqlite).await;
    app.register_user("ada@example.com", PASSWORD).await;
    app.register_user("grace@example.com", PASSWORD).await;
    let grace_link = verification_link(
        &app,
        &mails(&app, 2)
            .await
            .into_iter()
            .find(|m| m.contains("grace@example.com>"))
            .unwrap(),
    );
    assert_eq!(app.get(&grace_link).await.status(), 200);

    let ada = ask_verification(&app, "ada@example.com").await;
    let grace = ask_verification(&app, "grace@example.com").await;
    let nobody = ask_verification(&app, "nobody@example.com").await;

    assert_eq!(ada.0, 202);
    assert_eq!(ada, grace, "verified or not, the same answer");
    assert_eq!(ada, nobody, "known or not, the same answer");
    let all = mails(&app, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mails(&app, 3).await.len(), 3, "one new mail, for ada only");
    let newest: Vec<&String> = all
        .iter()
        .filter(|m| m.contains("ada@example.com>"))
        .collect();
    assert_eq!(newest.len(), 2);
    // Both of ada's links work (each once): the new one does not need the old one.
    assert_eq!(
        app.get(&verification_link(&app, newest[1])).await.status(),
        200
    );
    // The page without a token is the form that asks for a link.
    let form = app.get("/verify-email").await;
    assert_eq!(form.status(), 200);
    assert!(
        form.text()
            .await
            .unwrap()
            .contains(r#"action="/verify-email""#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_require_verified_email_sign_in_waits_for_the_link() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_REQUIRE_VERIFIED_EMAIL", "true")],
    )
    .await;
    app.register_user("ada@example.com", PASSWORD).await;

    let refused = app.password_grant("ada@example.com", PASSWORD).await;
    let body = assert_oauth_error(refused, 400, "invalid_grant").await;
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains("not verified"), "{description}");
    assert!(description.contains("/verify-email"), "{description}");
    // A wrong password says nothing about verification.
    let wrong: Value = app
        .password_grant("ada@example.com", "not the password at all")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wrong["error_description"], "invalid username or password");
    // The sign-in page says so and offers a new link.
    let browser = crate::browser::Browser::new(&app);
    let form = browser.get("/login").await;
    let page = browser
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("not verified"), "{}", page.body);
    assert!(
        page.body.contains(r#"href="/verify-email""#),
        "{}",
        page.body
    );

    let link = verification_link(&app, &mails(&app, 1).await[0]);
    assert_eq!(app.get(&link).await.status(), 200);
    assert_eq!(
        app.password_grant("ada@example.com", PASSWORD)
            .await
            .status(),
        200
    );
}
