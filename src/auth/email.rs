//! Single-use links sent by mail: a random token in the link, its SHA-256 in the store.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::domain::{Secret, User, UserId};
use crate::store::{EmailPurpose, EmailToken, EmailTokenStore, StoreError};

/// Issues and redeems the tokens of mailed links.
#[derive(Clone)]
pub struct EmailLinks {
    store: Arc<dyn EmailTokenStore>,
    clock: Arc<dyn Clock>,
    verify_ttl: Duration,
}

fn hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl EmailLinks {
    pub fn new(
        store: Arc<dyn EmailTokenStore>,
        clock: Arc<dyn Clock>,
        verify_ttl: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            verify_ttl,
        }
    }

    pub fn verify_ttl(&self) -> Duration {
        self.verify_ttl
    }

    /// A new verification token for the account's current address, and when it expires.
    pub async fn issue_verification(
        &self,
        user: &User,
    ) -> Result<(Secret<String>, DateTime<Utc>), StoreError> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let now = self.clock.now();
        let expires_at = now + chrono::Duration::from_std(self.verify_ttl).unwrap_or_default();
        self.store
            .create_email_token(&EmailToken {
                hash: hash(&secret),
                user_id: user.id,
                purpose: EmailPurpose::Verify,
                email: user.email.as_str().to_string(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok((Secret::new(URL_SAFE_NO_PAD.encode(secret)), expires_at))
    }

    /// Spends a verification token and marks its address verified. `None` when the token
    /// is malformed, unknown, spent, expired, or for an address the account no longer has.
    pub async fn verify(&self, token: &str) -> Result<Option<UserId>, StoreError> {
        let Some(secret) = URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .filter(|bytes| bytes.len() == 32)
        else {
            return Ok(None);
        };
        let Some(stored) = self
            .store
            .redeem_email_token(&hash(&secret), EmailPurpose::Verify)
            .await?
        else {
            return Ok(None);
        };
        let now = self.clock.now();
        if now >= stored.expires_at {
            return Ok(None);
        }
        let verified = self
            .store
            .set_email_verified(stored.user_id, &stored.email, now)
            .await?;
        Ok(verified.then_some(stored.user_id))
    }
}
