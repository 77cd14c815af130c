//! Bearer access tokens on API operations (RFC 6750).

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{Basic, Bearer};

use crate::domain::UserId;
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::token::AccessClaims;

/// A verified access token of a user.
#[derive(SecurityScheme)]
#[oai(
    ty = "bearer",
    bearer_format = "JWT",
    checker = "verify_bearer",
    rename = "bearerAuth"
)]
pub struct BearerAuth(pub AccessClaims);

impl BearerAuth {
    /// The user the token speaks for; client-credentials tokens have none.
    /// The user the token speaks for. Only tokens of a session (with `sid`) are a
    /// user's: a client-credentials token names a client as its subject.
    pub fn user_id(&self) -> Result<UserId, ApiError> {
        let not_a_user = || ApiError::invalid_token("the token does not belong to a user");
        if self.0.sid.is_none() {
            return Err(not_a_user());
        }
        UserId::parse(&self.0.sub).map_err(|_| not_a_user())
    }
}

impl BearerAuth {
    /// The user, for Gatehouse's own account and admin API: only tokens of first-party
    /// clients (the built-in one, or clients created with `--first-party`) are accepted,
    /// so an application a person merely signed in to cannot act on their account here.
    pub async fn own_user(&self, state: &AppState) -> Result<UserId, ApiError> {
        let user = self.user_id()?;
        let client = state.oauth.clients.find(&self.0.client_id).await?;
        if client.is_some_and(|c| c.first_party) {
            Ok(user)
        } else {
            Err(ApiError::insufficient_scope(
                "this API accepts only tokens issued to first-party clients",
            ))
        }
    }
}

/// `client_secret_basic` (RFC 6749 §2.3.1): a confidential client's id and secret in
/// HTTP Basic, each form-urlencoded first.
#[derive(SecurityScheme)]
#[oai(ty = "basic", rename = "clientBasic")]
pub struct ClientBasic(#[allow(dead_code)] Basic);

/// How a confidential client authenticates at the introspection endpoint, as the
/// document tells generators: HTTP Basic, or nothing (`client_secret_post` in the form).
/// Only documentation: the handler reads the header itself, so that a malformed one is
/// answered with `invalid_client` (RFC 6749 §5.2) rather than a generic 401. The token
/// and revocation endpoints declare no scheme: their usual callers are public clients,
/// and generators would otherwise insist on credentials for every call.
#[derive(SecurityScheme)]
pub enum ClientAuthentication {
    Basic(#[allow(dead_code)] ClientBasic),
    #[oai(fallback)]
    Unauthenticated,
}

async fn verify_bearer(req: &Request, bearer: Bearer) -> poem::Result<AccessClaims> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| poem::Error::from_status(poem::http::StatusCode::INTERNAL_SERVER_ERROR))?;
    state
        .oauth
        .introspection
        .verify_access_token(&bearer.token)
        .await
        .map_err(|e| ApiError::from(e).into())
}
