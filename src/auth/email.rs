//! Single-use links sent by mail: a random token in the link, its SHA-256 in the store.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
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
    reset_ttl: Duration,
}

fn hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// The hash of a token as it appears in a link; `None` when it cannot be one of ours.
fn parse(token: &str) -> Option<[u8; 32]> {
    let secret = URL_SAFE_NO_PAD.decode(token).ok()?;
    (secret.len() == 32).then(|| hash(&secret))
}

impl EmailLinks {
    pub fn new(
        store: Arc<dyn EmailTokenStore>,
        clock: Arc<dyn Clock>,
        verify_ttl: Duration,
        reset_ttl: Duration,
    ) -> Self {
        Self {
            store,
            clock,
            verify_ttl,
            reset_ttl,
        }
    }

    pub fn ttl(&self, purpose: EmailPurpose) -> Duration {
        match purpose {
            EmailPurpose::Verify => self.verify_ttl,
            EmailPurpose::Reset => self.reset_ttl,
        }
    }

    /// A new token for the account's current address.
    pub async fn issue(
        &self,
        user: &User,
        purpose: EmailPurpose,
    ) -> Result<Secret<String>, StoreError> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let now = self.clock.now();
        let expires_at = now + chrono::Duration::from_std(self.ttl(purpose)).unwrap_or_default();
        self.store
            .create_email_token(&EmailToken {
                hash: hash(&secret),
                user_id: user.id,
                purpose,
                email: user.email.as_str().to_string(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok(Secret::new(URL_SAFE_NO_PAD.encode(secret)))
    }

    /// Spends a verification token and marks its address verified. `None` when the token
    /// is malformed, unknown, spent, expired, or for an address the account no longer has.
    pub async fn verify(&self, token: &str) -> Result<Option<UserId>, StoreError> {
        let Some(stored) = self.redeem(token, EmailPurpose::Verify).await? else {
            return Ok(None);
        };
        let verified = self
            .store
            .set_email_verified(stored.user_id, &stored.email, self.clock.now())
            .await?;
        Ok(verified.then_some(stored.user_id))
    }

    /// Marks `email` verified for `user` if the account still has it (a reset link sent
    /// there was followed: that proves the address too).
    pub async fn mark_verified(&self, user: UserId, email: &str) -> Result<bool, StoreError> {
        self.store
            .set_email_verified(user, email, self.clock.now())
            .await
    }

    /// The live reset token `token`, without spending it.
    pub async fn peek_reset(&self, token: &str) -> Result<Option<EmailToken>, StoreError> {
        let Some(hash) = parse(token) else {
            return Ok(None);
        };
        let found = self
            .store
            .find_email_token(&hash, EmailPurpose::Reset)
            .await?;
        Ok(found.filter(|t| self.clock.now() < t.expires_at))
    }

    /// Spends a token of `purpose`: the token if it was live.
    pub async fn redeem(
        &self,
        token: &str,
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError> {
        let Some(hash) = parse(token) else {
            return Ok(None);
        };
        let found = self.store.redeem_email_token(&hash, purpose).await?;
        Ok(found.filter(|t| self.clock.now() < t.expires_at))
    }
}
