//! Short-lived states in Redis (`P:p:<kind>:<hash>`), expiring by themselves. The value
//! starts with the expiry (8 bytes, milliseconds, big-endian), so that a state is judged
//! by the caller's clock as in SQL, not only by Redis's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::RedisSessions;
use crate::store::{PendingKind, PendingStore, StoreError};

impl RedisSessions {
    fn pending_key(&self, kind: PendingKind, hash: &[u8; 32]) -> String {
        let mut key = format!("{}:p:{}:", self.prefix, kind.as_str());
        for byte in hash {
            key.push_str(&format!("{byte:02x}"));
        }
        key
    }

    /// `SET … PXAT`, with `NX` when `only_new`: whether the state was set.
    async fn set_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
        only_new: bool,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let expiry = expires_at.timestamp_millis();
        let mut stored = Vec::with_capacity(8 + value.len());
        stored.extend_from_slice(&expiry.to_be_bytes());
        stored.extend_from_slice(value);
        let mut set = redis::cmd("SET");
        set.arg(self.pending_key(kind, hash))
            .arg(stored)
            .arg("PXAT")
            .arg(expiry.max(1));
        if only_new {
            set.arg("NX");
        }
        let answer: Option<String> = set.query_async(&mut conn).await?;
        Ok(answer.is_some())
    }
}

#[async_trait]
impl PendingStore for RedisSessions {
    async fn put_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.set_pending(kind, hash, value, expires_at, false)
            .await
            .map(drop)
    }

    async fn put_pending_once(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        value: &[u8],
        expires_at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.set_pending(kind, hash, value, expires_at, true).await
    }

    async fn find_pending(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut conn = self.conn.clone();
        let stored: Option<Vec<u8>> = conn.get(self.pending_key(kind, hash)).await?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let Some((expiry, value)) = stored.split_first_chunk::<8>() else {
            return Err(StoreError::Internal(
                "a pending state without its expiry".into(),
            ));
        };
        Ok((i64::from_be_bytes(*expiry) > now.timestamp_millis()).then(|| value.to_vec()))
    }

    async fn take_pending(&self, kind: PendingKind, hash: &[u8; 32]) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let removed: u64 = conn.del(self.pending_key(kind, hash)).await?;
        Ok(removed == 1)
    }

    async fn purge_pending(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}
