//! How Redis holds a session (a MessagePack array) and a revocation-feed entry.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::{Scopes, Session, SessionId, UserId};
use crate::store::StoreError;
use crate::token::{SealedSuccessor, TokenHash};

/// The session as stored: a MessagePack array (no field names), binary ids and hashes,
/// whole-second times, and no field derivable from another (the idle expiry is the last
/// use plus the configured idle lifetime; the last rotation is the last use). Absent
/// values are empty, never nil, so the Lua script sees a plain array. Bytes are written
/// as MessagePack strings: Redis's Lua `cmsgpack` does not read the `bin` types.
pub(super) struct Stored {
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
    amr: String,
}

/// Fields of a session stored now; one stored before `amr` existed has one fewer.
const FIELDS: u32 = 13;

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

pub(super) fn at(seconds: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(seconds, 0).single().unwrap_or_default()
}

/// A revocation-feed entry: `s:<ended at>:<sid>` or `j:<revoked at>:<jti>`.
pub(super) fn feed_member(kind: char, at: DateTime<Utc>, id: &str) -> String {
    format!("{kind}:{}:{id}", at.timestamp())
}

/// A revocation-feed entry read back: its kind (`s` or `j`), time and id; `None` when it
/// is not one [`feed_member`] wrote.
pub(super) fn read_feed_member(member: &str) -> Option<(&str, i64, &str)> {
    let mut parts = member.splitn(3, ':');
    let kind = parts.next()?;
    let when = parts.next()?.parse().ok()?;
    Some((kind, when, parts.next()?))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("stored session: bad {what}").into())
}

impl Stored {
    pub(super) fn new(session: &Session, refresh: TokenHash) -> Self {
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
            scope: session.scope.to_string(),
            created: session.created_at.timestamp(),
            last_used: session.last_used_at.timestamp(),
            absolute_expiry: session.absolute_expires_at.timestamp(),
            auth_time: session.auth_time.timestamp(),
            ip,
            user_agent: session.user_agent.clone().unwrap_or_default(),
            hash: refresh.0.to_vec(),
            previous_hash: Vec::new(),
            sealed: Vec::new(),
            amr: session.amr.join(" "),
        }
    }

    pub(super) fn encode(&self) -> Result<Vec<u8>, StoreError> {
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
        write_bytes(&mut out, self.amr.as_bytes());
        Ok(out)
    }

    pub(super) fn decode(raw: &[u8]) -> Result<Self, StoreError> {
        let rd = &mut &raw[..];
        let fields = rmp::decode::read_array_len(rd).map_err(|_| corrupt("array"))?;
        if fields != FIELDS && fields != FIELDS - 1 {
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
            amr: if fields == FIELDS {
                read_text(rd)?
            } else {
                String::new()
            },
        })
    }

    pub(super) fn user_id(&self) -> Result<UserId, StoreError> {
        uuid::Uuid::from_slice(&self.user)
            .map(UserId::from_uuid)
            .map_err(|_| corrupt("user"))
    }

    pub(super) fn session(&self, id: &SessionId, idle: Duration) -> Result<Session, StoreError> {
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
            scope: Scopes::from_stored(&self.scope),
            created_at: at(self.created),
            last_used_at: at(self.last_used),
            absolute_expires_at: at(self.absolute_expiry),
            idle_expires_at: at(self.last_used.saturating_add(idle.as_secs() as i64)),
            auth_time: at(self.auth_time),
            amr: crate::domain::stored_amr(&self.amr),
            ip,
            user_agent: (!self.user_agent.is_empty()).then(|| self.user_agent.clone()),
        })
    }

    pub(super) fn sealed(&self) -> Result<SealedSuccessor, StoreError> {
        <[u8; 32]>::try_from(&self.sealed[..])
            .map(SealedSuccessor)
            .map_err(|_| corrupt("sealed successor"))
    }

    pub(super) fn current_hash(&self) -> Option<TokenHash> {
        TokenHash::from_slice(&self.hash)
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
            scope: Scopes::from_stored("openid email"),
            created_at: now,
            last_used_at: now,
            absolute_expires_at: at(1_900_000_000),
            idle_expires_at: at(1_800_000_060),
            auth_time: now,
            amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
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

    #[test]
    fn a_feed_member_reads_back() {
        let member = feed_member('s', at(1_800_000_000), "abc:def");
        assert_eq!(
            read_feed_member(&member),
            Some(("s", 1_800_000_000, "abc:def"))
        );
        assert_eq!(read_feed_member("s:soon:abc"), None);
        assert_eq!(read_feed_member("s:1"), None);
    }
}
