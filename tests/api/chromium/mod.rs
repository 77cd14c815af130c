//! End to end in a real browser: headless Chromium, driven through WebDriver
//! (chromedriver and the `fantoccini` client). Registration, sign-in and consent are
//! filled in like a person would, and the browser lands on the client with a code;
//! `passkeys.rs` does the same with a virtual authenticator.

mod console;
mod passkeys;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{Backend, free_port, spawn_app};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

struct Driver(Child);

/// Whether Chromium and chromedriver are installed (a test without them says `not run`).
pub fn installed() -> bool {
    std::path::Path::new(CHROMIUM).exists() && std::path::Path::new(CHROMEDRIVER).exists()
}

/// Headless Chromium with a fresh profile, driven through a chromedriver of its own; the
/// driver is stopped when this is dropped (call `client.close()` first to end the browser).
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn launch() -> Self {
        let port = free_port();
        let driver = Driver(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--no-first-run", "--disable-component-update",
                         "--disable-sync", "--window-size=420,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }),
        );
        for _ in 0..50 {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => {
                    return Self {
                        client,
                        _driver: driver,
                        _profile: profile,
                    };
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("chromedriver does not start");
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A client's redirect endpoint: answers every request with a short page.
async fn relying_party() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = "<html><body>signed in</body></html>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// Types `text` into the element `css` names.
pub async fn fill(
    browser: &fantoccini::Client,
    css: &str,
    text: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.find(Locator::Css(css)).await?.send_keys(text).await
}

/// Clicks the element `css` names.
pub async fn click(
    browser: &fantoccini::Client,
    css: &str,
) -> Result<(), fantoccini::error::CmdError> {
    browser.find(Locator::Css(css)).await?.click().await
}

/// Waits (up to 10 s) for the element `css` names to appear.
pub async fn appears(
    browser: &fantoccini::Client,
    css: &str,
) -> Result<fantoccini::elements::Element, fantoccini::error::CmdError> {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
}

/// Waits (up to 10 s) until the browser's address satisfies `done`: a click starts a
/// navigation that may not have finished when the click returns.
pub async fn wait_for_url(
    browser: &fantoccini::Client,
    done: impl Fn(&url::Url) -> bool,
) -> Result<url::Url, fantoccini::error::CmdError> {
    let mut url = browser.current_url().await?;
    for _ in 0..100 {
        if done(&url) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        url = browser.current_url().await?;
    }
    Ok(url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_signs_up_signs_in_and_consents_in_chromium() {
    if !installed() {
        eprintln!("not run: chromium and chromium-driver are not installed");
        return;
    }
    let app = spawn_app(Backend::Sqlite).await;
    let rp = relying_party().await;
    let redirect = format!("http://127.0.0.1:{rp}/callback");
    app.register_public_app("webapp", &redirect, &[], false)
        .await;

    let chromium = Browser::launch().await;
    let browser = chromium.client.clone();
    let result = async {
        // Sign up.
        browser.goto(&app.url("/register")).await?;
        browser.find(Locator::Css("#email")).await?.send_keys("grace@example.com").await?;
        browser.find(Locator::Css("#name")).await?.send_keys("Grace").await?;
        browser.find(Locator::Css("#password")).await?.send_keys("compiler cobol").await?;
        browser.find(Locator::Css("#password_confirm")).await?.send_keys("compiler cobol").await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        let url = wait_for_url(&browser, |u| u.path().ends_with("/account")).await?;
        assert!(url.path().ends_with("/account"), "{url}");
        // Sign out.
        browser.goto(&app.url("/logout")).await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::XPath("//h1[contains(., 'signed out')]"))
            .await?;

        // An application sends the person here.
        let challenge = {
            use base64::Engine;
            use sha2::Digest;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(b"a-verifier-of-more-than-forty-three-characters-0123456789"))
        };
        let authorize = format!(
            "/oauth2/authorize?response_type=code&client_id=webapp&redirect_uri={}&scope=openid%20email&state=s1&code_challenge={challenge}&code_challenge_method=S256",
            url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
        );
        browser.goto(&app.url(&authorize)).await?;
        let url = wait_for_url(&browser, |u| u.path().ends_with("/login")).await?;
        assert!(url.path().ends_with("/login"), "{url}");
        browser.find(Locator::Css("#email")).await?.send_keys("grace@example.com").await?;
        browser.find(Locator::Css("#password")).await?.send_keys("compiler cobol").await?;
        browser.find(Locator::Css("button[type=submit]")).await?.click().await?;
        // Consent.
        wait_for_url(&browser, |u| u.path().ends_with("/oauth2/authorize")).await?;
        let heading = browser.find(Locator::Css("h1")).await?.text().await?;
        assert_eq!(heading, "Allow access?");
        std::fs::write(
            std::env::temp_dir().join("gatehouse-consent.png"),
            browser.screenshot().await?,
        )
        .ok();
        browser.find(Locator::Css("button[value=allow]")).await?.click().await?;
        let landed = wait_for_url(&browser, |u| u.port() == Some(rp)).await?;
        assert_eq!(landed.port(), Some(rp));
        let params: std::collections::HashMap<_, _> = landed.query_pairs().into_owned().collect();
        assert_eq!(params["state"], "s1");
        assert!(params.contains_key("code"));
        Ok::<_, fantoccini::error::CmdError>(params["code"].clone())
    }
    .await;
    let _ = browser.close().await;
    let code = result.expect("the browser flow");

    let exchanged = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &redirect),
            (
                "code_verifier",
                "a-verifier-of-more-than-forty-three-characters-0123456789",
            ),
            ("client_id", "webapp"),
        ])
        .await;
    assert_eq!(exchanged.status(), 200);
}

/// A role that requires a second factor, in a real browser: the login page shows the QR
/// code and key after the password, the first code turns it on and shows the recovery
/// codes, and the next sign-in asks for a code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_sets_up_and_uses_a_second_factor_in_chromium() {
    use gatehouse::auth::mfa::totp::TotpSecret;
    use gatehouse::clock::{Clock, ManualClock};

    if !installed() {
        eprintln!("not run: chromium and chromium-driver are not installed");
        return;
    }
    let clock = std::sync::Arc::new(ManualClock::starting_now());
    let policy = [("GATEHOUSE_MFA_REQUIRED_ROLES", "admin")];
    let app = crate::helpers::spawn_app_with_clock(Backend::Sqlite, &policy, clock.clone()).await;
    app.register_user("root@example.com", "correct horse battery")
        .await;
    app.make_admin("root@example.com").await;

    let chromium = Browser::launch().await;
    let browser = chromium.client.clone();
    let sign_in = |browser: fantoccini::Client| {
        let login = app.url("/login");
        async move {
            browser.goto(&login).await?;
            browser
                .find(Locator::Css("#email"))
                .await?
                .send_keys("root@example.com")
                .await?;
            browser
                .find(Locator::Css("#password"))
                .await?
                .send_keys("correct horse battery")
                .await?;
            browser
                .find(Locator::Css("button[type=submit]"))
                .await?
                .click()
                .await?;
            browser
                .wait()
                .at_most(Duration::from_secs(10))
                .for_element(Locator::Css("#code"))
                .await?;
            Ok::<_, fantoccini::error::CmdError>(())
        }
    };
    let result = async {
        sign_in(browser.clone()).await?;
        assert!(
            browser.find(Locator::Css("figure.qr svg")).await.is_ok(),
            "a QR code"
        );
        let key = browser
            .find(Locator::Css("main p code"))
            .await?
            .text()
            .await?;
        let secret = TotpSecret::from_base32(&key).expect("the key as text");
        let code = secret.code_at(clock.now());
        browser
            .find(Locator::Css("#code"))
            .await?
            .send_keys(&code)
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let codes = browser
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css("ul.codes"))
            .await?;
        assert_eq!(codes.find_all(Locator::Css("li")).await?.len(), 10);
        std::fs::write(
            std::env::temp_dir().join("gatehouse-recovery-codes.png"),
            browser.screenshot().await?,
        )
        .ok();
        browser
            .find(Locator::Css("a.button"))
            .await?
            .click()
            .await?;
        let url = wait_for_url(&browser, |u| u.path() == "/account").await?;
        assert_eq!(url.path(), "/account");

        // Signed out, the next sign-in asks for a code (a later step: each is used once).
        browser.goto(&app.url("/logout")).await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for_url(&browser, |u| u.path() != "/logout").await?;
        sign_in(browser.clone()).await?;
        assert!(
            browser.find(Locator::Css("figure.qr")).await.is_err(),
            "no new enrollment"
        );
        clock.advance(Duration::from_secs(30));
        let code = secret.code_at(clock.now());
        browser
            .find(Locator::Css("#code"))
            .await?
            .send_keys(&code)
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        let url = wait_for_url(&browser, |u| u.path() == "/account").await?;
        assert_eq!(url.path(), "/account");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    let _ = browser.close().await;
    result.expect("the browser flow");
}
