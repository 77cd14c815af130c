//! The pages and the authorization code flow, driven like a browser: cookies kept, forms
//! read for their CSRF token, redirects followed by hand.

mod authorize_refusals;
mod code_exchange;
mod code_flow;
mod pages;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::helpers::TestApp;

pub(crate) const PASSWORD: &str = "analytical engine";
pub(crate) const REDIRECT: &str = "https://app.example.com/callback";
pub(crate) const VERIFIER: &str =
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough-verifier";

/// A browser: keeps cookies, does not follow redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) location: Option<String>,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn csrf(&self) -> String {
        let marker = r#"name="csrf" value=""#;
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        self.body[start..].split('"').next().unwrap().to_string()
    }
}

impl<'a> Browser<'a> {
    pub(crate) fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self { app, client }
    }

    async fn page(response: reqwest::Response) -> Page {
        Page {
            status: response.status(),
            location: response
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            self.app.url(path)
        };
        Self::page(
            self.client
                .get(url)
                .header("accept-language", "en")
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        Self::page(
            self.client
                .post(self.app.url(path))
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    pub(crate) async fn register(&self, email: &str) {
        let form = self.get("/register").await;
        let page = self
            .post(
                "/register",
                &[
                    ("csrf", &form.csrf()),
                    ("email", email),
                    ("name", "Ada"),
                    ("password", PASSWORD),
                    ("password_confirm", PASSWORD),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    }

    pub(crate) async fn sign_in(&self, email: &str, return_to: &str) -> Page {
        let form = self
            .get(&format!("/login?return_to={}", enc(return_to)))
            .await;
        self.post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("email", email),
                ("password", PASSWORD),
                ("return_to", return_to),
            ],
        )
        .await
    }
}

pub(crate) fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

pub(crate) fn authorize_path(client_id: &str, extra: &str) -> String {
    format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20profile%20email\
         &state=xyz&nonce=n-0S6_WzA2Mj&code_challenge={}&code_challenge_method=S256{extra}",
        enc(REDIRECT),
        challenge()
    )
}

pub(crate) fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

pub(crate) async fn client(app: &TestApp, id: &str, first_party: bool) {
    app.register_public_app(id, REDIRECT, &["https://app.example.com/bye"], first_party)
        .await;
}

pub(crate) async fn exchange(
    app: &TestApp,
    client_id: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    app.token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", client_id),
    ])
    .await
}

pub(crate) fn claims(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}
