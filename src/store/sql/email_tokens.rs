//! Tokens of mailed links (verification, password reset), as hashes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Database, on_pool};
use crate::domain::UserId;
use crate::store::{EmailPurpose, EmailToken, EmailTokenStore, StoreError};

type TokenRow = (Uuid, String, DateTime<Utc>, DateTime<Utc>);

fn token(hash: &[u8; 32], purpose: EmailPurpose, row: TokenRow) -> EmailToken {
    let (user, email, created_at, expires_at) = row;
    EmailToken {
        hash: *hash,
        user_id: UserId::from_uuid(user),
        purpose,
        email,
        created_at,
        expires_at,
    }
}

#[async_trait]
impl EmailTokenStore for Database {
    async fn create_email_token(&self, token: &EmailToken) -> Result<(), StoreError> {
        on_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&token.hash[..])
            .bind(token.user_id.as_uuid())
            .bind(token.purpose.as_str())
            .bind(&token.email)
            .bind(token.created_at)
            .bind(token.expires_at)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    async fn redeem_email_token(
        &self,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError> {
        let row: Option<TokenRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM email_tokens WHERE hash = $1 AND purpose = $2 \
                 RETURNING user_id, email, created_at, expires_at",
            )
            .bind(&hash[..])
            .bind(purpose.as_str())
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|row| token(hash, purpose, row)))
    }

    async fn find_email_token(
        &self,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError> {
        let row: Option<TokenRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id, email, created_at, expires_at FROM email_tokens \
                 WHERE hash = $1 AND purpose = $2",
            )
            .bind(&hash[..])
            .bind(purpose.as_str())
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|row| token(hash, purpose, row)))
    }

    async fn set_email_verified(
        &self,
        user: UserId,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = on_pool!(self, |pool| {
            sqlx::query(
                "UPDATE users SET email_verified = TRUE, updated_at = $3 \
                 WHERE id = $1 AND email = $2",
            )
            .bind(user.as_uuid())
            .bind(email)
            .bind(now)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(updated == 1)
    }

    async fn purge_email_tokens(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.delete_before("DELETE FROM email_tokens WHERE expires_at < $1", now)
            .await
    }
}
