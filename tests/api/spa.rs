//! `examples/spa` in headless Chromium against a real Gatehouse: the page on an origin of
//! its own signs in with the code flow and PKCE, calls UserInfo across origins (CORS),
//! refreshes, signs out, and refuses forged and replayed callbacks.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{Browser, installed, wait_for_url};
use crate::helpers::{Backend, TestApp, free_port, spawn_app_with};

const EMAIL: &str = "hedy@example.com";
const PASSWORD: &str = "frequency hopping";

/// Serves `examples/spa` as `python3 -m http.server` would, with the README's issuer
/// (`http://localhost:8080`, in `config.js` and the page's CSP) replaced by `issuer`.
async fn serve_spa(issuer: String) -> u16 {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/spa");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let (dir, issuer) = (dir.clone(), issuer.clone());
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let target = head.split(' ').nth(1).unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/");
                let name = if path == "/" {
                    "index.html"
                } else {
                    &path[1..]
                };
                let content_type = match name.rsplit('.').next() {
                    Some("html") => "text/html; charset=utf-8",
                    Some("js") => "text/javascript; charset=utf-8",
                    Some("css") => "text/css; charset=utf-8",
                    _ => "",
                };
                let file = (!content_type.is_empty()
                    && name.chars().all(|c| c.is_ascii_lowercase() || c == '.'))
                .then(|| std::fs::read_to_string(dir.join(name)).ok())
                .flatten();
                let response = match file {
                    Some(text) => {
                        let body = text.replace("http://localhost:8080", &issuer);
                        format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    None => {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_string()
                    }
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    port
}

/// The person's live sessions of the `spa` client, as Gatehouse lists them.
async fn spa_sessions(app: &TestApp, token: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/v1/auth/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["client_id"] == "spa")
        .cloned()
        .collect()
}

async fn text(browser: &Client, css: &str) -> Result<String, fantoccini::error::CmdError> {
    browser.find(Locator::Css(css)).await?.text().await
}

/// Waits (up to 10 s) until the element's text satisfies `done`, and returns the text.
async fn wait_for_text(
    browser: &Client,
    css: &str,
    done: impl Fn(&str) -> bool,
) -> Result<String, fantoccini::error::CmdError> {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && let Ok(t) = element.text().await
        {
            if done(&t) {
                return Ok(t);
            }
            last = t;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(last)
}

async fn wait_for_state(browser: &Client, state: &str) -> Result<(), fantoccini::error::CmdError> {
    browser
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&format!("#status[data-state={state}]")))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_single_page_app_signs_in_refreshes_and_signs_out_in_chromium() {
    if !installed() {
        eprintln!("not run: chromium and chromium-driver are not installed");
        return;
    }
    // Arrange: Gatehouse allowing the page's origin, the page's client, and a person.
    let gatehouse_port = free_port();
    let issuer = format!("http://127.0.0.1:{gatehouse_port}");
    let spa_port = serve_spa(issuer.clone()).await;
    let spa = format!("http://127.0.0.1:{spa_port}/");
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_LISTEN", &format!("127.0.0.1:{gatehouse_port}")),
            ("GATEHOUSE_ISSUER", &issuer),
            (
                "GATEHOUSE_CORS_ORIGINS",
                &format!("http://127.0.0.1:{spa_port}"),
            ),
        ],
    )
    .await;
    app.register_public_app("spa", &spa, &[&spa], false).await;
    app.register_user(EMAIL, PASSWORD).await;
    let observer = app.access_token(EMAIL, PASSWORD).await;

    let chromium = Browser::launch().await;
    let browser = chromium.client.clone();
    let result = async {
        // A forged callback, while a sign-in is in progress, is refused.
        browser.goto(&spa).await?;
        wait_for_state(&browser, "signed-out").await?;
        browser
            .find(Locator::Css("#sign-in"))
            .await?
            .click()
            .await?;
        let url = wait_for_url(&browser, |u| u.path().ends_with("/login")).await?;
        assert!(url.path().ends_with("/login"), "{url}");
        browser
            .goto(&format!("{spa}?code=forged&state=forged&iss={issuer}"))
            .await?;
        let error = wait_for_text(&browser, "#error", |t| !t.is_empty()).await?;
        assert!(error.contains("state does not match"), "{error}");
        assert_eq!(text(&browser, "#status").await?, "Signed out");
        assert_eq!(
            browser.current_url().await?.as_str(),
            spa,
            "the address is cleaned"
        );

        // Sign in: Gatehouse's login page, consent, and back with the user from UserInfo.
        browser
            .find(Locator::Css("#sign-in"))
            .await?
            .click()
            .await?;
        wait_for_url(&browser, |u| u.path().ends_with("/login")).await?;
        browser
            .find(Locator::Css("#email"))
            .await?
            .send_keys(EMAIL)
            .await?;
        browser
            .find(Locator::Css("#password"))
            .await?
            .send_keys(PASSWORD)
            .await?;
        browser
            .find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        wait_for_url(&browser, |u| u.path().ends_with("/oauth2/authorize")).await?;
        assert_eq!(text(&browser, "h1").await?, "Allow access?");
        browser
            .find(Locator::Css("button[value=allow]"))
            .await?
            .click()
            .await?;
        wait_for_state(&browser, "signed-in").await?;
        assert_eq!(text(&browser, "#email").await?, EMAIL);
        assert_eq!(text(&browser, "#error").await?, "");
        assert_eq!(
            browser.current_url().await?.as_str(),
            spa,
            "code and state are gone"
        );
        let first_sid = text(&browser, "#sid").await?;
        let sessions = spa_sessions(&app, &observer).await;
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0]["id"], first_sid.as_str());

        // The same callback again (a replay) is refused without spending the code: a code
        // presented twice would end the session it started.
        let callback = browser
            .execute(
                "return performance.getEntriesByType('navigation')[0].name",
                vec![],
            )
            .await?;
        let callback = callback.as_str().unwrap().to_string();
        assert!(callback.contains("code="), "{callback}");
        browser.goto(&callback).await?;
        let error = wait_for_text(&browser, "#error", |t| !t.is_empty()).await?;
        assert!(error.contains("no sign-in was in progress"), "{error}");
        assert_eq!(text(&browser, "#status").await?, "Signed out");
        let sessions = spa_sessions(&app, &observer).await;
        assert_eq!(sessions.len(), 1, "the first session is still live");

        // Signing in again takes one redirect: Gatehouse remembers the person and consent.
        browser
            .find(Locator::Css("#sign-in"))
            .await?
            .click()
            .await?;
        wait_for_state(&browser, "signed-in").await?;
        assert_eq!(text(&browser, "#email").await?, EMAIL);
        let sid = text(&browser, "#sid").await?;
        assert_ne!(sid, first_sid);

        // Refresh: a rotated refresh token, a new access token that UserInfo accepts.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        browser
            .find(Locator::Css("#refresh"))
            .await?
            .click()
            .await?;
        let refreshes = wait_for_text(&browser, "#refreshes", |t| t == "1").await?;
        assert_eq!(refreshes, "1");
        assert_eq!(text(&browser, "#email").await?, EMAIL);
        assert_eq!(text(&browser, "#error").await?, "");
        let sessions = spa_sessions(&app, &observer).await;
        let session = sessions.iter().find(|s| s["id"] == sid.as_str()).unwrap();
        assert_ne!(
            session["last_used_at"], session["created_at"],
            "the refresh reached Gatehouse"
        );

        // Sign out: the refresh token is revoked, and Gatehouse's own sign-in ends too.
        browser
            .find(Locator::Css("#sign-out"))
            .await?
            .click()
            .await?;
        let notice = wait_for_text(&browser, "#notice", |t| t == "You are signed out.").await?;
        assert_eq!(notice, "You are signed out.");
        assert_eq!(text(&browser, "#status").await?, "Signed out");
        assert_eq!(text(&browser, "#error").await?, "");
        let live: Vec<Value> = spa_sessions(&app, &observer)
            .await
            .into_iter()
            .filter(|s| s["id"] == sid.as_str())
            .collect();
        assert!(live.is_empty(), "the signed-out session is gone: {live:?}");
        browser.goto(&app.url("/account")).await?;
        let url = wait_for_url(&browser, |u| u.path().ends_with("/login")).await?;
        assert!(url.path().ends_with("/login"), "{url}");
        Ok::<_, fantoccini::error::CmdError>(())
    }
    .await;
    if result.is_err() {
        // Where the browser stood, for whoever reads a failed run.
        if let (Ok(url), Ok(source)) = (browser.current_url().await, browser.source().await) {
            eprintln!("the browser was at {url}:\n{source}");
        }
    }
    let _ = browser.close().await;
    result.expect("the single-page app in the browser");
}
