//! The token endpoint (RFC 6749 §3.2): authenticates the client, then hands the request to
//! the grant it names.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::audit::Audit;
use crate::auth::{Accounts, RequestContext, Sessions};
use crate::clock::Clock;
use crate::domain::{Secret, Session, User};
use crate::store::AuthorizationStore;
use crate::token::{AccessClaims, Audience, RefreshToken, TokenSigner, TokenVerifier};

use super::grants;
use super::{BUILT_IN_CLIENT_ID, Client, ClientRegistry, ErrorCode, GrantType, OAuthError, Scopes};

/// The form parameters of a token request, as sent.
#[derive(Clone, Debug, Default)]
pub struct TokenParams {
    pub grant_type: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret<String>>,
    pub refresh_token: Option<Secret<String>>,
    pub code: Option<Secret<String>>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<Secret<String>>,
    pub scope: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret<String>>,
}

/// Client credentials from an `Authorization: Basic` header (RFC 6749 §2.3.1).
#[derive(Clone, Debug)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Secret<String>,
}

/// How a request identifies its client: Basic, form fields, or nothing (built-in client).
#[derive(Clone, Debug, Default)]
pub struct ClientAuth {
    pub basic: Option<ClientCredentials>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret<String>>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Debug)]
pub struct TokenResponse {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<Secret<String>>,
    pub id_token: Option<String>,
    pub scope: Scopes,
}

/// Settings the token endpoint needs.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub auth_code_ttl: Duration,
    pub password_grant: bool,
}

/// What the token endpoint is built from.
pub struct TokenEndpointParts {
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub clients: ClientRegistry,
    pub audit: Audit,
    pub login: crate::auth::Login,
    pub authorizations: Arc<dyn AuthorizationStore>,
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
    pub clock: Arc<dyn Clock>,
    pub settings: TokenSettings,
}

/// The token endpoint's use case.
#[derive(Clone)]
pub struct TokenEndpoint {
    pub(super) accounts: Accounts,
    pub(super) sessions: Sessions,
    pub(super) clients: ClientRegistry,
    pub(super) audit: Audit,
    pub(super) login: crate::auth::Login,
    pub(super) authorizations: Arc<dyn AuthorizationStore>,
    pub(super) signer: TokenSigner,
    pub(super) verifier: TokenVerifier,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: Arc<TokenSettings>,
}

impl TokenEndpoint {
    pub fn new(parts: TokenEndpointParts) -> Self {
        Self {
            accounts: parts.accounts,
            sessions: parts.sessions,
            clients: parts.clients,
            audit: parts.audit,
            login: parts.login,
            authorizations: parts.authorizations,
            signer: parts.signer,
            verifier: parts.verifier,
            clock: parts.clock,
            settings: Arc::new(parts.settings),
        }
    }

    pub fn clients(&self) -> &ClientRegistry {
        &self.clients
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
        let client = self
            .authenticate_client(ClientAuth {
                basic,
                client_id: params.client_id.clone(),
                client_secret: params.client_secret.clone(),
            })
            .await?;
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
        let issued = match grant {
            GrantType::Password => grants::password::grant(self, &client, &params, context).await,
            GrantType::RefreshToken => grants::refresh::grant(self, &client, &params).await,
            GrantType::ClientCredentials => {
                grants::client_credentials::grant(self, &client, &params)
            }
            GrantType::AuthorizationCode => {
                grants::authorization_code::grant(self, &client, &params, context).await
            }
        };
        if issued.is_ok() {
            metrics::counter!("gatehouse_tokens_issued_total", "grant" => grant.as_str())
                .increment(1);
        }
        issued
    }

    /// RFC 6749 §2.3: exactly one way of authenticating; no client named means the
    /// built-in first-party client.
    pub async fn authenticate_client(&self, auth: ClientAuth) -> Result<Client, OAuthError> {
        if auth.basic.is_some() && auth.client_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both",
            ));
        }
        let (client_id, secret) = match &auth.basic {
            Some(basic) => {
                if auth
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
                auth.client_id.as_deref().unwrap_or(BUILT_IN_CLIENT_ID),
                auth.client_secret.as_ref(),
            ),
        };
        self.clients.authenticate(client_id, secret).await
    }

    /// Signs an access token for a client acting for itself: `sub` is the client id,
    /// with no session, roles or refresh token.
    pub(super) fn issue_for_client(
        &self,
        client: &Client,
        scope: Scopes,
    ) -> Result<TokenResponse, OAuthError> {
        self.sign(
            client.id.clone(),
            client,
            None,
            Vec::new(),
            None,
            scope,
            None,
        )
    }

    /// Signs an access token for `user` in `session` with the granted scopes.
    pub(super) fn issue(
        &self,
        user: &User,
        client: &Client,
        session: &Session,
        scope: Scopes,
        refresh_token: Option<RefreshToken>,
    ) -> Result<TokenResponse, OAuthError> {
        self.sign(
            user.id.to_string(),
            client,
            Some(session.id.to_string()),
            user.roles.clone(),
            Some(session.auth_time.timestamp()),
            scope,
            refresh_token,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn sign(
        &self,
        sub: String,
        client: &Client,
        sid: Option<String>,
        roles: Vec<String>,
        auth_time: Option<i64>,
        scope: Scopes,
        refresh_token: Option<RefreshToken>,
    ) -> Result<TokenResponse, OAuthError> {
        let at = self.clock.now();
        let now = at.timestamp();
        let ttl = self.settings.access_token_ttl.as_secs();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub,
            aud: Audience::One(self.settings.audience.clone()),
            exp: now + ttl as i64,
            iat: now,
            nbf: now,
            jti: Uuid::new_v4().to_string(),
            client_id: client.id.clone(),
            scope: scope.to_string(),
            sid,
            roles,
            auth_time,
        };
        let access_token = self.signer.sign(&claims, at).map_err(|e| {
            tracing::error!(error = %e, "signing an access token failed");
            OAuthError::server_error()
        })?;
        Ok(TokenResponse {
            access_token,
            expires_in: ttl,
            refresh_token: refresh_token.map(|t| t.reveal()),
            id_token: None,
            scope,
        })
    }
}
