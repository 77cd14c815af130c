//! Tokens: signing keys, the JWKS, and RFC 9068 access tokens.

mod access;
mod keys;
mod refresh;

pub use access::{AccessClaims, Audience, TokenError, TokenSigner, TokenVerifier};
pub use keys::{KeyError, KeySet, Keys, SigningKey};
pub use refresh::{RefreshToken, SealedSuccessor, TokenHash};
