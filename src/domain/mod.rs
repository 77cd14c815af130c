//! Domain values that are valid by construction: parse at the edge, trust inside.

mod acr;
mod audit;
mod email;
mod password;
mod scope;
mod secret;
mod session;
pub mod text;
mod user;

pub use acr::Acr;
pub use audit::{Actor, EventType};
pub use email::Email;
pub use password::Password;
pub use scope::Scopes;
pub use secret::Secret;
pub use session::{EndCause, Session, SessionId, stored_amr};
pub use user::{NewUser, Profile, ProfilePatch, Role, User, UserId, UserName};

/// Why a value was refused, in words fit to show the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}
