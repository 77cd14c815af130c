//! Accounts and sign-in: registration, password checks, profile changes.

mod accounts;
mod password;

pub use accounts::{Accounts, AuthError, Registration};
pub use password::{HashError, PasswordHasher, Verification};
