//! Sessions: one sign-in of one person with one client, and what is known about it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;

use super::{Invalid, UserId};

/// A session id: 128 random bits, base64url. It is the `sid` claim, so it is not secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(String);

impl SessionId {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = text.len() == 22
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(Invalid::new("not a session id"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A live session.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub client_id: String,
    /// The scope granted at sign-in; refreshes may narrow it per token.
    pub scope: super::Scopes,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// No refresh is possible after this, however active the session (`REFRESH_TOKEN_MAX_TTL`).
    pub absolute_expires_at: DateTime<Utc>,
    /// The session ends if unused until this (`REFRESH_TOKEN_IDLE_TTL` after last use).
    pub idle_expires_at: DateTime<Utc>,
    pub auth_time: DateTime<Utc>,
    /// How the person signed in (RFC 8176): `["pwd"]`, or `["pwd", "otp", "mfa"]` with a
    /// second factor. Refreshes keep it.
    pub amr: Vec<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// `amr` as stored: space-separated; a session stored before `amr` existed signed in with
/// its password.
pub fn stored_amr(text: &str) -> Vec<String> {
    let amr: Vec<String> = text
        .split(' ')
        .filter(|m| !m.is_empty())
        .map(String::from)
        .collect();
    if amr.is_empty() {
        vec!["pwd".into()]
    } else {
        amr
    }
}

impl Session {
    /// When the session ends if nothing else happens.
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.absolute_expires_at.min(self.idle_expires_at)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at()
    }
}

/// Why a session ended, for logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndCause {
    Logout,
    SelfService,
    Admin,
    PasswordChanged,
    UserDisabled,
    RefreshReused,
    Revoked,
}

impl EndCause {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::SelfService => "self_service",
            Self::Admin => "admin",
            Self::PasswordChanged => "password_changed",
            Self::UserDisabled => "user_disabled",
            Self::RefreshReused => "refresh_reused",
            Self::Revoked => "revoked",
        }
    }
}
