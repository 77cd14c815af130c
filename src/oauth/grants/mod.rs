//! The token endpoint's grants, one file each, and what they share: the request as sent
//! ([`TokenParams`]), the answer ([`TokenResponse`]) and what a grant works with
//! ([`GrantContext`]). Grants depend on the issuer, clients and stores, never on the
//! endpoint that calls them.

pub mod authorization_code;
pub mod client_credentials;
mod context;
pub mod password;
pub mod refresh;
pub mod token_exchange;

pub use context::GrantContext;

use crate::domain::Scopes;
use crate::domain::Secret;
use crate::oauth::issuer::SignedAccessToken;
use crate::token::RefreshToken;

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
    pub mfa_token: Option<Secret<String>>,
    pub otp: Option<Secret<String>>,
    pub recovery_code: Option<Secret<String>>,
    pub subject_token: Option<Secret<String>>,
    pub subject_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    pub scope: Option<String>,
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
    /// What a token exchange (RFC 8693 §2.2.1) issued: an access token.
    pub issued_token_type: Option<&'static str>,
}

impl TokenResponse {
    fn new(access: SignedAccessToken, scope: Scopes, refresh_token: Option<RefreshToken>) -> Self {
        Self {
            access_token: access.token,
            expires_in: access.expires_in,
            refresh_token: refresh_token.map(|t| t.reveal()),
            id_token: None,
            scope,
            issued_token_type: None,
        }
    }
}
