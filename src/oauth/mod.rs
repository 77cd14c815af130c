//! OAuth 2.0: clients, scopes, the token endpoint's grants and RFC 6749 errors.

mod client;
mod error;
mod grants;
mod scope;
mod token_endpoint;

pub use client::{BUILT_IN_CLIENT_ID, Client, ClientRegistry, GrantType};
pub use error::{ErrorCode, OAuthError};
pub use scope::Scopes;
pub use token_endpoint::{
    ClientCredentials, RequestContext, TokenEndpoint, TokenParams, TokenResponse, TokenSettings,
};
