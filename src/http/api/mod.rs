//! The documented HTTP API: `/api/v1/...` and the token endpoint, with poem-openapi.

mod admin;
mod auth;
mod body;
mod mfa;
mod oidc;
mod passkeys;
mod revocations;
mod security;
mod sessions;
mod token;
mod views;

use poem_openapi::{OpenApiService, Tags};

use crate::http::AppState;

/// Groups of operations in the document (and in generated SDKs). Lower-case one-word
/// names, so generators make modules `auth`, `oauth` and `admin` of them (`OAuth`
/// became `o_auth`).
#[derive(Tags)]
pub enum ApiTags {
    /// Registration and the signed-in user.
    #[oai(rename = "auth")]
    Auth,
    /// OAuth 2.0 token, revocation and introspection endpoints, and UserInfo.
    #[oai(rename = "oauth")]
    OAuth,
    /// Administration of users and sessions (role `admin`).
    #[oai(rename = "admin")]
    Admin,
}

pub type Api = (
    auth::AuthApi,
    sessions::SessionsApi,
    mfa::MfaApi,
    passkeys::PasskeysApi,
    token::TokenApi,
    revocations::RevocationsApi,
    oidc::OidcApi,
    admin::AdminApi,
);

/// The OpenAPI service; its document is served at `/api/v1/openapi.json`.
pub fn service(state: &AppState) -> OpenApiService<Api, ()> {
    OpenApiService::new(Api::default(), "Gatehouse", env!("CARGO_PKG_VERSION"))
        .description(
            "Identity provider and OAuth 2.0 authorization server. Errors of `/api/v1` are \
         RFC 9457 problem details; errors of the token endpoint follow RFC 6749 §5.2.",
        )
        .server(state.config.issuer.clone())
}
