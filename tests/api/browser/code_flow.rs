//! The authorization code flow carried through: consent, PKCE, the ID token, userinfo,
//! signing out, and a client library of someone else's driving it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Browser, REDIRECT, VERIFIER, authorize_path, claims, client, enc, exchange, query_of};
use crate::helpers::{Backend, spawn_app, spawn_app_with};

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
