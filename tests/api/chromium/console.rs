//! The admin console in a real browser, as an administrator uses it: finding a person and
//! ending their sessions (their app's refresh token is refused afterwards), creating a
//! client and using its secret, rotating a key and seeing it in the JWKS — and every page
//! fitting a 360-pixel-wide screen (screenshots in the temporary folder).

use fantoccini::Locator;
use serde_json::Value;

use super::{Browser, appears, click, fill, installed, wait_for_url};
use crate::helpers::{Backend, spawn_app};

const PASSWORD: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_works_through_the_console_in_chromium() {
    if !installed() {
        eprintln!("not run: chromium and chromium-driver are not installed");
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    app.register_user("root@example.com", PASSWORD).await;
    app.make_admin("root@example.com").await;
    app.register_user("ada@example.com", PASSWORD).await;
    let ada: Value = app
        .password_grant("ada@example.com", PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let ada_refresh = ada["refresh_token"].as_str().unwrap().to_string();

    let chromium = Browser::launch().await;
    let browser = chromium.client.clone();
    let result = async {
        browser.set_window_size(360, 800).await?;
        // Signed out, the console sends the administrator to sign in, and back.
        browser.goto(&app.url("/admin")).await?;
        wait_for_url(&browser, |u| u.path() == "/login").await?;
        fill(&browser, "#email", "root@example.com").await?;
        fill(&browser, "#password", PASSWORD).await?;
        click(&browser, "form button[type=submit]").await?;
        wait_for_url(&browser, |u| u.path() == "/admin").await?;
        fits(&browser, "dashboard").await?;

        // Find Ada, end her sessions (confirmed), and see what happened.
        browser
            .find(Locator::LinkText("People"))
            .await?
            .click()
            .await?;
        wait_for_url(&browser, |u| u.path() == "/admin/users").await?;
        fill(&browser, "#q", "ada@").await?;
        click(&browser, "form[action='/admin/users'] button").await?;
        wait_for_url(&browser, |u| u.query().is_some_and(|q| q.contains("q=ada"))).await?;
        browser
            .find(Locator::LinkText("ada@example.com"))
            .await?
            .click()
            .await?;
        wait_for_url(&browser, |u| u.path().starts_with("/admin/users/")).await?;
        fits(&browser, "person").await?;
        click(&browser, "input[value=end_sessions] ~ button").await?;
        appears(&browser, "input[name=confirm]").await?;
        click(&browser, "button.danger").await?;
        let done = wait_for_url(&browser, |u| u.query() == Some("done=sessions_ended")).await?;
        assert_eq!(done.query(), Some("done=sessions_ended"));

        // A client, created with a generated secret shown once.
        browser.goto(&app.url("/admin/clients")).await?;
        fits(&browser, "clients").await?;
        fill(&browser, "#client-id", "billing").await?;
        click(&browser, "input[name='grant.client_credentials']").await?;
        click(
            &browser,
            "form[action='/admin/clients'] button[type=submit]",
        )
        .await?;
        let secret = appears(&browser, "code.secret").await?.text().await?;

        // A key rotation, published at once.
        browser.goto(&app.url("/admin/keys")).await?;
        fits(&browser, "keys").await?;
        click(&browser, "form[action='/admin/keys/rotate'] button").await?;
        wait_for_url(&browser, |u| u.query() == Some("done=rotated")).await?;
        let listed = browser.find(Locator::Css("table")).await?.text().await?;

        browser.goto(&app.url("/admin/audit")).await?;
        fits(&browser, "audit").await?;
        Ok::<_, fantoccini::error::CmdError>((secret, listed))
    }
    .await;
    let _ = browser.close().await;
    let (secret, listed) = result.expect("the browser flow");

    let refused = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &ada_refresh),
        ])
        .await;
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let token = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth("billing", Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200, "the secret the console showed works");
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{kids:?}");
    assert!(kids.iter().all(|kid| listed.contains(kid)), "{listed}");
}

/// The page is no wider than the window (360 px): nothing to scroll sideways but inside
/// its tables; a screenshot goes to the temporary folder.
async fn fits(browser: &fantoccini::Client, name: &str) -> Result<(), fantoccini::error::CmdError> {
    let width = browser
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await?;
    let (scroll, window) = (width[0].as_u64().unwrap(), width[1].as_u64().unwrap());
    std::fs::write(
        std::env::temp_dir().join(format!("gatehouse-admin-{name}-360.png")),
        browser.screenshot().await?,
    )
    .ok();
    assert!(
        scroll <= window,
        "{name}: {scroll} px wide in a {window} px window"
    );
    Ok(())
}
