//! Redis: sessions, revoked access tokens and the revocation feed (`sessions`), the
//! rate-limit counters (`counters`) and short-lived states (`pending`), on one connection
//! and key prefix; `codec` is how a session is stored.
//!
//! Layout, under a configurable prefix `P`:
//! - `P:s:{sid}` — the session as a MessagePack array, expiring with it; rotation is one Lua
//!   script on this one key (the `{sid}` hash tag keeps it in one cluster slot);
//! - `P:h:{sid}` — the last 32 refresh-token hashes the session rotated past, so a replay
//!   of any of them ends it (same slot as the session);
//! - `P:u:{user}` — the set of a user's session ids, so all can be ended together;
//! - `P:j:<jti>` — a revoked access token, until it would have expired;
//! - `P:rv` — the revocation feed: a sorted set of `s:<ended at>:<sid>` (sessions ended) and
//!   `j:<revoked at>:<jti>` (access tokens revoked), scored by when each stops being listed;
//! - `P:rl:<key>` — a rate-limit counter or wait;
//! - `P:p:<kind>:<hash>` — a short-lived state (a sign-in waiting for its second factor),
//!   expiring with it.

mod codec;
mod counters;
mod pending;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

pub use counters::RedisCounters;

use crate::domain::{SessionId, UserId};
use crate::store::StoreError;

impl From<redis::RedisError> for StoreError {
    fn from(e: redis::RedisError) -> Self {
        match e.kind() {
            redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError)
            | redis::ErrorKind::UnexpectedReturnType
            | redis::ErrorKind::Parse
            | redis::ErrorKind::InvalidClientConfig => Self::Internal(Box::new(e)),
            _ => Self::Unavailable(Box::new(e)),
        }
    }
}

/// The Redis session store.
#[derive(Clone)]
pub struct RedisSessions {
    conn: ConnectionManager,
    prefix: Arc<str>,
    idle_ttl: Duration,
    rotate: Arc<redis::Script>,
}

impl RedisSessions {
    /// Prepares a connection that is made lazily and remade after failures, so Gatehouse
    /// starts and recovers without Redis being up at that moment.
    pub fn connect(url: &str, prefix: &str, idle_ttl: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::Internal(Box::new(e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        Ok(Self {
            conn,
            prefix: prefix.into(),
            idle_ttl,
            rotate: Arc::new(redis::Script::new(include_str!("rotate.lua"))),
        })
    }

    fn session_key(&self, id: &SessionId) -> String {
        format!("{}:s:{{{}}}", self.prefix, id)
    }

    /// Hashes a session rotated past; the same `{sid}` slot as the session.
    fn history_key(&self, id: &SessionId) -> String {
        format!("{}:h:{{{}}}", self.prefix, id)
    }

    fn user_key(&self, user: UserId) -> String {
        format!("{}:u:{{{}}}", self.prefix, user)
    }

    fn revoked_key(&self, jti: &str) -> String {
        format!("{}:j:{jti}", self.prefix)
    }

    fn feed_key(&self) -> String {
        format!("{}:rv", self.prefix)
    }
}
