//! OAuth 2.0 and OpenID Connect: clients, scopes, the authorization, token, introspection
//! and revocation endpoints' use cases, the grants, the token issuer, PKCE and RFC 6749
//! errors.

mod authorize;
mod client;
mod error;
mod grants;
mod introspection;
mod issuer;
mod oxide;
mod pkce;
mod revocation;
mod token_endpoint;

pub use crate::domain::Scopes;

use std::sync::Arc;

pub use authorize::{
    AuthorizationEndpoint, AuthorizeError, AuthorizeRequest, Authorized, BROWSER_CLIENT_ID, Prompt,
    Untrusted, ValidAuthorization,
};
pub use client::{
    BUILT_IN_CLIENT_ID, Client, ClientAuth, ClientCredentials, ClientError, ClientRegistry,
    GrantType, NewClient, Permission,
};
pub use error::{ErrorCode, OAuthError};
pub use grants::{TokenParams, TokenResponse};
pub use introspection::{AccessError, Introspection, IntrospectionEndpoint};
pub use revocation::RevocationEndpoint;
pub use token_endpoint::TokenEndpoint;

use crate::audit::Audit;
use crate::auth::{Accounts, Login, Sessions};
use crate::clock::Clock;
use crate::config::{OAuthSettings, TokenSettings};
use crate::store::AuthorizationStore;
use crate::token::{TokenSigner, TokenVerifier};

/// What the OAuth endpoints are built from.
pub struct OAuthParts {
    pub accounts: Accounts,
    pub sessions: Sessions,
    pub clients: ClientRegistry,
    pub audit: Audit,
    pub login: Login,
    pub authorizations: Arc<dyn AuthorizationStore>,
    pub signer: TokenSigner,
    pub verifier: TokenVerifier,
    pub clock: Arc<dyn Clock>,
    /// This server's `iss`.
    pub issuer: String,
    pub tokens: TokenSettings,
    pub oauth: OAuthSettings,
}

/// The OAuth endpoints' use cases, one per endpoint, and the client registry they share.
#[derive(Clone)]
pub struct OAuth {
    pub clients: ClientRegistry,
    pub authorization: AuthorizationEndpoint,
    pub token: TokenEndpoint,
    pub introspection: IntrospectionEndpoint,
    pub revocation: RevocationEndpoint,
}

impl OAuth {
    pub fn new(parts: OAuthParts) -> Self {
        let issuer = issuer::TokenIssuer::new(
            parts.signer,
            parts.clock.clone(),
            issuer::IssuerSettings {
                issuer: parts.issuer.clone(),
                audience: parts.tokens.audience,
                access_token_ttl: parts.tokens.access_token_ttl,
            },
        );
        let grants = grants::GrantContext {
            accounts: parts.accounts.clone(),
            sessions: parts.sessions.clone(),
            audit: parts.audit.clone(),
            login: parts.login,
            authorizations: parts.authorizations.clone(),
            issuer,
            clock: parts.clock.clone(),
            password_grant: parts.oauth.password_grant,
        };
        Self {
            authorization: AuthorizationEndpoint::new(
                parts.clients.clone(),
                parts.authorizations,
                parts.clock.clone(),
                &parts.issuer,
                parts.oauth.auth_code_ttl,
            ),
            token: TokenEndpoint::new(parts.clients.clone(), grants),
            introspection: IntrospectionEndpoint::new(
                parts.accounts,
                parts.sessions.clone(),
                parts.verifier.clone(),
                parts.clock.clone(),
            ),
            revocation: RevocationEndpoint::new(
                parts.sessions,
                parts.audit,
                parts.verifier,
                parts.clock,
            ),
            clients: parts.clients,
        }
    }
}
