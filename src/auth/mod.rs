//! Accounts and sign-in: registration, password checks, profile changes, sessions.

mod accounts;
mod email;
pub mod import;
mod login;
mod password;
mod sessions;

pub use accounts::{Accounts, AuthError, Registration, SignInAttempt};
pub use email::EmailLinks;
pub use login::{Login, LoginOutcome, LoginRequest, Refusal, SignedIn};
pub use password::{HashError, PasswordHasher, Verification};
pub use sessions::{Refresh, RequestContext, SessionSettings, Sessions};
