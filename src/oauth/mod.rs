//! OAuth 2.0: clients, scopes, the token endpoint's grants, revocation, introspection and
//! RFC 6749 errors.

mod authorize;
mod client;
mod error;
mod grants;
mod introspection;
mod scope;
mod token_endpoint;

pub use authorize::{
    AuthorizeError, AuthorizeRequest, Authorized, BROWSER_CLIENT_ID, Prompt, Untrusted,
    ValidAuthorization,
};
pub use client::{
    BUILT_IN_CLIENT_ID, Client, ClientError, ClientRegistry, GrantType, NewClient, Permission,
};
pub use error::{ErrorCode, OAuthError};
pub use introspection::{AccessError, Introspection};
pub use scope::Scopes;
pub use token_endpoint::{
    ClientAuth, ClientCredentials, TokenEndpoint, TokenEndpointParts, TokenParams, TokenResponse,
    TokenSettings,
};
