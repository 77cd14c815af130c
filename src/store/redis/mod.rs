//! Sessions and revoked access tokens in Redis.
//!
//! Layout, under a configurable prefix `P`:
//! - `P:s:{sid}` — the session as a MessagePack array, expiring with it; rotation is one Lua
//!   script on this one key (the `{sid}` hash tag keeps it in one cluster slot);
//! - `P:h:{sid}` — the last 32 refresh-token hashes the session rotated past, so a replay
//!   of any of them ends it (same slot as the session);
//! - `P:u:{user}` — the set of a user's session ids, so all can be ended together;
//! - `P:j:<jti>` — a revoked access token, until it would have expired;
//! - `P:rv` — the revocation feed: a sorted set of `s:<ended at>:<sid>` (sessions ended) and
//!   `j:<revoked at>:<jti>` (access tokens revoked), scored by when each stops being listed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::domain::{Session, SessionId, UserId};
use crate::store::{Revocation, RevocationFeed, Rotated, Rotation, SessionStore, StoreError};
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

/// The session as stored: a MessagePack array (no field names), binary ids and hashes,
/// whole-second times, and no field derivable from another (the idle expiry is the last
/// use plus the configured idle lifetime; the last rotation is the last use). Absent
/// values are empty, never nil, so the Lua script sees a plain array. Bytes are written
/// as MessagePack strings: Redis's Lua `cmsgpack` does not read the `bin` types.
struct Stored {
    user: Vec<u8>,
    client: String,
    scope: String,
    created: i64,
    last_used: i64,
    absolute_expiry: i64,
    auth_time: i64,
    ip: Vec<u8>,
    user_agent: String,
    hash: Vec<u8>,
    previous_hash: Vec<u8>,
    sealed: Vec<u8>,
}

const FIELDS: u32 = 12;

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Writing to a Vec cannot fail.
    let _ = rmp::encode::write_str_len(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

fn read_bytes(rd: &mut &[u8]) -> Result<Vec<u8>, StoreError> {
    let len = rmp::decode::read_str_len(rd).map_err(|_| corrupt("string"))? as usize;
    if rd.len() < len {
        return Err(corrupt("string length"));
    }
    let (bytes, rest) = rd.split_at(len);
    *rd = rest;
    Ok(bytes.to_vec())
}

fn read_text(rd: &mut &[u8]) -> Result<String, StoreError> {
    String::from_utf8(read_bytes(rd)?).map_err(|_| corrupt("text"))
}

fn read_time(rd: &mut &[u8]) -> Result<i64, StoreError> {
    rmp::decode::read_int(rd).map_err(|_| corrupt("time"))
}

fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

/// A revocation-feed entry: `s:<ended at>:<sid>` or `j:<revoked at>:<jti>`.
fn feed_member(kind: char, at: DateTime<Utc>, id: &str) -> String {
    format!("{kind}:{}:{id}", at.timestamp())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored session: bad {what}").into())
}

impl Stored {
    fn new(session: &Session, refresh: TokenHash) -> Self {
        let ip = match session
            .ip
            .as_deref()
            .and_then(|ip| ip.parse::<IpAddr>().ok())
        {
            Some(IpAddr::V4(v4)) => v4.octets().to_vec(),
            Some(IpAddr::V6(v6)) => v6.octets().to_vec(),
            None => Vec::new(),
        };
        Self {
            user: session.user_id.as_uuid().as_bytes().to_vec(),
            client: session.client_id.clone(),
            scope: session.scope.clone(),
            created: session.created_at.timestamp(),
            last_used: session.last_used_at.timestamp(),
            absolute_expiry: session.absolute_expires_at.timestamp(),
            auth_time: session.auth_time.timestamp(),
            ip,
            user_agent: session.user_agent.clone().unwrap_or_default(),
            hash: refresh.0.to_vec(),
            previous_hash: Vec::new(),
            sealed: Vec::new(),
        }
    }

    fn encode(&self) -> Result<Vec<u8>, StoreError> {
        let mut out = Vec::with_capacity(256);
        let _ = rmp::encode::write_array_len(&mut out, FIELDS);
        write_bytes(&mut out, &self.user);
        write_bytes(&mut out, self.client.as_bytes());
        write_bytes(&mut out, self.scope.as_bytes());
        for time in [
            self.created,
            self.last_used,
            self.absolute_expiry,
            self.auth_time,
        ] {
            let _ = rmp::encode::write_sint(&mut out, time);
        }
        write_bytes(&mut out, &self.ip);
        write_bytes(&mut out, self.user_agent.as_bytes());
        write_bytes(&mut out, &self.hash);
        write_bytes(&mut out, &self.previous_hash);
        write_bytes(&mut out, &self.sealed);
        Ok(out)
    }

    fn decode(raw: &[u8]) -> Result<Self, StoreError> {
        let rd = &mut &raw[..];
        if rmp::decode::read_array_len(rd).map_err(|_| corrupt("array"))? != FIELDS {
            return Err(corrupt("field count"));
        }
        Ok(Self {
            user: read_bytes(rd)?,
            client: read_text(rd)?,
            scope: read_text(rd)?,
            created: read_time(rd)?,
            last_used: read_time(rd)?,
            absolute_expiry: read_time(rd)?,
            auth_time: read_time(rd)?,
            ip: read_bytes(rd)?,
            user_agent: read_text(rd)?,
            hash: read_bytes(rd)?,
            previous_hash: read_bytes(rd)?,
            sealed: read_bytes(rd)?,
        })
    }

    fn user_id(&self) -> Result<UserId, StoreError> {
        uuid::Uuid::from_slice(&self.user)
            .map(UserId::from_uuid)
            .map_err(|_| corrupt("user"))
    }

    fn session(&self, id: &SessionId, idle: Duration) -> Result<Session, StoreError> {
        let ip = match self.ip.len() {
            0 => None,
            4 => <[u8; 4]>::try_from(&self.ip[..])
                .ok()
                .map(|b| IpAddr::from(b).to_string()),
            16 => <[u8; 16]>::try_from(&self.ip[..])
                .ok()
                .map(|b| IpAddr::from(b).to_string()),
            _ => return Err(corrupt("ip")),
        };
        Ok(Session {
            id: id.clone(),
            user_id: self.user_id()?,
            client_id: self.client.clone(),
            scope: self.scope.clone(),
            created_at: at(self.created),
            last_used_at: at(self.last_used),
            absolute_expires_at: at(self.absolute_expiry),
            idle_expires_at: at(self.last_used.saturating_add(idle.as_secs() as i64)),
            auth_time: at(self.auth_time),
            ip,
            user_agent: (!self.user_agent.is_empty()).then(|| self.user_agent.clone()),
        })
    }

    fn sealed(&self) -> Result<SealedSuccessor, StoreError> {
        <[u8; 32]>::try_from(&self.sealed[..])
            .map(SealedSuccessor)
            .map_err(|_| corrupt("sealed successor"))
    }

    fn current_hash(&self) -> Option<TokenHash> {
        TokenHash::from_slice(&self.hash)
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

    /// Adds entries to the revocation feed (`kind` `s` or `j`), listed until
    /// `revocation.listed_until`, and drops the entries no longer listed. Each entry is one
    /// `ZADD … NX` whose reply (1 when it was new) the caller reads: an entry that was
    /// already there (the same session ended the same second by another path) must not be
    /// taken out again by this caller.
    fn list_in_feed<'a>(
        &self,
        pipe: &mut redis::Pipeline,
        kind: char,
        ids: impl IntoIterator<Item = &'a str>,
        revocation: Revocation,
    ) {
        let key = self.feed_key();
        let at = revocation.at.timestamp();
        let until = revocation.listed_until.timestamp();
        let members: Vec<(i64, String)> = ids
            .into_iter()
            .map(|id| (until, feed_member(kind, revocation.at, id)))
            .collect();
        if members.is_empty() {
            return;
        }
        for (score, member) in &members {
            pipe.cmd("ZADD").arg(&key).arg("NX").arg(score).arg(member);
        }
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg("-inf")
            .arg(format!("({at}"))
            .ignore()
            .cmd("EXPIREAT")
            .arg(&key)
            .arg(until)
            .arg("NX")
            .ignore()
            .cmd("EXPIREAT")
            .arg(&key)
            .arg(until)
            .arg("GT")
            .ignore();
    }

    async fn get(&self, id: &SessionId) -> Result<Option<Stored>, StoreError> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn.get(self.session_key(id)).await?;
        raw.map(|r| Stored::decode(&r)).transpose()
    }
}

impl RedisSessions {
    fn live(
        &self,
        stored: &Stored,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let session = stored.session(id, self.idle_ttl)?;
        Ok((!session.is_expired(now)).then_some(session))
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create_session(
        &self,
        session: &Session,
        refresh: TokenHash,
    ) -> Result<(), StoreError> {
        let stored = Stored::new(session, refresh).encode()?;
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
            .key(self.history_key(rotation.session))
            .key(self.feed_key())
            .arg(&rotation.presented.0[..])
            .arg(&rotation.successor.0[..])
            .arg(&rotation.sealed.0[..])
            .arg(rotation.client_id)
            .arg(asked)
            .arg(rotation.now.timestamp())
            .arg(rotation.grace.as_secs())
            .arg(rotation.idle_ttl.as_secs())
            .arg(feed_member('s', rotation.now, rotation.session.as_str()))
            .arg(rotation.listed_until.timestamp())
            .invoke_async(&mut conn)
            .await?;
        let outcome = reply.first().map(Vec::as_slice).unwrap_or_default();
        let stored = || -> Result<Stored, StoreError> {
            Stored::decode(reply.get(1).map(Vec::as_slice).unwrap_or_default())
        };
        Ok(match outcome {
            b"rotated" => Rotated::Rotated(stored()?.session(rotation.session, self.idle_ttl)?),
            b"retried" => {
                let stored = stored()?;
                Rotated::Retried(
                    stored.session(rotation.session, self.idle_ttl)?,
                    stored.sealed()?,
                )
            }
            // The script ended the session and listed it in the feed.
            b"reused" => Rotated::Reused(stored()?.session(rotation.session, self.idle_ttl)?),
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
            Some(stored) => self.live(&stored, id, now),
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
            Some(stored) if stored.current_hash() == Some(refresh) => self.live(&stored, id, now),
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
                Some(raw) => match self.live(&Stored::decode(&raw)?, id, now)? {
                    Some(session) if session.user_id == user => sessions.push(session),
                    _ => gone.push(id.as_str().to_string()),
                },
                None => gone.push(id.as_str().to_string()),
            }
        }
        if !gone.is_empty() {
            let _: () = conn.srem(&index, gone).await?;
        }
        sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(sessions)
    }

    async fn end_session(&self, id: &SessionId, ended: Revocation) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        // Listed first, in the same round trip: if the connection fails after the
        // delete, the session is still in the feed. A session that was not there is
        // taken out of it again.
        let mut pipe = redis::pipe();
        self.list_in_feed(&mut pipe, 's', [id.as_str()], ended);
        let (added, raw, _): (u64, Option<Vec<u8>>, u64) = pipe
            .cmd("GETDEL")
            .arg(self.session_key(id))
            .del(self.history_key(id))
            .query_async(&mut conn)
            .await?;
        let found = raw.is_some();
        let mut pipe = redis::pipe();
        match raw {
            Some(raw) => {
                if let Ok(user) = Stored::decode(&raw).and_then(|s| s.user_id()) {
                    pipe.srem(self.user_key(user), id.as_str()).ignore();
                }
            }
            None if added == 1 => {
                pipe.zrem(self.feed_key(), feed_member('s', ended.at, id.as_str()))
                    .ignore();
            }
            None => {}
        }
        if !pipe.is_empty() {
            pipe.query_async::<()>(&mut conn).await?;
        }
        Ok(found)
    }

    async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        ended: Revocation,
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
        let parsed: Vec<SessionId> = ending
            .iter()
            .filter_map(|id| SessionId::parse(id).ok())
            .collect();
        if parsed.is_empty() {
            let _: () = conn.srem(&index, ending).await?;
            return Ok(0);
        }
        // Listed first, in the same round trip as the deletes (see `end_session`).
        let mut pipe = redis::pipe();
        self.list_in_feed(&mut pipe, 's', parsed.iter().map(SessionId::as_str), ended);
        for id in &parsed {
            pipe.del(self.session_key(id));
            pipe.del(self.history_key(id)).ignore();
        }
        let replies: Vec<u64> = pipe.query_async(&mut conn).await?;
        let (added, deleted) = replies.split_at(parsed.len().min(replies.len()));
        // Sessions that were no longer there had expired (or just ended otherwise, and
        // were listed then): not listed by this call after all.
        let expired: Vec<String> = parsed
            .iter()
            .zip(added.iter().zip(deleted))
            .filter(|&(_, (&new, &n))| new == 1 && n == 0)
            .map(|(id, _)| feed_member('s', ended.at, id.as_str()))
            .collect();
        let mut pipe = redis::pipe();
        pipe.srem(&index, ending).ignore();
        if !expired.is_empty() {
            pipe.zrem(self.feed_key(), expired).ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(deleted.iter().sum())
    }

    async fn revoke_access_token(
        &self,
        jti: &str,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        let until = until.max(at + chrono::Duration::seconds(1));
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(self.revoked_key(jti))
            .arg(1)
            .arg("EXAT")
            .arg(until.timestamp())
            .arg("NX")
            .ignore();
        self.list_in_feed(
            &mut pipe,
            'j',
            [jti],
            Revocation {
                at,
                listed_until: until,
            },
        );
        pipe.query_async::<()>(&mut conn).await?;
        Ok(())
    }

    async fn revocations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RevocationFeed, StoreError> {
        let mut conn = self.conn.clone();
        let members: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.feed_key())
            .arg(format!("({}", now.timestamp()))
            .arg("+inf")
            .arg("BYSCORE")
            .query_async(&mut conn)
            .await?;
        let since = since.timestamp();
        let mut feed = RevocationFeed::default();
        for member in &members {
            let mut parts = member.splitn(3, ':');
            let (Some(kind), Some(Ok(when)), Some(id)) = (
                parts.next(),
                parts.next().map(str::parse::<i64>),
                parts.next(),
            ) else {
                // Not written by Gatehouse; one stray entry must not stop the feed.
                tracing::warn!(entry = %member, "revocation feed: skipping an unreadable entry");
                continue;
            };
            if when < since {
                continue;
            }
            match kind {
                "s" => feed.sessions.push((id.to_string(), at(when))),
                "j" => feed.access_tokens.push((id.to_string(), at(when))),
                _ => {}
            }
        }
        feed.sessions.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        feed.access_tokens
            .sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        Ok(feed)
    }

    async fn is_access_token_revoked(
        &self,
        jti: &str,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn.clone();
        Ok(conn.exists(self.revoked_key(jti)).await?)
    }

    async fn access_token_state(
        &self,
        jti: &str,
        session: Option<&SessionId>,
        now: DateTime<Utc>,
    ) -> Result<(bool, Option<Session>), StoreError> {
        // One round trip for both questions.
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.exists(self.revoked_key(jti));
        match session {
            Some(id) => pipe.get(self.session_key(id)),
            None => pipe.cmd("ECHO").arg(""),
        };
        let (revoked, raw): (bool, Option<Vec<u8>>) = pipe.query_async(&mut conn).await?;
        if revoked {
            return Ok((true, None));
        }
        match (session, raw) {
            (Some(id), Some(raw)) if !raw.is_empty() => {
                Ok((false, self.live(&Stored::decode(&raw)?, id, now)?))
            }
            _ => Ok((false, None)),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_session_round_trips() {
        let now = at(1_800_000_000);
        let session = Session {
            id: SessionId::generate(),
            user_id: UserId::generate(),
            client_id: "gatehouse".into(),
            scope: "openid email".into(),
            created_at: now,
            last_used_at: now,
            absolute_expires_at: at(1_900_000_000),
            idle_expires_at: at(1_800_000_060),
            auth_time: now,
            ip: Some("2001:db8::1".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        };
        let hash = TokenHash([7; 16]);
        let raw = Stored::new(&session, hash).encode().unwrap();
        let back = Stored::decode(&raw).unwrap();
        assert_eq!(
            back.session(&session.id, Duration::from_secs(60)).unwrap(),
            session
        );
        assert_eq!(back.current_hash(), Some(hash));
        assert!(Stored::decode(&raw[..raw.len() - 1]).is_err());
    }
}

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
impl crate::store::RateCounters for RedisCounters {
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
