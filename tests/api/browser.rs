//! The pages and the authorization code flow, driven like a browser: cookies kept, forms
//! read for their CSRF token, redirects followed by hand.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use std::sync::Arc;

use gatehouse::clock::ManualClock;

use crate::helpers::{
    Backend, TestApp, assert_oauth_error, spawn_app, spawn_app_with, spawn_app_with_clock,
};

const PASSWORD: &str = "analytical engine";
const REDIRECT: &str = "https://app.example.com/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-long-enough-verifier";

/// A browser: keeps cookies, does not follow redirects.
pub(crate) struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    location: Option<String>,
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

    async fn register(&self, email: &str) {
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

    async fn sign_in(&self, email: &str, return_to: &str) -> Page {
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

fn enc(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()))
}

fn authorize_path(client_id: &str, extra: &str) -> String {
    format!(
        "/oauth2/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid%20profile%20email\
         &state=xyz&nonce=n-0S6_WzA2Mj&code_challenge={}&code_challenge_method=S256{extra}",
        enc(REDIRECT),
        challenge()
    )
}

fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

async fn client(app: &TestApp, id: &str, first_party: bool) {
    app.register_public_app(id, REDIRECT, &["https://app.example.com/bye"], first_party)
        .await;
}

async fn exchange(app: &TestApp, client_id: &str, code: &str, verifier: &str) -> reqwest::Response {
    app.token(&[
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", client_id),
    ])
    .await
}

fn claims(token: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap()
}

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
    let sessions: Value = app
        .client
        .get(app.url("/api/v1/auth/sessions"))
        .bearer_auth(&api)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
async fn the_code_flow_with_pkce_consent_and_an_id_token() {
    let app = spawn_app(Backend::Sqlite).await;
    client(&app, "webapp", false).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    let logout = browser.get("/logout").await;
    browser.post("/logout", &[("csrf", &logout.csrf())]).await;

    // Not signed in: to the login page, and back.
    let start = browser.get(&authorize_path("webapp", "")).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    let login = start.location.unwrap();
    assert!(login.starts_with("/login?return_to=%2Foauth2%2Fauthorize"));
    let return_to = query_of(&format!("http://x{login}"))["return_to"].clone();
    let back = browser.sign_in("ada@example.com", &return_to).await;
    let consent = browser.get(back.location.as_deref().unwrap()).await;
    assert_eq!(consent.status, StatusCode::OK);
    assert!(consent.body.contains("webapp") && consent.body.contains("See your email address"));

    let mut form: Vec<(String, String)> = query_of(&format!("http://x{return_to}"))
        .into_iter()
        .collect();
    form.push(("csrf".into(), consent.csrf()));
    form.push(("decision".into(), "allow".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let redirected = browser.post("/oauth2/authorize", &form).await;
    assert_eq!(redirected.status, StatusCode::SEE_OTHER);
    let location = redirected.location.unwrap();
    assert!(location.starts_with(REDIRECT));
    let params = query_of(&location);
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], app.issuer);
    let code = params["code"].clone();

    // A wrong verifier fails — and spends the code.
    let wrong = exchange(&app, "webapp", &code, &format!("{VERIFIER}x")).await;
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    // Consent is remembered: the next authorization goes straight back with a code.
    let again = browser.get(&authorize_path("webapp", "")).await;
    let location = again.location.expect("no consent page the second time");
    let code = query_of(&location)["code"].clone();
    let response = exchange(&app, "webapp", &code, VERIFIER).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let id = claims(tokens["id_token"].as_str().unwrap());
    let access = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(id["aud"], "webapp");
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["sid"], access["sid"]);
    assert_eq!(id["email"], "ada@example.com");
    let expected_hash = URL_SAFE_NO_PAD
        .encode(&Sha256::digest(tokens["access_token"].as_str().unwrap().as_bytes())[..16]);
    assert_eq!(id["at_hash"], expected_hash);
    assert!(id["auth_time"].is_i64());
    assert_eq!(access["client_id"], "webapp");
    let userinfo: Value = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], id["sub"]);
    // A third-party application's token cannot act on the account through Gatehouse's API.
    let own_api = app.me(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(own_api.status(), 403);

    // The code is single-use; a replay ends the session its first use started.
    let replay = exchange(&app, "webapp", &code, VERIFIER).await;
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let refreshed = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
            ("client_id", "webapp"),
        ])
        .await;
    assert_eq!(refreshed.status(), 400);

    // Deny.
    let mut deny = browser
        .get(&authorize_path("webapp", "&prompt=consent"))
        .await;
    assert_eq!(deny.status, StatusCode::OK, "prompt=consent asks again");
    let csrf = deny.csrf();
    let mut form: Vec<(String, String)> = query_of(&format!(
        "http://x{}",
        authorize_path("webapp", "&prompt=consent")
    ))
    .into_iter()
    .collect();
    form.push(("csrf".into(), csrf));
    form.push(("decision".into(), "deny".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    deny = browser.post("/oauth2/authorize", &form).await;
    assert_eq!(query_of(&deny.location.unwrap())["error"], "access_denied");

    // RP-initiated logout with the ID token and a registered URI.
    let logout = browser
        .get(&format!(
            "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}&state=bye",
            tokens["id_token"].as_str().unwrap(),
            enc("https://app.example.com/bye")
        ))
        .await;
    assert_eq!(
        logout.location.as_deref(),
        Some("https://app.example.com/bye?state=bye")
    );
    assert_eq!(
        browser.get("/account").await.status,
        StatusCode::SEE_OTHER,
        "the browser is signed out"
    );
    let unregistered = browser
        .get(&format!(
            "/oauth2/logout?id_token_hint={}&post_logout_redirect_uri={}",
            tokens["id_token"].as_str().unwrap(),
            enc("https://evil.example.com/")
        ))
        .await;
    assert_eq!(unregistered.status, StatusCode::BAD_REQUEST);
    assert!(unregistered.location.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_endpoint_refuses_by_name() {
    let clock = Arc::new(ManualClock::starting_now());
    let app = spawn_app_with_clock(
        Backend::Sqlite,
        &[("GATEHOUSE_AUTH_CODE_TTL", "1s")],
        clock.clone(),
    )
    .await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);

    // Not trusted yet: an error page, never a redirect.
    for path in [
        authorize_path("nope", ""),
        authorize_path("webapp", "").replace(&enc(REDIRECT), &enc("https://evil.example.com/cb")),
        "/oauth2/authorize?response_type=code".to_string(),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(page.location.is_none(), "{path}");
    }
    // prompt=none without a session.
    let page = browser.get(&authorize_path("webapp", "&prompt=none")).await;
    assert_eq!(query_of(&page.location.unwrap())["error"], "login_required");

    browser.register("ada@example.com").await;
    let cases = [
        (
            authorize_path("webapp", "").replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            authorize_path("webapp", "")
                .replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (
            authorize_path("webapp", "").replace(&format!("&code_challenge={}", challenge()), ""),
            "invalid_request",
        ),
        (
            authorize_path("webapp", "&request=eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
        (
            authorize_path("webapp", "&request_uri=https%3A%2F%2Fx"),
            "request_uri_not_supported",
        ),
        (
            authorize_path("webapp", "")
                .replace("scope=openid%20profile%20email", "scope=openid%20admin"),
            "invalid_scope",
        ),
    ];
    for (path, error) in cases {
        let page = browser.get(&path).await;
        let location = page
            .location
            .unwrap_or_else(|| panic!("{path}: {}", page.body));
        let params = query_of(&location);
        assert_eq!(params["error"], error, "{path}");
        assert_eq!(params["state"], "xyz", "{path}");
    }

    // A first-party client skips consent; prompt=login asks for the password again.
    let page = browser.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();
    let relogin = browser
        .get(&authorize_path("webapp", "&prompt=login"))
        .await;
    assert!(relogin.location.unwrap().starts_with("/login"));

    // Codes live GATEHOUSE_AUTH_CODE_TTL; a wrong redirect URI is refused.
    let mismatch = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/other"),
            ("code_verifier", VERIFIER),
            ("client_id", "webapp"),
        ])
        .await;
    assert_eq!(
        mismatch.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let page = browser.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();
    clock.advance(std::time::Duration::from_secs(2));
    let expired = exchange(&app, "webapp", &code, VERIFIER).await;
    assert_eq!(
        expired.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    // A sign-in older than max_age must be repeated.
    let stale = browser.get(&authorize_path("webapp", "&max_age=0")).await;
    assert!(stale.location.unwrap().starts_with("/login"));
    let fresh_enough = browser
        .get(&authorize_path("webapp", "&max_age=3600"))
        .await;
    assert!(query_of(&fresh_enough.location.unwrap()).contains_key("code"));
}

/// Interoperability: a client library nobody on this project wrote drives the flow —
/// discovery, PKCE, code exchange, ID token validation (signature, nonce, at_hash),
/// userinfo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openidconnect_crate_completes_the_flow() {
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
    };
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    };

    // The issuer must be the address the library reaches, so pick the port first.
    let port = crate::helpers::free_port();
    let listen = format!("127.0.0.1:{port}");
    let issuer = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(
        Backend::Sqlite,
        &[("GATEHOUSE_LISTEN", &listen), ("GATEHOUSE_ISSUER", &issuer)],
    )
    .await;
    client(&app, "relying-party", true).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;

    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let rp =
        CoreClient::from_provider_metadata(metadata, ClientId::new("relying-party".into()), None)
            .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let page = browser.get(url.as_str()).await;
    let location = page.location.unwrap_or_else(|| panic!("{}", page.body));
    let params = query_of(&location);
    assert_eq!(&params["state"], csrf.secret());
    let tokens = rp
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");

    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(claims.email().map(|e| e.as_str()), Some("ada@example.com"));
    let expected = claims.access_token_hash().expect("at_hash");
    let actual = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(&actual, expected);
    let info: CoreUserInfoClaims = rp
        .user_info(tokens.access_token().to_owned(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject(), claims.subject());
    assert!(tokens.refresh_token().is_some());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_persons_id_token_does_not_sign_this_browser_out_without_asking() {
    let app = spawn_app(Backend::Sqlite).await;
    client(&app, "webapp", true).await;
    // The attacker's own ID token.
    let attacker = Browser::new(&app);
    attacker.register("mallory@example.com").await;
    let page = attacker.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();
    let tokens: Value = exchange(&app, "webapp", &code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_string();
    // The victim follows a link carrying it.
    let victim = Browser::new(&app);
    victim.register("ada@example.com").await;

    let page = victim
        .get(&format!("/oauth2/logout?id_token_hint={id_token}"))
        .await;

    assert_eq!(page.status, StatusCode::OK, "asks instead of signing out");
    assert!(page.body.contains(r#"name="csrf""#));
    assert_eq!(
        victim.get("/account").await.status,
        StatusCode::OK,
        "still signed in"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_during_the_code_exchange_leaves_the_code_usable() {
    if crate::helpers::redis_url().is_none() {
        eprintln!("not run: GATEHOUSE_TEST_REDIS_URL is not set");
        return;
    }
    let mut redis = crate::redis_outage::OwnRedis::start();
    let url = redis.url();
    let app = spawn_app_with(
        Backend::Sqlite,
        &[
            ("GATEHOUSE_REDIS_URL", &url),
            ("GATEHOUSE_AUTH_CODE_TTL", "10m"),
        ],
    )
    .await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    let page = browser.get(&authorize_path("webapp", "")).await;
    let code = query_of(&page.location.unwrap())["code"].clone();

    redis.stop();
    let during = exchange(&app, "webapp", &code, VERIFIER).await;
    assert_oauth_error(during, 503, "temporarily_unavailable").await;
    redis.spawn();

    let mut status = 0;
    for _ in 0..50 {
        status = exchange(&app, "webapp", &code, VERIFIER)
            .await
            .status()
            .as_u16();
        if status != 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the retry after the outage was refused");
}

/// OpenID Connect Core 3.1.2.1: the request may be POSTed from the client's site; only the
/// consent form's answer needs the CSRF field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_may_post_its_authorization_request() {
    let app = spawn_app(Backend::Sqlite).await;
    client(&app, "webapp", false).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    let request: Vec<(String, String)> =
        query_of(&format!("http://x{}", authorize_path("webapp", "")))
            .into_iter()
            .collect();
    let form: Vec<(&str, &str)> = request
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();

    // Signed in, consent not yet given: the consent page, as by GET.
    let consent = browser.post("/oauth2/authorize", &form).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.body.contains("webapp"));

    // The consent form's own answer still needs the CSRF field.
    let mut answer = form.clone();
    answer.push(("decision", "allow"));
    let forged = browser.post("/oauth2/authorize", &answer).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = consent.csrf();
    answer.push(("csrf", &csrf));
    let allowed = browser.post("/oauth2/authorize", &answer).await;
    assert!(allowed.location.unwrap().starts_with(REDIRECT));

    // Consent remembered: a POSTed request goes straight back with a code that works.
    let again = browser.post("/oauth2/authorize", &form).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    let location = again.location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let params = query_of(&location);
    assert_eq!(params["state"], "xyz");
    let tokens = exchange(&app, "webapp", &params["code"], VERIFIER).await;
    assert_eq!(tokens.status(), 200);

    // A browser whose cookie the cross-site POST did not carry: the same request by GET,
    // where a `SameSite=Lax` cookie is sent, and from there to the sign-in page.
    let stranger = Browser::new(&app);
    let bounced = stranger.post("/oauth2/authorize", &form).await;
    assert_eq!(bounced.status, StatusCode::SEE_OTHER);
    let get = bounced.location.unwrap();
    assert!(get.starts_with("/oauth2/authorize?"), "{get}");
    assert_eq!(
        query_of(&format!("http://x{get}")),
        query_of(&format!("http://x{}", authorize_path("webapp", "")))
    );
    let login = stranger.get(&get).await;
    assert!(login.location.unwrap().starts_with("/login?return_to="));
}

crate::on_every_backend!(concurrent_exchanges_of_one_code_end_the_session_it_started);

/// RFC 6749 §4.1.2: two exchanges of one code sent at the same moment never leave a live
/// session behind — as for a replay that comes later, the session the code started ends. Repeated, because the race is between the winner's redemption and its
/// session being recorded.
async fn concurrent_exchanges_of_one_code_end_the_session_it_started(backend: Backend) {
    let app = spawn_app(backend).await;
    client(&app, "webapp", true).await;
    let browser = Browser::new(&app);
    browser.register("ada@example.com").await;
    // Two connections of their own, opened beforehand, so that both requests leave at once.
    let racers = [reqwest::Client::new(), reqwest::Client::new()];
    for racer in &racers {
        racer.get(app.url("/healthz")).send().await.unwrap();
    }
    let own = app.access_token("ada@example.com", PASSWORD).await;

    for attempt in 0..20 {
        let page = browser.get(&authorize_path("webapp", "")).await;
        let code = query_of(&page.location.expect("a code without consent"))["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", "webapp"),
        ];
        let send =
            |racer: &reqwest::Client| racer.post(app.url("/oauth2/token")).form(&form).send();
        let (first, second) = tokio::join!(send(&racers[0]), send(&racers[1]));
        let mut answers = Vec::new();
        for answer in [first.unwrap(), second.unwrap()] {
            answers.push((
                answer.status().as_u16(),
                answer.json::<Value>().await.unwrap(),
            ));
        }
        answers.sort_by_key(|(status, _)| *status);

        // Whichever exchange learns of the other first: either the loser ends the session
        // the winner already answered with, or the winner learns of the replay before it
        // signs anything and refuses too.
        assert!(
            matches!((answers[0].0, answers[1].0), (200, 400) | (400, 400)),
            "attempt {attempt}: {answers:?}"
        );
        assert_eq!(answers[1].1["error"], "invalid_grant", "attempt {attempt}");
        let live: Value = app
            .client
            .get(app.url("/api/v1/auth/sessions"))
            .bearer_auth(&own)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            live["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["client_id"] != "webapp"),
            "attempt {attempt}: the code's session is still live: {live}"
        );
        if answers[0].0 == 400 {
            continue;
        }
        let tokens = &answers[0].1;
        let refreshed = app
            .token(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
                ("client_id", "webapp"),
            ])
            .await;
        assert_eq!(
            refreshed.status(),
            400,
            "attempt {attempt}: the winner's refresh token still works"
        );
        let userinfo = app
            .client
            .get(app.url("/oauth2/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(
            userinfo.status(),
            401,
            "attempt {attempt}: the winner's access token still works"
        );
    }
}
