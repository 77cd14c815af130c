//! The token endpoint (RFC 6749 §3.2): authenticates the client, then hands the request to
//! the grant it names.

use crate::auth::RequestContext;
use crate::oauth::client::{ClientAuth, ClientCredentials, ClientRegistry, GrantType};
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::grants::{self, GrantContext, TokenParams, TokenResponse};

/// The token endpoint's use case.
#[derive(Clone)]
pub struct TokenEndpoint {
    clients: ClientRegistry,
    grants: GrantContext,
}

impl TokenEndpoint {
    pub fn new(clients: ClientRegistry, grants: GrantContext) -> Self {
        Self { clients, grants }
    }

    /// Whether this server takes `grant` at all: token exchange only with the old
    /// service's secret set.
    pub fn supports(&self, grant: GrantType) -> bool {
        grant != GrantType::TokenExchange || self.grants.login.exchanges_legacy_tokens()
    }

    /// Handles one token request.
    pub async fn exchange(
        &self,
        params: TokenParams,
        basic: Option<ClientCredentials>,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self
            .clients
            .authenticate_request(ClientAuth {
                basic,
                client_id: params.client_id.clone(),
                client_secret: params.client_secret.clone(),
            })
            .await?;
        let grant_type = params
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        // A password grant's second step belongs to the clients that may use the first.
        if grant_type == grants::password::MFA_OTP {
            if !client.allows(GrantType::Password) {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    "this client may not use the password grant",
                ));
            }
            return grants::password::second_step(&self.grants, &client, &params, context).await;
        }
        let grant = GrantType::parse(grant_type).filter(|g| self.supports(*g));
        let grant = grant.ok_or_else(|| {
            OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )
        })?;
        if !client.allows(grant) {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!("this client may not use the {} grant", grant.as_str()),
            ));
        }
        let cx = &self.grants;
        let issued = match grant {
            GrantType::Password => grants::password::grant(cx, &client, &params, context).await,
            GrantType::RefreshToken => grants::refresh::grant(cx, &client, &params).await,
            GrantType::ClientCredentials => grants::client_credentials::grant(cx, &client, &params),
            GrantType::AuthorizationCode => {
                grants::authorization_code::grant(cx, &client, &params, context).await
            }
            GrantType::TokenExchange => {
                grants::token_exchange::grant(cx, &client, &params, context).await
            }
        };
        if issued.is_ok() {
            metrics::counter!("gatehouse_tokens_issued_total", "grant" => grant.as_str())
                .increment(1);
        }
        issued
    }
}
