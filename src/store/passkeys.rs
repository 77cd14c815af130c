//! Passkeys: a person's WebAuthn credentials, each with a name, kept as the WebAuthn
//! library serialises them (public key, counter, backup flags) — nothing secret.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::StoreError;
use crate::domain::UserId;

/// A stored passkey.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredPasskey {
    pub id: Uuid,
    pub user_id: UserId,
    /// The credential id the authenticator gave; unique across all accounts.
    pub credential_id: Vec<u8>,
    pub name: String,
    /// The credential as the WebAuthn library serialises it (JSON).
    pub credential: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Adds a passkey; [`StoreError::Conflict`] when its credential id is registered
    /// already (to this account or another).
    async fn add_passkey(&self, passkey: &StoredPasskey) -> Result<(), StoreError>;

    /// A person's passkeys, oldest first.
    async fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>, StoreError>;

    async fn passkey_by_credential_id(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<StoredPasskey>, StoreError>;

    /// Records a sign-in with the passkey and its updated credential (counter, backup
    /// state); `false` when it is gone.
    async fn passkey_used(
        &self,
        id: Uuid,
        credential: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Removes one of `user`'s passkeys; `false` when they have no such passkey.
    async fn remove_passkey(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;

    /// Removes every passkey of `user`; how many.
    async fn remove_passkeys(&self, user: UserId) -> Result<u64, StoreError>;
}
