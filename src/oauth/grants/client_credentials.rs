//! The client credentials grant (RFC 6749 §4.4): a service acting for itself.

use super::{GrantContext, TokenParams, TokenResponse};
use crate::domain::Scopes;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};

/// Scopes that describe a person; a client acting for itself has none of them.
const USER_SCOPES: [&str; 3] = ["openid", "profile", "email"];

pub fn grant(
    cx: &GrantContext,
    client: &Client,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    // Only a client that proved a secret may act for itself.
    if client.public {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot use the client_credentials grant",
        ));
    }
    let service_scopes =
        Scopes::from_names(client.scopes.iter().filter(|s| !USER_SCOPES.contains(s)));
    let scope = match params.scope.as_deref() {
        None => service_scopes,
        Some(text) => {
            let asked =
                Scopes::parse(text).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
            if let Some(refused) = asked.not_in(&service_scopes).next() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("this client may not ask for the scope `{refused}` for itself"),
                ));
            }
            asked
        }
    };
    let access = cx.issuer.for_client(client, &scope)?;
    Ok(TokenResponse::new(access, scope, None))
}
