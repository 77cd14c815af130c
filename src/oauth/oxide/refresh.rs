//! The refresh grant through `oxide_auth_async::code_grant::refresh`.

use std::borrow::Cow;

use async_trait::async_trait;
use oxide_auth::primitives::grant::{Extensions, Grant};
use oxide_auth::primitives::issuer::{IssuedToken, RefreshedToken, TokenType};
use oxide_auth::primitives::scope::Scope;
use oxide_auth_async::primitives::{Issuer, Registrar};

use super::{KnownClient, Verdict, never};
use crate::domain::Scopes;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};

/// The redirect URI of a session's grant, which nothing reads.
static NO_REDIRECT: std::sync::LazyLock<url::Url> = std::sync::LazyLock::new(|| {
    url::Url::parse("urn:gatehouse:session").expect("a constant URN parses")
});

/// Gatehouse's side of one refresh: the steps the flow asks for.
#[async_trait]
pub trait RefreshSteps: Send + Sync {
    /// The grant the presented token belongs to (its live session's), or the answer to
    /// give instead. Judges nothing about reuse: the rotation does.
    async fn recover(&mut self) -> Result<Grant, OAuthError>;
    /// Rotates the token and signs the new access token.
    async fn rotate(&mut self) -> Result<(), OAuthError>;
}

/// A refresh as the crate reads it: our already-checked values.
struct RefreshForm<'a> {
    client_id: &'a str,
    token: &'a str,
    scope: Option<String>,
}

impl oxide_auth::code_grant::refresh::Request for RefreshForm<'_> {
    fn valid(&self) -> bool {
        true
    }
    fn refresh_token(&self) -> Option<Cow<'_, str>> {
        Some(self.token.into())
    }
    fn scope(&self) -> Option<Cow<'_, str>> {
        self.scope.as_deref().map(Cow::Borrowed)
    }
    fn grant_type(&self) -> Option<Cow<'_, str>> {
        Some("refresh_token".into())
    }
    /// Authenticated before the flow (public clients by their id alone); the flow
    /// binds the token to that client, and a token of another is `invalid_grant`.
    fn authorization(&self) -> Option<(Cow<'_, str>, Cow<'_, [u8]>)> {
        Some((self.client_id.into(), Cow::Borrowed(&[])))
    }
    fn extension(&self, _: &str) -> Option<Cow<'_, str>> {
        None
    }
}

/// One refresh: the crate's endpoint and issuer, over our steps.
struct Refreshing<'a> {
    client: KnownClient<'a>,
    steps: &'a mut dyn RefreshSteps,
    verdict: Verdict,
}

/// The refresh token of a request, and the scope asked for (`None`: the session's).
pub struct RefreshRequest<'a> {
    pub token: &'a str,
    pub scope: Option<&'a Scopes>,
}

/// Runs the refresh grant of an authenticated `client` through oxide-auth. `Ok` when
/// `steps` rotated the token and signed the new one.
pub async fn refresh(
    client: &Client,
    request: RefreshRequest<'_>,
    steps: &mut dyn RefreshSteps,
) -> Result<(), OAuthError> {
    let form = RefreshForm {
        client_id: &client.id,
        token: request.token,
        scope: request.scope.map(Scopes::to_string),
    };
    let mut refreshing = Refreshing {
        client: KnownClient(client),
        steps,
        verdict: Verdict::default(),
    };
    let outcome = oxide_auth_async::code_grant::refresh::refresh(&mut refreshing, &form).await;
    refreshing.verdict.answer(outcome, refresh_error)
}

/// A refusal of the crate's own: the token's session belongs to another client, or the
/// scope asked for is wider than the session's.
fn refresh_error(e: oxide_auth::code_grant::refresh::Error) -> OAuthError {
    use oxide_auth::code_grant::error::AccessTokenErrorType;
    use oxide_auth::code_grant::refresh::Error;
    match e {
        Error::Invalid(mut why) => match why.description().kind() {
            AccessTokenErrorType::InvalidScope => OAuthError::new(
                ErrorCode::InvalidScope,
                "a refresh cannot widen the scope of the session",
            ),
            _ => refresh_refused(),
        },
        Error::Unauthorized(..) => {
            OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
        }
        Error::Primitive => OAuthError::server_error(),
    }
}

/// The one answer for a refresh token that cannot be used, whatever the reason.
pub fn refresh_refused() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidGrant,
        "the refresh token is invalid, expired or revoked",
    )
}

/// A grant for the session `owner` holds with `client_id`. A session has no redirect URI;
/// the crate's grant needs one, which nothing reads.
pub fn session_grant(owner: String, client_id: &str, scope: &Scopes) -> Result<Grant, OAuthError> {
    let scope = scope.to_string().parse::<Scope>().map_err(|_| {
        tracing::error!("a session's scope cannot be read");
        OAuthError::server_error()
    })?;
    Ok(Grant {
        owner_id: owner,
        client_id: client_id.to_string(),
        scope,
        redirect_uri: NO_REDIRECT.clone(),
        until: never(),
        extensions: Extensions::new(),
    })
}

impl oxide_auth_async::code_grant::refresh::Endpoint for Refreshing<'_> {
    fn registrar(&self) -> &(dyn Registrar + Sync) {
        &self.client
    }
    fn issuer(&mut self) -> &mut (dyn Issuer + Send) {
        self
    }
}

#[async_trait]
impl Issuer for Refreshing<'_> {
    /// A refresh issues no first token.
    async fn issue(&mut self, _: Grant) -> Result<IssuedToken, ()> {
        self.verdict.refuse(OAuthError::server_error());
        Err(())
    }

    async fn refresh(&mut self, _: &str, _: Grant) -> Result<RefreshedToken, ()> {
        let rotated = self.steps.rotate().await;
        self.verdict.done(rotated)?;
        Ok(RefreshedToken {
            // The response is ours; the crate's is not sent.
            token: String::new(),
            refresh: None,
            until: never(),
            token_type: TokenType::Bearer,
        })
    }

    async fn recover_token(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        Ok(None)
    }

    async fn recover_refresh(&mut self, _: &str) -> Result<Option<Grant>, ()> {
        let recovered = self.steps.recover().await;
        self.verdict.recovered(recovered)
    }
}
