//! Short-lived, single-use states that a random token stands for: a sign-in waiting for
//! its second factor, and passkey ceremonies (WebAuthn challenges). Kept by the token's SHA-256, with an
//! expiry; in Redis when it is configured, else in the database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

/// What a pending state is for: a token of one kind never finds a state of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingKind {
    /// A sign-in whose password was right, waiting for its second factor (or for the
    /// second factor's enrollment).
    SignIn,
    /// A passkey being registered (the WebAuthn registration state).
    PasskeyRegistration,
    /// A sign-in with a passkey alone (the WebAuthn authentication state).
    PasskeySignIn,
    /// A passkey as the second step of a waiting sign-in, kept under that sign-in's hash.
    PasskeyStep,
    /// An old service's token that was exchanged, kept until it expires so that it is
    /// exchanged once.
    LegacyToken,
}

impl PendingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::PasskeyRegistration => "passkey_registration",
            Self::PasskeySignIn => "passkey_sign_in",
            Self::PasskeyStep => "passkey_step",
            Self::LegacyToken => "legacy_token",
        }
    }
}

#[async_trait]
pub trait PendingStore: Send + Sync {
    /// Keeps `value` under `hash` until `expires_at`.
    async fn put_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Keeps `value` under `hash` until `expires_at` unless a state is there already: of
    /// two callers, one gets `true`.
    async fn put_pending_once(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The state, if it is there and has not expired at `now`; it stays.
    async fn find_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes the state: of two callers, one gets `true`.
    async fn take_pending(&self, kind: PendingKind, hash: &[u8; 32]) -> Result<bool, StoreError>;

    /// Forgets states expired before `now` (the database; Redis expires keys itself).
    async fn purge_pending(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
