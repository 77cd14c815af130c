//! Sign-ins waiting for their second factor: the password was right, and a random token
//! (the `mfa_token` of the password grant, the browser's `gatehouse_mfa` cookie) stands
//! for the rest of the sign-in — single-use, for the client that asked, for five minutes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::domain::{Secret, UserId};
use crate::store::StoreError;

/// How long a sign-in whose password was right waits for its second factor.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);

/// What the second step of a sign-in is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// A code of the person's second factor.
    Code,
    /// Setting one up, then its first code: the person has none, and their role (or the
    /// client, asking for a second factor) requires one.
    Enroll,
}

/// A sign-in waiting for its second step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub user_id: uuid::Uuid,
    pub client_id: String,
    pub scope: String,
    /// How the person signed in (`password_grant`, `login_page`), for the audit log.
    pub method: String,
    pub step: NextStep,
    pub expires_at: DateTime<Utc>,
}

impl MfaChallenge {
    pub fn user(&self) -> UserId {
        UserId::from_uuid(self.user_id)
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a challenge serializes")
    }

    /// A stored challenge; one that does not read is an internal error, not a refusal.
    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| StoreError::Internal(Box::new(e)))
    }
}

/// A new token standing for a sign-in, and the hash it is stored by.
pub(super) fn new_token() -> (Secret<String>, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = token_hash(&token);
    (Secret::new(token), hash)
}

pub(super) fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
