//! The adapter's answers, over steps a test scripts.

use async_trait::async_trait;
use oxide_auth::primitives::grant::Grant;

use super::*;
use crate::domain::Scopes;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};

/// Steps whose every answer a test chooses.
struct Scripted {
    redeemed: Result<(), OAuthError>,
    verifier_ok: bool,
    issued: Result<(), OAuthError>,
    calls: Vec<&'static str>,
}

#[async_trait]
impl CodeSteps for Scripted {
    async fn redeem(&mut self, _: &str) -> Result<(Grant, String), OAuthError> {
        self.calls.push("redeem");
        self.redeemed.clone()?;
        let grant = grant(
            "owner".into(),
            &Client::built_in().id,
            "openid",
            "https://app.example.com/cb",
        )?;
        Ok((grant, "challenge".into()))
    }
    fn verifier_matches(&self, _: &str, challenge: &str) -> bool {
        challenge == "challenge" && self.verifier_ok
    }
    async fn issue(&mut self) -> Result<(), OAuthError> {
        self.calls.push("issue");
        self.issued.clone()
    }
}

fn scripted() -> Scripted {
    Scripted {
        redeemed: Ok(()),
        verifier_ok: true,
        issued: Ok(()),
        calls: Vec::new(),
    }
}

async fn run(steps: &mut Scripted, redirect_uri: &str) -> Result<(), OAuthError> {
    let request = CodeRequest {
        code: "code",
        redirect_uri,
        code_verifier: "verifier",
    };
    exchange_code(&Client::built_in(), request, steps).await
}

const CB: &str = "https://app.example.com/cb";

#[tokio::test]
async fn a_good_exchange_redeems_then_issues() {
    let mut steps = scripted();
    run(&mut steps, CB).await.unwrap();
    assert_eq!(steps.calls, ["redeem", "issue"]);
}

#[tokio::test]
async fn a_store_outage_stays_temporarily_unavailable() {
    let mut steps = scripted();
    steps.redeemed = Err(OAuthError::unavailable());
    let e = run(&mut steps, CB).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
    let mut steps = scripted();
    steps.issued = Err(OAuthError::unavailable());
    let e = run(&mut steps, CB).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
}

#[tokio::test]
async fn unknown_codes_and_wrong_verifiers_are_invalid_grant_not_invalid_request() {
    let mut steps = scripted();
    steps.redeemed = Err(OAuthError::new(ErrorCode::InvalidGrant, "unknown"));
    let e = run(&mut steps, CB).await.unwrap_err();
    assert_eq!(
        (e.code, steps.calls.as_slice()),
        (ErrorCode::InvalidGrant, &["redeem"][..])
    );

    let mut steps = scripted();
    steps.verifier_ok = false;
    let e = run(&mut steps, CB).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert_eq!(steps.calls, ["redeem"], "nothing is issued");
}

#[tokio::test]
async fn a_redirect_uri_that_is_no_url_is_refused_before_the_code_is_spent() {
    let mut steps = scripted();
    let e = run(&mut steps, "not a url").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);
    assert!(steps.calls.is_empty());
}

/// Refresh steps whose every answer a test chooses.
struct ScriptedRefresh {
    recovered: Result<&'static str, OAuthError>,
    scope: &'static str,
    rotated: Result<(), OAuthError>,
    calls: Vec<&'static str>,
}

#[async_trait]
impl RefreshSteps for ScriptedRefresh {
    async fn recover(&mut self) -> Result<Grant, OAuthError> {
        self.calls.push("recover");
        let client_id = self.recovered.clone()?;
        session_grant("owner".into(), client_id, &Scopes::from_stored(self.scope))
    }
    async fn rotate(&mut self) -> Result<(), OAuthError> {
        self.calls.push("rotate");
        self.rotated.clone()
    }
}

fn scripted_refresh() -> ScriptedRefresh {
    ScriptedRefresh {
        recovered: Ok(Client::built_in().id.leak()),
        scope: "openid profile",
        rotated: Ok(()),
        calls: Vec::new(),
    }
}

async fn refresh_with(steps: &mut ScriptedRefresh, scope: Option<&str>) -> Result<(), OAuthError> {
    let scope = scope.map(Scopes::from_stored);
    let request = RefreshRequest {
        token: "token",
        scope: scope.as_ref(),
    };
    refresh(&Client::built_in(), request, steps).await
}

#[tokio::test]
async fn a_good_refresh_recovers_then_rotates_and_may_narrow() {
    let mut steps = scripted_refresh();
    refresh_with(&mut steps, Some("openid")).await.unwrap();
    assert_eq!(steps.calls, ["recover", "rotate"]);
}

#[tokio::test]
async fn a_wider_scope_or_another_clients_token_is_refused_before_rotating() {
    let mut steps = scripted_refresh();
    let e = refresh_with(&mut steps, Some("openid email"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidScope);
    assert_eq!(steps.calls, ["recover"]);

    let mut steps = scripted_refresh();
    steps.recovered = Ok("another-client");
    let e = refresh_with(&mut steps, None).await.unwrap_err();
    assert_eq!(
        e.code,
        ErrorCode::InvalidGrant,
        "not invalid_client: the client is fine"
    );
    assert_eq!(steps.calls, ["recover"]);
}

#[tokio::test]
async fn refresh_outages_stay_temporarily_unavailable_and_refusals_invalid_grant() {
    let mut steps = scripted_refresh();
    steps.recovered = Err(OAuthError::unavailable());
    let e = refresh_with(&mut steps, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);

    let mut steps = scripted_refresh();
    steps.recovered = Err(refresh_refused());
    let e = refresh_with(&mut steps, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidGrant);

    let mut steps = scripted_refresh();
    steps.rotated = Err(OAuthError::unavailable());
    let e = refresh_with(&mut steps, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::TemporarilyUnavailable);
}
