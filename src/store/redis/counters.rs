//! Rate-limit counters in Redis (`P:rl:<key>`), on the sessions' connection and prefix.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::RedisSessions;
use crate::store::{RateCounters, StoreError};

/// Rate-limit counters in Redis, shared by every instance.
#[derive(Clone)]
pub struct RedisCounters {
    conn: ConnectionManager,
    prefix: Arc<str>,
}

impl RedisSessions {
    /// Rate-limit counters on the same connection and prefix.
    pub fn counters(&self) -> RedisCounters {
        RedisCounters {
            conn: self.conn.clone(),
            prefix: self.prefix.clone(),
        }
    }
}

impl RedisCounters {
    fn key(&self, key: &str) -> String {
        format!("{}:rl:{key}", self.prefix)
    }
}

fn ceil_seconds(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000)
}

#[async_trait]
impl RateCounters for RedisCounters {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, u64), StoreError> {
        let key = self.key(key);
        let mut conn = self.conn.clone();
        // One transaction: every concurrent hit is counted, and the window starts once.
        let (count, ttl): (u64, i64) = redis::pipe()
            .atomic()
            .incr(&key, 1)
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(window.as_millis() as u64)
            .arg("NX")
            .ignore()
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        Ok((count, ceil_seconds(ttl)))
    }

    async fn block(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(self.key(key))
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    async fn try_block(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(1)
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(set.is_some())
    }

    async fn count(&self, key: &str) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let count: Option<u64> = conn.get(self.key(key)).await?;
        Ok(count.unwrap_or(0))
    }

    async fn blocked(&self, key: &str) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn.clone();
        let ttl: i64 = redis::cmd("PTTL")
            .arg(self.key(key))
            .query_async(&mut conn)
            .await?;
        Ok((ttl > 0).then(|| ceil_seconds(ttl).max(1)))
    }

    async fn clear(&self, keys: &[String]) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let keys: Vec<String> = keys.iter().map(|k| self.key(k)).collect();
        let _: () = conn.del(keys).await?;
        Ok(())
    }
}
