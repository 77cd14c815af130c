//! One file per grant type.

pub mod client_credentials;
pub mod password;
pub mod refresh;
