//! The pages a person uses directly: registering, signing in, the account page, and the
//! cookies they keep.

use reqwest::StatusCode;
use serde_json::Value;

use super::{Browser, PASSWORD};
use crate::helpers::{Backend, spawn_app, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_register_sign_in_and_manage_their_account_through_the_pages() {
    let app = spawn_app(Backend::Sqlite).await;
    let browser = Browser::new(&app);

    // Errors are shown next to their field, and what was typed (but the password) is kept.
    let form = browser.get("/register").await;
    assert!(form.body.contains(r#"<label for="email">"#));
    let refused = browser
        .post(
            "/register",
            &[
                ("csrf", &form.csrf()),
                ("email", "not-an-email"),
                ("name", "Ada"),
                ("password", "short"),
                ("password_confirm", "other"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains(r#"id="email-error""#)
            && refused.body.contains(r#"id="password-error""#)
    );
    assert!(refused.body.contains(r#"value="not-an-email""#) && !refused.body.contains("short"));
    // A form without this browser's CSRF token is refused.
    let forged = browser
        .post(
            "/register",
            &[
                ("csrf", "forged"),
                ("email", "ada@example.com"),
                ("name", "Ada"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    browser.register("ada@example.com").await;
    let account = browser.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("ada@example.com"));

    // Sign out, then a wrong password keeps the email but not the password.
    let logout = browser.get("/logout").await;
    browser.post("/logout", &[("csrf", &logout.csrf())]).await;
    assert_eq!(browser.get("/account").await.status, StatusCode::SEE_OTHER);
    let form = browser.get("/login").await;
    let wrong = browser
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", "ada@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.body.contains(r#"value="ada@example.com""#)
            && !wrong.body.contains("wrong password!")
    );
    // `return_to` never leaves this server.
    let signed_in = browser
        .sign_in("ada@example.com", "https://evil.example.com/")
        .await;
    assert_eq!(signed_in.location.as_deref(), Some("/account"));

    // The browser session is a session like any other.
    let api = app.access_token("ada@example.com", PASSWORD).await;
    let sessions: Value = app.get_json("/api/v1/auth/sessions", &api).await;
    assert!(
        sessions["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["client_id"] == "gatehouse:browser")
    );

    // Profile and language: the page follows the account's language.
    let account = browser.get("/account").await;
    let saved = browser
        .post(
            "/account/profile",
            &[
                ("csrf", &account.csrf()),
                ("name", "Ada King"),
                ("country", "FR"),
                ("city", "Paris"),
                ("preferred_language", "fr"),
            ],
        )
        .await;
    assert_eq!(saved.location.as_deref(), Some("/account?done=saved"));
    let account = browser.get("/account").await;
    assert!(account.body.contains(r#"<html lang="fr">"#) && account.body.contains("Ada King"));

    // Password change signs every other session out, but not this one.
    let changed = browser
        .post(
            "/account/password",
            &[
                ("csrf", &account.csrf()),
                ("current_password", PASSWORD),
                ("password", "difference engine"),
                ("password_confirm", "difference engine"),
            ],
        )
        .await;
    assert_eq!(changed.location.as_deref(), Some("/account?done=password"));
    assert_eq!(app.me(&api).await.status(), 401);
    assert_eq!(browser.get("/account").await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookies_are_host_bound_and_secure_behind_an_https_issuer() {
    let https = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_ISSUER", "https://id.example.com")],
    )
    .await;
    let response = https.client.get(https.url("/login")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("__Host-gatehouse_csrf="), "{cookie}");
    for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(csp.contains("frame-ancestors 'none'"));

    let http = spawn_app(Backend::Sqlite).await;
    let response = http.client.get(http.url("/login")).send().await.unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("gatehouse_csrf=") && !cookie.contains("Secure"));
}
