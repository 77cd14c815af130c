//! Second factors: TOTP with recovery codes.

pub mod recovery;
pub mod sealed;
pub mod totp;
