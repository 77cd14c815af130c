//! Token exchange (RFC 8693) of the old service's tokens: a person signed in to the old
//! service is signed in here, once per token, without their password.

use super::password::{requested_scope, signed_in_tokens};
use super::{GrantContext, TokenParams, TokenResponse};
use crate::auth::RequestContext;
use crate::auth::legacy::{LegacyExchange, SUBJECT_TOKEN_TYPE};
use crate::oauth::client::Client;
use crate::oauth::error::OAuthError;
use crate::oauth::issuer::SignedInAt;

/// What the exchange issues (RFC 8693 §3): an access token, with a refresh token beside it.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// The one answer to every old token that is not exchanged, whatever the reason.
pub const REFUSED: &str = "the token cannot be exchanged: it is not a current token of the old \
                           service for an account that can sign in, or it was exchanged already";

pub async fn grant(
    cx: &GrantContext,
    client: &Client,
    params: &TokenParams,
    context: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    let token = params
        .subject_token
        .as_ref()
        .filter(|t| !t.expose().is_empty())
        .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
    match params.subject_token_type.as_deref() {
        Some(SUBJECT_TOKEN_TYPE) => {}
        None => {
            return Err(OAuthError::invalid_request(
                "subject_token_type is required",
            ));
        }
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
                "subject_token_type must be {SUBJECT_TOKEN_TYPE}: only the old service's \
                 tokens are exchanged"
            )));
        }
    }
    if let Some(requested) = params.requested_token_type.as_deref()
        && requested != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(format!(
            "requested_token_type must be {ACCESS_TOKEN_TYPE}, or left out"
        )));
    }
    let scope = requested_scope(client, params.scope.as_deref())?;
    let outcome = cx
        .login
        .exchange_legacy(LegacyExchange {
            token: token.expose(),
            client_id: &client.id,
            scope: &scope.to_string(),
            context,
        })
        .await?;
    let (mut response, (user, session)) = signed_in_tokens(cx, client, outcome, scope)?;
    if response.scope.contains("openid") {
        let signed_in = SignedInAt {
            auth_time: session.auth_time,
            nonce: None,
        };
        response.id_token = Some(cx.issuer.id_token(
            &user,
            client,
            &session,
            signed_in,
            &response.scope,
            &response.access_token,
        )?);
    }
    response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(response)
}
