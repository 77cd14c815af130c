//! Tokens: signing keys, the JWKS, and RFC 9068 access tokens.

mod access;
mod keys;
mod refresh;

pub use access::{
    AccessClaims, Audience, IdClaims, TokenError, TokenSigner, TokenVerifier, at_hash,
};
pub use keys::{
    IgnoredFile, KeyError, KeyFolder, KeyInfo, KeyRing, KeyState, Keys, MIN_KEY_BITS,
    RotateOutcome, Schedule, SigningAlg, SigningKey,
};
pub use refresh::{RefreshToken, SealedSuccessor, TokenHash};
