//! Passkeys in a real browser: Chromium with a WebDriver virtual authenticator (the
//! WebAuthn extension of WebDriver, `POST /session/{id}/webauthn/authenticator`) holding
//! discoverable, user-verifying credentials. A person adds a passkey on `/account`, signs
//! out, signs in with the passkey alone (from the address field's autofill, or from the
//! button), and uses it as the second step after the password.

use fantoccini::Locator;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::json;

use super::{Browser, appears, click, fill, installed, wait_for_url};
use crate::helpers::{Backend, free_port, spawn_app_with};

/// `POST /session/{id}/webauthn/authenticator`: a virtual CTAP2 authenticator built into
/// the device ("internal"), keeping resident keys and verifying its user by itself.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (poem::http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (poem::http::Method::POST, Some(body.to_string()))
    }
}

/// The address field's autofill (conditional mediation) offers the passkey; the virtual
/// authenticator, present and verifying by itself, picks it as a person would.
/// chromedriver's `POST /session/{id}/goog/cdp/execute`: a script that runs in every page
/// before the page's own (DevTools' `Page.addScriptToEvaluateOnNewDocument`).
#[derive(Debug)]
struct BeforeEveryPage(&'static str);

impl WebDriverCompatibleCommand for BeforeEveryPage {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (poem::http::Method, Option<String>) {
        let body = json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": {"source": self.0},
        });
        (poem::http::Method::POST, Some(body.to_string()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_offers_a_passkey_in_the_address_fields_autofill_in_chromium() {
    if !installed() {
        eprintln!("not run: chromium and chromium-driver are not installed");
        return;
    }
    let (app, issuer) = localhost_app().await;
    let chromium = Browser::launch().await;
    let browser = chromium.client.clone();
    let result = async {
        browser.issue_cmd(AddVirtualAuthenticator).await?;
        sign_up_with_a_passkey(&browser, &issuer, "grace@example.com").await?;
        sign_out(&browser, &issuer).await?;
        browser.goto(&format!("{issuer}/login")).await?;
        // Nothing typed, nothing clicked.
        let url = wait_for_url(&browser, |u| u.path() == "/account").await?;
        assert_eq!(url.path(), "/account", "signed in from the autofill");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser flow");
    let amr = session_amr(&app, "grace@example.com").await;
    assert!(
        amr.contains(&vec!["hwk".into(), "user".into(), "mfa".into()]),
        "{amr:?}"
    );
}

/// In a browser without conditional mediation (as far as the page can tell), the "Sign
/// in with a passkey" button signs in with the passkey alone; then, with the password,
/// the passkey answers the second step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_signs_in_alone_and_as_the_second_step_in_chromium() {
    if !installed() {
        eprintln!("not run: chromium and chromium-driver are not installed");
        return;
    }
    let (app, issuer) = localhost_app().await;
    let chromium = Browser::launch().await;
    let browser = chromium.client.clone();
    let result = async {
        browser
            .issue_cmd(BeforeEveryPage(
                "PublicKeyCredential.isConditionalMediationAvailable = async () => false;",
            ))
            .await?;
        browser.issue_cmd(AddVirtualAuthenticator).await?;
        sign_up_with_a_passkey(&browser, &issuer, "ada@example.com").await?;

        // Signed out, the passkey alone signs in: no address, no password.
        sign_out(&browser, &issuer).await?;
        browser.goto(&format!("{issuer}/login")).await?;
        appears(&browser, r#"button[data-passkey="sign-in"]:not([hidden])"#)
            .await?
            .click()
            .await?;
        let url = wait_for_url(&browser, |u| u.path() == "/account").await?;
        assert_eq!(url.path(), "/account", "signed in with the passkey alone");

        // With the password, the passkey answers the second step.
        sign_out(&browser, &issuer).await?;
        browser.goto(&format!("{issuer}/login")).await?;
        fill(&browser, "#email", "ada@example.com").await?;
        fill(&browser, "#password", PASSWORD).await?;
        click(&browser, "form button[type=submit]").await?;
        appears(&browser, r#"button[data-passkey="step"]:not([hidden])"#)
            .await?
            .click()
            .await?;
        let url = wait_for_url(&browser, |u| u.path() == "/account").await?;
        assert_eq!(
            url.path(),
            "/account",
            "signed in with the password and the passkey"
        );
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser flow");
    let amr = session_amr(&app, "ada@example.com").await;
    assert!(
        amr.contains(&vec!["pwd".into(), "hwk".into(), "mfa".into()]),
        "{amr:?}"
    );
}

const PASSWORD: &str = "compiler cobol";

/// A server whose pages are served as `http://localhost:PORT`, its issuer: WebAuthn
/// wants a domain.
async fn localhost_app() -> (crate::helpers::TestApp, String) {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://localhost:{port}");
    let settings = [
        ("GATEHOUSE_LISTEN", listen.as_str()),
        ("GATEHOUSE_ISSUER", issuer.as_str()),
    ];
    (spawn_app_with(Backend::Sqlite, &settings).await, issuer)
}

/// Signs up as `email` and adds a passkey on the account page.
async fn sign_up_with_a_passkey(
    browser: &fantoccini::Client,
    issuer: &str,
    email: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&format!("{issuer}/register")).await?;
    fill(browser, "#email", email).await?;
    fill(browser, "#name", "Someone").await?;
    fill(browser, "#password", PASSWORD).await?;
    fill(browser, "#password_confirm", PASSWORD).await?;
    click(browser, "button[type=submit]").await?;
    wait_for_url(browser, |u| u.path() == "/account").await?;
    fill(browser, "#passkey-name", "This laptop").await?;
    fill(browser, "#passkey-proof", PASSWORD).await?;
    click(browser, r#"button[data-passkey="register"]"#).await?;
    let url = wait_for_url(browser, |u| u.query() == Some("done=passkey_added")).await?;
    assert_eq!(url.query(), Some("done=passkey_added"), "{url}");
    let listed = browser.find(Locator::Css("main")).await?.text().await?;
    assert!(listed.contains("This laptop"), "{listed}");
    Ok(())
}

/// How each live session of `email` signed in.
async fn session_amr(app: &crate::helpers::TestApp, email: &str) -> Vec<Vec<String>> {
    let core = app.core().await;
    let user = core
        .accounts
        .find_by_email(&gatehouse::domain::Email::parse(email).unwrap())
        .await
        .unwrap()
        .unwrap();
    let sessions = core.sessions.list(user.id).await.unwrap();
    sessions.iter().map(|s| s.amr.clone()).collect()
}

async fn sign_out(
    browser: &fantoccini::Client,
    issuer: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.goto(&format!("{issuer}/logout")).await?;
    click(browser, "button[type=submit]").await?;
    appears(browser, "main > p > a[href='/login']").await?;
    Ok(())
}
