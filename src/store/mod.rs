//! Persistence: one trait per capability, implemented on SQL (SQLite and PostgreSQL).

mod error;
pub mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::StoreError;
pub use sql::Database;

use crate::domain::{Email, NewUser, ProfilePatch, Secret, User, UserId, UserName};

/// A user together with their stored password hash, for sign-in only.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: Secret<String>,
}

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; [`StoreError::Conflict`] when the email is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    async fn find_credentials(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError>;

    /// Changes name and profile fields in one statement; `None` when the user is gone.
    async fn update_user_profile(
        &self,
        id: UserId,
        name: Option<&UserName>,
        patch: &ProfilePatch,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    /// Replaces the password hash, but only if it is still `expected`: a rehash after
    /// sign-in must not undo a password change that happened meanwhile.
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &Secret<String>,
        new_hash: &Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
