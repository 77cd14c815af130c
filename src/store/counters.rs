//! Rate-limit counters: keys counted over a window or blocked for a while, which
//! [`crate::limits`] applies. Redis keeps them for every instance; [`LocalCounters`] for one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::clock::Clock;

type Instant = DateTime<Utc>;

/// Counters that expire: the storage side of the limits.
#[async_trait]
pub trait RateCounters: Send + Sync {
    /// Adds one to `key`, whose window starts at its first hit; returns the count and
    /// the seconds left in the window. Race-free: concurrent hits all count.
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, u64), StoreError>;
    /// Blocks `key` for `ttl` (it may only be extended).
    async fn block(&self, key: &str, ttl: Duration) -> Result<(), StoreError>;
    /// Blocks `key` for `ttl` unless it is blocked already; true when this call did.
    async fn try_block(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;
    /// Seconds `key` stays blocked, if it is.
    async fn blocked(&self, key: &str) -> Result<Option<u64>, StoreError>;
    /// The current count of `key` (0 when absent or expired).
    async fn count(&self, key: &str) -> Result<u64, StoreError>;
    async fn clear(&self, keys: &[String]) -> Result<(), StoreError>;
}

/// Counters of one process, for deployments without Redis. Their windows run on the
/// server's clock, so a test that moves it sees a limit reset without waiting.
pub struct LocalCounters {
    entries: Mutex<HashMap<String, (u64, Instant)>>,
    clock: Arc<dyn Clock>,
}

impl LocalCounters {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: Mutex::default(),
            clock,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, (u64, Instant)>, Instant) -> T) -> T {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        if entries.len() > 100_000 {
            entries.retain(|_, (_, until)| *until > now);
        }
        f(&mut entries, now)
    }
}

fn seconds_until(until: Instant, now: Instant) -> u64 {
    let micros = (until - now).num_microseconds().unwrap_or(i64::MAX).max(0) as u64;
    micros.div_ceil(1_000_000)
}

/// `now` plus a window or lifetime.
fn after(now: Instant, span: Duration) -> Instant {
    now + chrono::Duration::from_std(span).unwrap_or(chrono::Duration::MAX)
}

#[async_trait]
impl RateCounters for LocalCounters {
    async fn hit(&self, key: &str, window: Duration) -> Result<(u64, u64), StoreError> {
        Ok(self.with(|entries, now| {
            let entry = entries
                .entry(key.to_string())
                .or_insert((0, after(now, window)));
            if entry.1 <= now {
                *entry = (0, after(now, window));
            }
            entry.0 += 1;
            (entry.0, seconds_until(entry.1, now))
        }))
    }

    async fn block(&self, key: &str, ttl: Duration) -> Result<(), StoreError> {
        self.with(|entries, now| {
            let until = after(now, ttl);
            let entry = entries.entry(key.to_string()).or_insert((1, until));
            entry.1 = entry.1.max(until);
        });
        Ok(())
    }

    async fn try_block(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        Ok(self.with(|entries, now| match entries.get(key) {
            Some((_, until)) if *until > now => false,
            _ => {
                entries.insert(key.to_string(), (1, after(now, ttl)));
                true
            }
        }))
    }

    async fn count(&self, key: &str) -> Result<u64, StoreError> {
        Ok(self.with(|entries, now| {
            entries
                .get(key)
                .filter(|(_, until)| *until > now)
                .map_or(0, |(count, _)| *count)
        }))
    }

    async fn blocked(&self, key: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.with(|entries, now| {
            entries
                .get(key)
                .filter(|(_, until)| *until > now)
                .map(|(_, until)| seconds_until(*until, now).max(1))
        }))
    }

    async fn clear(&self, keys: &[String]) -> Result<(), StoreError> {
        self.with(|entries, _| {
            for key in keys {
                entries.remove(key);
            }
        });
        Ok(())
    }
}
