//! CORS: only the configured origins are let in, and the server's own pages are left alone.

use crate::helpers::{Backend, spawn_app_with};

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_CORS_ORIGINS", "https://app.example.com")],
    )
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/oauth2/token"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };

    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn cors_leaves_the_servers_own_forms_and_unlisted_origins_alone() {
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_CORS_ORIGINS", "https://app.example.com")],
    )
    .await;
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // A browser posts Gatehouse's own forms with Gatehouse's origin.
    let form = browser.get(app.url("/register")).send().await.unwrap();
    let form = form.text().await.unwrap();
    let marker = r#"name="csrf" value=""#;
    let csrf = form[form.find(marker).unwrap() + marker.len()..]
        .split('"')
        .next()
        .unwrap();
    let registered = browser
        .post(app.url("/register"))
        .header("origin", &app.base)
        .form(&[
            ("csrf", csrf),
            ("email", "ada@example.com"),
            ("name", "Ada"),
            ("password", "analytical engine"),
            ("password_confirm", "analytical engine"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 303);
    assert!(
        registered
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // Another site's page may read nothing, but it is not refused.
    let discovery = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    assert!(
        discovery
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    assert_eq!(discovery.headers()["vary"], "Origin");

    // A listed origin reads the answer; caches keep one answer per origin.
    let listed = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(listed.headers()["vary"], "Origin");

    // Error answers vary too: a form without its CSRF field, an unknown API path.
    for (method, path) in [
        (reqwest::Method::POST, "/login"),
        (reqwest::Method::GET, "/api/v1/nothing"),
    ] {
        let refused = app
            .client
            .request(method, app.url(path))
            .header("origin", "https://evil.example.com")
            .send()
            .await
            .unwrap();
        assert!(refused.status().is_client_error(), "{path}");
        assert_eq!(refused.headers()["vary"], "Origin", "{path}");
    }
}
