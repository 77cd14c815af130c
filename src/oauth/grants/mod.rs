//! One file per grant type.

pub mod password;
pub mod refresh;
