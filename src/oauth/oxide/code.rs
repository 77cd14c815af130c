//! The authorization code exchange through `oxide_auth_async::code_grant::access_token`.

use std::borrow::Cow;

use async_trait::async_trait;
use oxide_auth::code_grant::accesstoken::{
    Authorization, Error as FlowError, Request as TokenRequest,
};
use oxide_auth::primitives::grant::{Extensions, Grant, Value};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth::primitives::scope::Scope;
use oxide_auth_async::code_grant::access_token::{self, Endpoint, Extension};
use oxide_auth_async::primitives::{Authorizer, Issuer, Registrar};

use super::{KnownClient, Verdict, never};
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};

/// What a grant carries from the code to the token step: the PKCE challenge.
const PKCE: &str = "gatehouse/pkce";

/// Gatehouse's side of one code exchange: the steps the flow asks for.
#[async_trait]
pub trait CodeSteps: Send + Sync {
    /// Redeems `code` (spending it): the grant it stands for, its PKCE challenge, or the
    /// answer to give instead.
    async fn redeem(&mut self, code: &str) -> Result<(Grant, String), OAuthError>;
    /// Whether `verifier` answers the challenge the code was bound to.
    fn verifier_matches(&self, verifier: &str, challenge: &str) -> bool;
    /// Starts the session and signs the tokens of a redeemed code.
    async fn issue(&mut self) -> Result<(), OAuthError>;
}

/// The exchange as the crate reads the request: our already-checked values.
struct Form<'a> {
    client_id: &'a str,
    code: &'a str,
    redirect_uri: &'a str,
    code_verifier: &'a str,
}

impl TokenRequest for Form<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn code(&self) -> Option<Cow<'_, str>> {
        Some(self.code.into())
    }
    /// The client was authenticated before the flow (percent-decoded Basic, or a body
    /// secret); the flow only binds the code to it.
    fn authorization(&self) -> Authorization<'_> {
        Authorization::None
    }
    fn client_id(&self) -> Option<Cow<'_, str>> {
        Some(self.client_id.into())
    }
    fn redirect_uri(&self) -> Option<Cow<'_, str>> {
        Some(self.redirect_uri.into())
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        Some("authorization_code".into())
    }
    fn extension(&self, key: &str) -> Option<Cow<'_, str>> {
        (key == "code_verifier").then(|| self.code_verifier.into())
    }
}

/// One exchange: the crate's endpoint and primitives, over our steps.
struct Exchange<'a> {
    client: KnownClient<'a>,
    steps: &'a mut dyn CodeSteps,
    code_verifier: &'a str,
    verdict: Verdict,
}

/// The code of an exchange, as sent.
pub struct CodeRequest<'a> {
    pub code: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: &'a str,
}

/// Runs the authorization code exchange of an authenticated `client` through oxide-auth.
/// `Ok` when `steps` issued the tokens.
pub async fn exchange_code(
    client: &Client,
    request: CodeRequest<'_>,
    steps: &mut dyn CodeSteps,
) -> Result<(), OAuthError> {
    let form = Form {
        client_id: &client.id,
        code: request.code,
        redirect_uri: request.redirect_uri,
        code_verifier: request.code_verifier,
    };
    let mut exchange = Exchange {
        client: KnownClient(client),
        steps,
        code_verifier: request.code_verifier,
        verdict: Verdict::default(),
    };
    let outcome = access_token::access_token(&mut exchange, &form).await;
    exchange.verdict.answer(outcome, |e| flow_error(&e))
}

/// A refusal of the crate's own, where no primitive decided the answer: a redirect URI
/// that is not a URL (ours compares the code's exactly when it is redeemed).
fn flow_error(e: &FlowError) -> OAuthError {
    match e {
        FlowError::Invalid(_) => OAuthError::new(
            ErrorCode::InvalidGrant,
            "redirect_uri differs from the authorization request",
        ),
        FlowError::Unauthorized(..) => {
            OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
        }
        FlowError::Primitive(_) => OAuthError::server_error(),
    }
}

/// A grant for a code issued to `client_id`, bound to `redirect_uri`.
pub fn grant(
    owner: String,
    client_id: &str,
    scope: &str,
    redirect_uri: &str,
) -> Result<Grant, OAuthError> {
    let unreadable = |what: &str| {
        tracing::error!(what, "a stored authorization code cannot be read");
        OAuthError::server_error()
    };
    Ok(Grant {
        owner_id: owner,
        client_id: client_id.to_string(),
        scope: scope.parse::<Scope>().map_err(|_| unreadable("scope"))?,
        redirect_uri: redirect_uri
            .parse()
            .map_err(|_| unreadable("redirect_uri"))?,
        until: never(),
        extensions: Extensions::new(),
    })
}

impl Endpoint for Exchange<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.client
    }
    fn authorizer(&mut self) -> &mut (dyn Authorizer + Send) {
        self
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        self
    }
    fn extension(&mut self) -> &mut (dyn Extension + Send) {
        self
    }
}

#[async_trait]
impl Authorizer for Exchange<'_> {
    /// Codes are issued by our authorization endpoint, not through this exchange.
    async fn authorize(&mut self, _: Grant) -> Result<String, ()> {
        self.verdict.refuse(OAuthError::server_error());
        Err(())
    }

    async fn extract(&mut self, code: &str) -> Result<Option<Grant>, ()> {
        let redeemed = self.steps.redeem(code).await.map(|(mut grant, challenge)| {
            grant
                .extensions
                .set_raw(PKCE.to_string(), Value::private(Some(challenge)));
            grant
        });
        self.verdict.recovered(redeemed)
    }
}

/// PKCE (RFC 7636 §4.6), S256 only: the challenge travels in the grant's extensions.
#[async_trait]
impl Extension for Exchange<'_> {
    async fn extend(
        &mut self,
        _: &(dyn TokenRequest + Sync),
        data: Extensions,
    ) -> Result<Extensions, ()> {
        let challenge = data
            .private()
            .find(|(name, _)| *name == PKCE)
            .and_then(|(_, value)| value.map(str::to_string));
        let matches = challenge
            .is_some_and(|challenge| self.steps.verifier_matches(self.code_verifier, &challenge));
        if matches {
            Ok(Extensions::new())
        } else {
            self.verdict.refuse(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the code_verifier does not match the code_challenge",
            ));
            Err(())
        }
    }
}

#[async_trait]
impl Issuer for Exchange<'_> {
    async fn issue(&mut self, _: Grant) -> Result<IssuedToken, ()> {
        let issued = self.steps.issue().await;
        self.verdict.done(issued)?;
        Ok(IssuedToken {
            // The response is ours (with its ID token); the crate's is not sent.
            token: String::new(),
            refresh: None,
            until: never(),
            token_type: TokenType::Bearer,
        })
    }

    /// The refresh grant runs its own flow; a code exchange never refreshes.
    async fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        self.verdict.refuse(OAuthError::server_error());
        Err(())
    }

    /// Access tokens are verified by signature elsewhere, never recovered here.
    async fn recover_token(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }

    async fn recover_refresh(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }
}
