//! Sessions and revoked access tokens in Redis.
//!
//! Layout, under a configurable prefix `P`:
//! - `P:s:{sid}` — the session as compact JSON, expiring with it; rotation is one Lua
//!   script on this one key (the `{sid}` hash tag keeps it in one cluster slot);
//! - `P:u:{user}` — the set of a user's session ids, so all can be ended together;
//! - `P:j:<jti>` — a revoked access token, until it would have expired.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};

use crate::domain::{Session, SessionId, UserId};
use crate::store::{Rotated, Rotation, SessionStore, StoreError};
use crate::token::{SealedSuccessor, TokenHash};

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

/// The session as stored: short keys keep it small.
#[derive(Serialize, Deserialize)]
struct Stored {
    u: String,
    c: String,
    s: String,
    ca: i64,
    lu: i64,
    ae: i64,
    ie: i64,
    at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ua: Option<String>,
    h: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ph: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

impl Stored {
    fn new(session: &Session, refresh: TokenHash) -> Self {
        Self {
            u: session.user_id.to_string(),
            c: session.client_id.clone(),
            s: session.scope.clone(),
            ca: session.created_at.timestamp(),
            lu: session.last_used_at.timestamp(),
            ae: session.absolute_expires_at.timestamp(),
            ie: session.idle_expires_at.timestamp(),
            at: session.auth_time.timestamp(),
            ip: session.ip.clone(),
            ua: session.user_agent.clone(),
            h: refresh.to_base64(),
            ph: None,
            rt: None,
            x: None,
        }
    }

    fn decode(raw: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(raw).map_err(|e| StoreError::Internal(Box::new(e)))
    }

    fn session(&self, id: &SessionId) -> Result<Session, StoreError> {
        Ok(Session {
            id: id.clone(),
            user_id: UserId::parse(&self.u)
                .map_err(|e| StoreError::Internal(format!("stored session user: {e}").into()))?,
            client_id: self.c.clone(),
            scope: self.s.clone(),
            created_at: at(self.ca),
            last_used_at: at(self.lu),
            absolute_expires_at: at(self.ae),
            idle_expires_at: at(self.ie),
            auth_time: at(self.at),
            ip: self.ip.clone(),
            user_agent: self.ua.clone(),
        })
    }

    fn sealed(&self) -> Result<SealedSuccessor, StoreError> {
        self.x
            .as_deref()
            .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
            .and_then(|x| <[u8; 32]>::try_from(x.as_slice()).ok())
            .map(SealedSuccessor)
            .ok_or_else(|| StoreError::Internal("stored session has no sealed successor".into()))
    }
}

/// The Redis session store.
#[derive(Clone)]
pub struct RedisSessions {
    conn: ConnectionManager,
    prefix: Arc<str>,
    rotate: Arc<redis::Script>,
}

impl RedisSessions {
    /// Prepares a connection that is made lazily and remade after failures, so Gatehouse
    /// starts and recovers without Redis being up at that moment.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, StoreError> {
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
            rotate: Arc::new(redis::Script::new(include_str!("rotate.lua"))),
        })
    }

    fn session_key(&self, id: &SessionId) -> String {
        format!("{}:s:{{{}}}", self.prefix, id)
    }

    fn user_key(&self, user: UserId) -> String {
        format!("{}:u:{{{}}}", self.prefix, user)
    }

    fn revoked_key(&self, jti: &str) -> String {
        format!("{}:j:{jti}", self.prefix)
    }

    /// The stored bytes of one session key (for measuring memory use).
    pub fn session_key_name(&self, id: &SessionId) -> String {
        self.session_key(id)
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Stored>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn.get(self.session_key(id)).await?;
        raw.map(|r| Stored::decode(&r)).transpose()
    }
}

fn live(stored: Stored, id: &SessionId, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
    let session = stored.session(id)?;
    Ok((!session.is_expired(now)).then_some(session))
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create_session(
        &self,
        session: &Session,
        refresh: TokenHash,
    ) -> Result<(), StoreError> {
        let stored = serde_json::to_vec(&Stored::new(session, refresh))
            .map_err(|e| StoreError::Internal(Box::new(e)))?;
        let expires = session.expires_at().timestamp();
        let index = self.user_key(session.user_id);
        // The index first: a session that exists is always one "end all" can find.
        let mut pipe = redis::pipe();
        pipe.sadd(&index, session.id.as_str())
            .ignore()
            .cmd("EXPIREAT")
            .arg(&index)
            .arg(expires)
            .arg("NX")
            .ignore()
            .cmd("EXPIREAT")
            .arg(&index)
            .arg(expires)
            .arg("GT")
            .ignore()
            .cmd("SET")
            .arg(self.session_key(&session.id))
            .arg(stored)
            .arg("EXAT")
            .arg(expires)
            .ignore();
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn rotate_refresh_token(&self, rotation: Rotation<'_>) -> Result<Rotated, StoreError> {
        let mut conn = self.conn.clone();
        let asked = rotation.scope.map(|s| s.join(" ")).unwrap_or_default();
        let reply: Vec<Vec<u8>> = self
            .rotate
            .key(self.session_key(rotation.session))
            .arg(rotation.presented.to_base64())
            .arg(rotation.successor.to_base64())
            .arg(URL_SAFE_NO_PAD.encode(rotation.sealed.0))
            .arg(rotation.client_id)
            .arg(asked)
            .arg(rotation.now.timestamp())
            .arg(rotation.grace.as_secs())
            .arg(rotation.idle_ttl.as_secs())
            .invoke_async(&mut conn)
            .await?;
        let outcome = reply.first().map(Vec::as_slice).unwrap_or_default();
        let stored = || -> Result<Stored, StoreError> {
            Stored::decode(reply.get(1).map(Vec::as_slice).unwrap_or_default())
        };
        Ok(match outcome {
            b"rotated" => Rotated::Rotated(stored()?.session(rotation.session)?),
            b"retried" => {
                let stored = stored()?;
                Rotated::Retried(stored.session(rotation.session)?, stored.sealed()?)
            }
            b"reused" => Rotated::Reused(stored()?.session(rotation.session)?),
            b"widened" => Rotated::ScopeWidened,
            _ => Rotated::Refused,
        })
    }

    async fn find_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        match self.get(id).await? {
            Some(stored) => live(stored, id, now),
            None => Ok(None),
        }
    }

    async fn find_session_by_refresh(
        &self,
        id: &SessionId,
        refresh: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        match self.get(id).await? {
            Some(stored) if stored.h == refresh.to_base64() => live(stored, id, now),
            _ => Ok(None),
        }
    }

    async fn list_user_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let mut conn = self.conn.clone();
        let index = self.user_key(user);
        let ids: Vec<String> = conn.smembers(&index).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<SessionId> = ids
            .iter()
            .filter_map(|i| SessionId::parse(i).ok())
            .collect();
        let keys: Vec<String> = ids.iter().map(|id| self.session_key(id)).collect();
        let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(keys.len());
        // One GET per key: the keys live in different cluster slots.
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.get(key);
        }
        values.extend(pipe.query_async::<Vec<Option<Vec<u8>>>>(&mut conn).await?);
        let mut sessions = Vec::new();
        let mut gone = Vec::new();
        for (id, value) in ids.iter().zip(values) {
            match value {
                Some(raw) => match live(Stored::decode(&raw)?, id, now)? {
                    Some(session) if session.user_id == user => sessions.push(session),
                    _ => gone.push(id.as_str().to_string()),
                },
                None => gone.push(id.as_str().to_string()),
            }
        }
        if !gone.is_empty() {
            let _: () = conn.srem(&index, gone).await?;
        }
        sessions.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        Ok(sessions)
    }

    async fn end_session(&self, id: &SessionId) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = redis::cmd("GETDEL")
            .arg(self.session_key(id))
            .query_async(&mut conn)
            .await?;
        let Some(raw) = raw else {
            return Ok(false);
        };
        if let Ok(stored) = Stored::decode(&raw) {
            if let Ok(user) = UserId::parse(&stored.u) {
                let _: () = conn.srem(self.user_key(user), id.as_str()).await?;
            }
        }
        Ok(true)
    }

    async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        let index = self.user_key(user);
        let ids: Vec<String> = conn.smembers(&index).await?;
        let ending: Vec<&String> = ids
            .iter()
            .filter(|id| keep.is_none_or(|k| k.as_str() != id.as_str()))
            .collect();
        if ending.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for id in &ending {
            if let Ok(id) = SessionId::parse(id) {
                pipe.del(self.session_key(&id));
            }
        }
        let deleted: Vec<u64> = pipe.query_async(&mut conn).await?;
        let _: () = conn.srem(&index, ending).await?;
        Ok(deleted.iter().sum())
    }

    async fn revoke_access_token(&self, jti: &str, until: DateTime<Utc>) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let _: Option<String> = redis::cmd("SET")
            .arg(self.revoked_key(jti))
            .arg(1)
            .arg("EXAT")
            .arg(until.timestamp().max(Utc::now().timestamp() + 1))
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        Ok(())
    }

    async fn is_access_token_revoked(
        &self,
        jti: &str,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.exists(self.revoked_key(jti)).await?)
    }

    async fn purge_expired(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }
}
