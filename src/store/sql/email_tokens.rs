//! Tokens of mailed links (verification, password reset), as hashes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Database, execute, on_pool};
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

impl Database {
    /// The token a statement over `hash` ($1) and `purpose` ($2) returns, if any; the
    /// statement may spend it (`DELETE … RETURNING`), so it is run to its end.
    async fn one_token(
        &self,
        statement: &'static str,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError> {
        let row: Option<TokenRow> = on_pool!(self, |pool| {
            let query = sqlx::query_as(statement)
                .bind(&hash[..])
                .bind(purpose.as_str());
            super::fetch_written(query, pool).await
        })?;
        Ok(row.map(|row| token(hash, purpose, row)))
    }
}

#[async_trait]
impl EmailTokenStore for Database {
    async fn create_email_token(&self, token: &EmailToken) -> Result<(), StoreError> {
        execute!(
            self,
            "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            &token.hash[..],
            token.user_id.as_uuid(),
            token.purpose.as_str(),
            &token.email,
            token.created_at,
            token.expires_at
        )?;
        Ok(())
    }

    async fn redeem_email_token(
        &self,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError> {
        self.one_token(
            "DELETE FROM email_tokens WHERE hash = $1 AND purpose = $2 \
             RETURNING user_id, email, created_at, expires_at",
            hash,
            purpose,
        )
        .await
    }

    async fn find_email_token(
        &self,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError> {
        self.one_token(
            "SELECT user_id, email, created_at, expires_at FROM email_tokens \
             WHERE hash = $1 AND purpose = $2",
            hash,
            purpose,
        )
        .await
    }

    async fn set_email_verified(
        &self,
        user: UserId,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = execute!(
            self,
            "UPDATE users SET email_verified = TRUE, updated_at = $3 \
             WHERE id = $1 AND email = $2",
            user.as_uuid(),
            email,
            now
        )?;
        Ok(updated == 1)
    }

    async fn purge_email_tokens(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.delete_before("DELETE FROM email_tokens WHERE expires_at < $1", now)
            .await
    }
}
