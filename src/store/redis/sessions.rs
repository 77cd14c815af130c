//! The session store on Redis: sessions and their refresh-token rotation, revoked access
//! tokens and the revocation feed (the key layout is in the parent module).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands;

use super::RedisSessions;
use super::codec::{Stored, at, feed_member, read_feed_member};
use crate::domain::{Session, SessionId, UserId};
use crate::store::{Revocation, RevocationFeed, Rotated, Rotation, SessionStore, StoreError};
use crate::token::TokenHash;

impl RedisSessions {
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

    /// The session `stored` holds, unless it has expired.
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
        let reply: Vec<Vec<u8>> = self
            .rotate
            .key(self.session_key(rotation.session))
            .key(self.history_key(rotation.session))
            .key(self.feed_key())
            .arg(&rotation.presented.0[..])
            .arg(&rotation.successor.0[..])
            .arg(&rotation.sealed.0[..])
            .arg(rotation.client_id)
            .arg(if rotation.widens_scope { "1" } else { "" })
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
            let Some((kind, when, id)) = read_feed_member(member) else {
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

    async fn count_live_sessions(&self, _now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Session keys expire with their sessions: counting them is counting the live ones.
        let mut conn = self.conn.clone();
        let pattern = format!("{}:s:*", self.prefix);
        let mut cursor: u64 = 0;
        let mut count = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await?;
            count += keys.len() as u64;
            if next == 0 {
                return Ok(count);
            }
            cursor = next;
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("PING").query_async::<String>(&mut conn).await?;
        Ok(())
    }
}
