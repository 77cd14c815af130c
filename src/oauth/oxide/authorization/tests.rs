//! The authorization request's answers, over a real (in-memory SQLite) client registry and
//! code store: what reaches a page, what goes back to the client, and what an outage gives.

use std::sync::Arc;

use super::*;
use crate::clock::{Clock, ManualClock};
use crate::domain::{Email, NewUser, Profile, Secret, UserName};
use crate::oauth::authorize::Untrusted;
use crate::oauth::client::{ClientRegistry, NewClient};
use crate::store::{AuthorizationStore, Database, Redemption, UserStore};

const CB: &str = "https://app.example.com/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

struct Fixture {
    db: Database,
    clock: Arc<ManualClock>,
    endpoint: AuthorizationEndpoint,
    user_id: UserId,
}

async fn fixture() -> Fixture {
    let db = Database::connect("sqlite::memory:", 1).await.unwrap();
    db.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::starting_now());
    let clients = ClientRegistry::new(Arc::new(db.clone()));
    let new = NewClient {
        id: "webapp".into(),
        public: true,
        secret: None,
        redirect_uris: vec![CB.into()],
        post_logout_redirect_uris: vec![],
        grants: vec!["authorization_code".into()],
        scopes: vec!["openid".into(), "profile".into(), "email".into()],
        permissions: vec![],
        first_party: true,
    };
    clients.create(new, clock.now()).await.unwrap();
    let user = NewUser {
        id: UserId::generate(),
        email: Email::parse("ada@example.com").unwrap(),
        name: UserName::parse("Ada").unwrap(),
        password_hash: Secret::new("unused".into()),
        roles: vec![],
        email_verified: true,
        profile: Profile::default(),
        created_at: clock.now(),
        legacy_id: None,
    };
    db.create_user(&user).await.unwrap();
    let endpoint = AuthorizationEndpoint::new(
        clients,
        Arc::new(db.clone()),
        clock.clone(),
        "https://id.example.com",
        std::time::Duration::from_secs(60),
    );
    Fixture {
        db,
        clock,
        endpoint,
        user_id: user.id,
    }
}

fn request(scope: &str) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: Some("webapp".into()),
        redirect_uri: Some(CB.into()),
        response_type: Some("code".into()),
        scope: Some(scope.into()),
        state: Some("xyz".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        nonce: Some("n-0S6".into()),
        ..AuthorizeRequest::default()
    }
}

/// The browser session the person agreed in: signed in an hour ago with a second factor.
fn browser(f: &Fixture) -> crate::domain::Session {
    let now = f.clock.now();
    let signed_in = chrono::DurationRound::duration_trunc(
        now - chrono::Duration::hours(1),
        chrono::Duration::seconds(1),
    )
    .unwrap();
    crate::domain::Session {
        id: crate::domain::SessionId::generate(),
        user_id: f.user_id,
        client_id: crate::oauth::BROWSER_CLIENT_ID.into(),
        scope: Scopes::from_stored("openid"),
        created_at: signed_in,
        last_used_at: now,
        absolute_expires_at: now + chrono::Duration::days(1),
        idle_expires_at: now + chrono::Duration::days(1),
        auth_time: signed_in,
        amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
        ip: None,
        user_agent: None,
    }
}

/// The request `request("openid")` as `change` leaves it.
fn with(change: fn(&mut AuthorizeRequest)) -> AuthorizeRequest {
    let mut req = request("openid");
    change(&mut req);
    req
}

fn params(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_code_carries_the_request_in_its_order_with_its_challenge_and_nonce() {
    let f = fixture().await;
    let valid = f
        .endpoint
        .validate(&request("email openid profile"))
        .await
        .unwrap();
    assert_eq!(valid.scope.to_string(), "email openid profile");
    let url = issue_code(&f.endpoint, &valid, f.user_id, &browser(&f))
        .await
        .unwrap();
    assert!(url.starts_with(CB), "{url}");
    let params = params(&url);
    assert_eq!(params["state"], "xyz");
    assert_eq!(params["iss"], "https://id.example.com");
    let hash = crate::oauth::authorize::code_hash(&params["code"]);
    let Redemption::Fresh(code) = f.db.redeem_code(&hash, f.clock.now()).await.unwrap() else {
        panic!("the code was not stored");
    };
    assert_eq!(code.scope, "email openid profile");
    assert_eq!(code.redirect_uri, CB);
    assert_eq!(code.code_challenge, CHALLENGE);
    assert_eq!(code.nonce.as_deref(), Some("n-0S6"));
    assert_eq!(code.user_id, f.user_id);
    assert_eq!(code.amr, ["pwd", "otp", "mfa"]);
    assert_eq!(code.auth_time, browser(&f).auth_time);
}

#[tokio::test]
async fn requests_without_a_trusted_client_stop_on_a_page() {
    let f = fixture().await;
    let cases = [
        (with(|r| r.client_id = None), Untrusted::NoClient),
        (
            with(|r| r.client_id = Some("nope".into())),
            Untrusted::UnknownClient,
        ),
        (with(|r| r.redirect_uri = None), Untrusted::NoRedirectUri),
        (
            with(|r| r.redirect_uri = Some("https://evil.example.com/cb".into())),
            Untrusted::UnregisteredRedirectUri,
        ),
        (
            with(|r| r.redirect_uri = Some("not a url".into())),
            Untrusted::UnregisteredRedirectUri,
        ),
        (
            with(|r| r.repeated = vec!["redirect_uri".into()]),
            Untrusted::Repeated("redirect_uri"),
        ),
    ];
    for (req, why) in cases {
        match f.endpoint.validate(&req).await {
            Err(AuthorizeError::Page(found)) => assert_eq!(found, why, "{req:?}"),
            other => panic!("{req:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn refusals_after_the_client_is_known_go_back_to_it() {
    let f = fixture().await;
    let cases = [
        (with(|r| r.response_type = None), "invalid_request"),
        (
            with(|r| r.response_type = Some("token".into())),
            "unsupported_response_type",
        ),
        (
            with(|r| r.scope = Some("openid \"x".into())),
            "invalid_scope",
        ),
        (
            with(|r| r.scope = Some("openid admin".into())),
            "invalid_scope",
        ),
        (with(|r| r.code_challenge = None), "invalid_request"),
        (
            with(|r| r.repeated = vec!["scope".into()]),
            "invalid_request",
        ),
    ];
    for (req, error) in cases {
        match f.endpoint.validate(&req).await {
            Err(AuthorizeError::Redirect(to)) => {
                let params = params(&to);
                assert_eq!(params["error"], error, "{req:?}");
                assert!(!params["error_description"].is_empty(), "{req:?}");
                assert_eq!(params["iss"], "https://id.example.com");
            }
            other => panic!("{req:?}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_outage_is_unavailable_never_a_refusal() {
    let f = fixture().await;
    // The client is cached by the first request; the code store then fails.
    let valid = f.endpoint.validate(&request("openid")).await.unwrap();
    f.db.close().await;
    let issued = issue_code(&f.endpoint, &valid, f.user_id, &browser(&f)).await;
    assert!(
        matches!(issued, Err(AuthorizeError::Unavailable)),
        "{issued:?}"
    );

    // An uncached client cannot be looked up.
    let mut other = request("openid");
    other.client_id = Some("other".into());
    let looked_up = f.endpoint.validate(&other).await;
    assert!(
        matches!(looked_up, Err(AuthorizeError::Unavailable)),
        "{looked_up:?}"
    );
}
