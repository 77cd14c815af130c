//! Second factors: a person's TOTP secret (sealed) and recovery codes (hashed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::UserId;

/// A stored TOTP factor.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTotp {
    /// The secret, sealed with the server's key.
    pub sealed_secret: Vec<u8>,
    /// When the first code confirmed it; until then it is not in force.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last step accepted: a code of it or an earlier one is refused.
    pub last_step: Option<i64>,
}

#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    async fn totp(&self, user: UserId) -> Result<Option<StoredTotp>, StoreError>;
    /// Starts (or starts again) an enrollment: a new secret, not in force. `false` when a
    /// confirmed factor exists, which is left as it is.
    async fn start_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Puts the enrolled factor in force, `step` accepted, and replaces the recovery codes;
    /// `false` when there was no enrollment to confirm.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        recovery_hashes: &[[u8; 32]],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records `step` as accepted if it is later than the last one: of two uses of one
    /// code, one wins.
    async fn accept_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;
    /// Removes the factor and the recovery codes; whether there was one.
    async fn remove_second_factors(&self, user: UserId) -> Result<bool, StoreError>;
    /// Replaces the recovery codes.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[[u8; 32]],
    ) -> Result<(), StoreError>;
    /// Spends an unused recovery code; whether it was one.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;
}
