//! Short-lived states in SQL, for installations without Redis.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Database, execute, on_pool};
use crate::store::{PendingKind, PendingStore, StoreError};

#[async_trait]
impl PendingStore for Database {
    async fn put_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        execute!(
            self,
            "INSERT INTO pending_states (kind, token_hash, value, expires_at) VALUES ($1, $2, $3, $4)",
            kind.as_str(),
            &hash[..],
            value,
            expires_at
        )?;
        Ok(())
    }

    async fn put_pending_once(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let put = execute!(
            self,
            "INSERT INTO pending_states (kind, token_hash, value, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (kind, token_hash) DO NOTHING",
            kind.as_str(),
            &hash[..],
            value,
            expires_at
        )?;
        Ok(put == 1)
    }

    async fn find_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let row: Option<(Vec<u8>,)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT value FROM pending_states \
                 WHERE kind = $1 AND token_hash = $2 AND expires_at > $3",
            )
            .bind(kind.as_str())
            .bind(&hash[..])
            .bind(now)
            .fetch_optional(pool)
            .await
        })?;
        Ok(row.map(|(value,)| value))
    }

    async fn take_pending(&self, kind: PendingKind, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let taken = execute!(
            self,
            "DELETE FROM pending_states WHERE kind = $1 AND token_hash = $2",
            kind.as_str(),
            &hash[..]
        )?;
        Ok(taken == 1)
    }

    async fn purge_pending(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.delete_before("DELETE FROM pending_states WHERE expires_at < $1", now)
            .await
    }
}
