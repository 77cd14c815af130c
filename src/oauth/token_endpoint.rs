//! The token endpoint (RFC 6749 §3.2): authenticates the client, then hands the request to
//! the grant it names.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::auth::Accounts;
use crate::clock::Clock;
use crate::domain::User;
use crate::token::{AccessClaims, TokenSigner};

use super::grants;
use super::{BUILT_IN_CLIENT_ID, Client, ClientRegistry, ErrorCode, GrantType, OAuthError, Scopes};

/// The form parameters of a token request, as sent.
#[derive(Clone, Debug, Default)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub username: Option<String>,
    pub password: Option<crate::domain::Secret<String>>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<crate::domain::Secret<String>>,
}

/// Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1).
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: crate::domain::Secret<String>,
}

/// Who is asking, for sessions and the log.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub scope: Scopes,
}

/// Settings the token endpoint needs.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub password_grant: bool,
}

/// The token endpoint's use case.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub(super) accounts: Accounts,
    clients: ClientRegistry,
    signer: TokenSigner,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: Arc<TokenSettings>,
}

impl TokenEndpoint {
    pub fn new(
        accounts: Accounts,
        clients: ClientRegistry,
        signer: TokenSigner,
        clock: Arc<dyn Clock>,
        settings: TokenSettings,
    ) -> Self {
        Self {
            accounts,
            clients,
            signer,
            clock,
            settings: Arc::new(settings),
        }
    }

    pub fn password_grant_enabled(&self) -> bool {
        self.settings.password_grant
    }

    /// Handles one token request.
    pub async fn exchange(
        &self,
        params: TokenParams,
        basic: Option<ClientCredentials>,
        context: &RequestContext,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.authenticate_client(&params, basic.as_ref())?;
        let grant_type = params
            .grant_type
            .as_deref()
            .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
        let grant = GrantType::parse(grant_type).ok_or_else(|| {
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
        match grant {
            GrantType::Password => grants::password::grant(self, client, &params, context).await,
            GrantType::AuthorizationCode
            | GrantType::RefreshToken
            | GrantType::ClientCredentials => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )),
        }
    }

    /// RFC 6749 §2.3: exactly one way of authenticating; no client named means the
    /// built-in first-party client.
    fn authenticate_client(
        &self,
        params: &TokenParams,
        basic: Option<&ClientCredentials>,
    ) -> Result<&Client, OAuthError> {
        if basic.is_some() && (params.client_secret.is_some()) {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            ));
        }
        let (client_id, secret) = match basic {
            Some(basic) => {
                if params
                    .client_id
                    .as_deref()
                    .is_some_and(|id| id != basic.client_id)
                {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the authenticated client",
                    ));
                }
                (basic.client_id.as_str(), Some(&basic.client_secret))
            }
            None => (
                params.client_id.as_deref().unwrap_or(BUILT_IN_CLIENT_ID),
                params.client_secret.as_ref(),
            ),
        };
        let invalid_client =
            || OAuthError::new(ErrorCode::InvalidClient, "client authentication failed");
        let client = self.clients.find(client_id).ok_or_else(invalid_client)?;
        if client.public {
            // A public client has no secret; one that sends a secret is misconfigured.
            if secret.is_some() {
                return Err(invalid_client());
            }
        } else {
            // Confidential clients arrive with the client registry.
            return Err(invalid_client());
        }
        Ok(client)
    }

    /// Signs an access token for `user` and the granted scopes.
    pub(super) fn issue_for_user(
        &self,
        user: &User,
        client: &Client,
        scope: Scopes,
    ) -> Result<TokenResponse, OAuthError> {
        let now = self.clock.now().timestamp();
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: crate::token::Audience::One(self.settings.audience.clone()),
            exp: now + ttl as i64,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4().to_string(),
            client_id: client.id.clone(),
            scope: scope.to_string(),
            sid: None,
            roles: user.roles.clone(),
            auth_time: Some(now),
        };
        let access_token = self.signer.sign(&claims).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            OAuthError::server_error()
        })?;
        Ok(TokenResponse {
            access_token,
            expires_in: ttl,
            scope,
        })
    }
}
