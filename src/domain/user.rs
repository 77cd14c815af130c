//! People who sign in: identity, roles, profile.

use std::fmt;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use precis_core::profile::PrecisFastInvocation;
use precis_profiles::Nickname;

use super::{Email, Invalid};

/// A user's stable id: the `sub` of their tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(Uuid);

impl UserId {
    /// A new, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(text: &str) -> Result<Self, Invalid> {
        Uuid::parse_str(text)
            .map(Self)
            .map_err(|_| Invalid::new("not a user id"))
    }

    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// A display name: a PRECIS nickname (RFC 8266 §2: spaces trimmed and collapsed, NFKC),
/// 1 to 100 characters; control, zero-width, bidi-control, BOM and non-character code
/// points are refused (the FreeformClass, RFC 8264 §4.3).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        if text.trim().is_empty() {
            return Err(Invalid::new("must not be empty"));
        }
        if text.chars().any(char::is_control) {
            return Err(Invalid::new("must not contain control characters"));
        }
        let name = Nickname::enforce(text).map_err(|_| {
            Invalid::new("must not contain invisible, formatting or unassigned characters")
        })?;
        if name.chars().count() > 100 {
            return Err(Invalid::new("must be at most 100 characters"));
        }
        Ok(Self(name.into_owned()))
    }

    /// A name as the store holds it, trusted as it is: rules added later must not make
    /// existing accounts unreadable.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A role name as carried in the `roles` claim (`admin`, `coach`, …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub const ADMIN: &'static str = "admin";

    /// Lower-case letters, digits, `-`, `_`, `.` and `:`, 1 to 64 characters.
    pub fn parse(text: &str) -> Result<Self, Invalid> {
        let ok = !text.is_empty()
            && text.len() <= 64
            && text
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.:".contains(c));
        if ok {
            Ok(Self(text.to_string()))
        } else {
            Err(Invalid::new(
                "a role is 1 to 64 lower-case letters, digits, '-', '_', '.' or ':'",
            ))
        }
    }

    /// A role as the store holds it, trusted as it is.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_admin(&self) -> bool {
        self.0 == Self::ADMIN
    }

    /// The names, as the `roles` claim and the API carry them.
    pub fn names(roles: &[Role]) -> Vec<String> {
        roles.iter().map(|r| r.0.clone()).collect()
    }
}

/// What the coaching API knows about a person beyond their name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    pub country: Option<String>,
    pub city: Option<String>,
    /// A JSON object the coaching API interprets.
    pub business_context: Option<Value>,
    pub preferred_language: Option<String>,
}

/// The largest `business_context`, serialized, that a profile keeps.
pub const MAX_BUSINESS_CONTEXT_BYTES: usize = 16 * 1024;

impl Profile {
    pub fn parse_country(text: &str) -> Result<String, Invalid> {
        Self::parse_place(text)
    }

    pub fn parse_city(text: &str) -> Result<String, Invalid> {
        Self::parse_place(text)
    }

    fn parse_place(text: &str) -> Result<String, Invalid> {
        let text = text.trim();
        if text.chars().count() > 100 {
            return Err(Invalid::new("must be at most 100 characters"));
        }
        if text.chars().any(char::is_control) {
            return Err(Invalid::new("must not contain control characters"));
        }
        Ok(text.to_string())
    }

    pub fn parse_business_context(value: &Value) -> Result<Value, Invalid> {
        if !value.is_object() {
            return Err(Invalid::new("must be a JSON object"));
        }
        if value.to_string().len() > MAX_BUSINESS_CONTEXT_BYTES {
            return Err(Invalid::new(format!(
                "must be at most {MAX_BUSINESS_CONTEXT_BYTES} bytes of JSON"
            )));
        }
        Ok(value.clone())
    }

    /// A BCP 47 language tag such as `en`, `fr` or `pt-BR`.
    pub fn parse_language(text: &str) -> Result<String, Invalid> {
        let ok = !text.is_empty()
            && text.len() <= 35
            && text.split('-').all(|part| {
                (1..=8).contains(&part.len()) && part.chars().all(|c| c.is_ascii_alphanumeric())
            })
            && text
                .split('-')
                .next()
                .is_some_and(|p| p.chars().all(|c| c.is_ascii_alphabetic()));
        if ok {
            Ok(text.to_string())
        } else {
            Err(Invalid::new(
                "must be a language tag such as en, fr or pt-BR",
            ))
        }
    }
}

/// A change to a profile: `Some(None)` clears a field, `None` leaves it alone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProfilePatch {
    pub country: Option<Option<String>>,
    pub city: Option<Option<String>>,
    pub business_context: Option<Option<Value>>,
    pub preferred_language: Option<Option<String>>,
}

impl ProfilePatch {
    pub fn apply(self, profile: &mut Profile) {
        if let Some(v) = self.country {
            profile.country = v;
        }
        if let Some(v) = self.city {
            profile.city = v;
        }
        if let Some(v) = self.business_context {
            profile.business_context = v;
        }
        if let Some(v) = self.preferred_language {
            profile.preferred_language = v;
        }
    }
}

/// A stored account. The password hash stays in the store layer.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub email_verified: bool,
    pub roles: Vec<Role>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub profile: Profile,
    /// The old service's integer user id, for accounts imported from it with one.
    pub legacy_id: Option<i64>,
}

/// What registration hands to the store.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub name: UserName,
    pub password_hash: super::Secret<String>,
    pub roles: Vec<Role>,
    pub email_verified: bool,
    pub profile: Profile,
    pub created_at: DateTime<Utc>,
    /// The old service's integer user id, for accounts imported from it.
    pub legacy_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(UserName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse(&"x".repeat(101)).is_err());
        assert!(UserName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn names_follow_the_nickname_profile() {
        assert_eq!(
            UserName::parse("Ada   Lovelace").unwrap().as_str(),
            "Ada Lovelace"
        );
        assert_eq!(UserName::parse("Émilie").unwrap().as_str(), "Émilie");
        for bad in [
            "a\u{200b}b",
            "a\u{202e}b",
            "\u{feff}ab",
            "a\u{ffff}",
            "a\u{10ffff}",
        ] {
            assert!(UserName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn language_tags_are_checked() {
        assert!(Profile::parse_language("pt-BR").is_ok());
        assert!(Profile::parse_language("fr").is_ok());
        assert!(Profile::parse_language("français").is_err());
        assert!(Profile::parse_language("").is_err());
    }

    #[test]
    fn business_context_must_be_an_object() {
        assert!(Profile::parse_business_context(&serde_json::json!({"stage": "seed"})).is_ok());
        assert!(Profile::parse_business_context(&serde_json::json!([1])).is_err());
    }
}
