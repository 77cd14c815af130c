//! The keys an instance holds, each with its schedule; which one signs, which are
//! accepted and which are published, at a given moment.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::key::SigningKey;

/// When a key signs and when it is published, as planned by `gatehouse keys`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    /// Signing starts; published in the JWKS from creation.
    pub activate_at: DateTime<Utc>,
    /// Signing stops (the next key's `activate_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_at: Option<DateTime<Utc>>,
    /// Leaves the JWKS and is no longer accepted: every token it signed has expired.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_at: Option<DateTime<Utc>>,
    /// Compromised: removed at once, its tokens rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key's state at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing (and published).
    Active,
    /// Published and accepted until its tokens have expired; not signing.
    Retired,
    /// Gone from the JWKS after its retirement.
    Removed,
    /// Gone at once; its tokens are rejected.
    Revoked,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Removed => "removed",
            Self::Revoked => "revoked",
        }
    }

    /// Published in the JWKS, and accepted when verifying.
    pub fn is_published(self) -> bool {
        matches!(self, Self::Next | Self::Active | Self::Retired)
    }
}

impl Schedule {
    pub fn state(&self, now: DateTime<Utc>) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.remove_at.is_some_and(|t| now >= t) {
            KeyState::Removed
        } else if self.retire_at.is_some_and(|t| now >= t) {
            KeyState::Retired
        } else if now >= self.activate_at {
            KeyState::Active
        } else {
            KeyState::Next
        }
    }
}

/// The keys of one folder, loaded.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<(Schedule, Arc<SigningKey>)>,
}

impl KeyRing {
    pub fn new(keys: Vec<(Schedule, Arc<SigningKey>)>) -> Self {
        Self { keys }
    }

    /// The key that signs now: the active one (the most recently activated, should a
    /// hand-edited schedule make two overlap).
    pub fn signing_key(&self, now: DateTime<Utc>) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(|(s, _)| s.state(now) == KeyState::Active)
            .max_by_key(|(s, _)| s.activate_at)
            .map(|(_, k)| k)
    }

    /// A key that tokens may be signed with now (published, not revoked or removed).
    pub fn verification_key(&self, kid: &str, now: DateTime<Utc>) -> Option<&Arc<SigningKey>> {
        self.keys
            .iter()
            .find(|(s, k)| k.kid() == kid && s.state(now).is_published())
            .map(|(_, k)| k)
    }

    /// The JWKS document at `now`: every published key, the signing one included.
    pub fn jwks_json(&self, now: DateTime<Utc>) -> String {
        let keys: Vec<&serde_json::Value> = self
            .keys
            .iter()
            .filter(|(s, _)| s.state(now).is_published())
            .map(|(_, k)| k.public_jwk())
            .collect();
        serde_json::json!({ "keys": keys }).to_string()
    }

    /// Which keys are published at `now`, one bit each in the ring's order: what the JWKS
    /// and the algorithms depend on. `None` for a ring of more than 128 keys.
    pub fn published(&self, now: DateTime<Utc>) -> Option<u128> {
        (self.keys.len() <= 128).then(|| {
            self.keys
                .iter()
                .enumerate()
                .filter(|(_, (s, _))| s.state(now).is_published())
                .fold(0, |mask, (i, _)| mask | 1 << i)
        })
    }

    /// The algorithms of the published keys (what verifiers must accept), sorted.
    pub fn algorithms(&self, now: DateTime<Utc>) -> Vec<&'static str> {
        let mut algs: Vec<&'static str> = self
            .keys
            .iter()
            .filter(|(s, _)| s.state(now).is_published())
            .map(|(_, k)| k.alg().as_str())
            .collect();
        algs.sort_unstable();
        algs.dedup();
        algs
    }

    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.keys.iter().map(|(s, _)| s)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The key ring in use; swapped whole when the folder changes.
#[derive(Clone, Debug)]
pub struct Keys(Arc<RwLock<Arc<KeyRing>>>);

impl Keys {
    pub fn new(ring: KeyRing) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(ring))))
    }

    pub fn current(&self) -> Arc<KeyRing> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, ring: KeyRing) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_key_moves_through_its_states_with_time() {
        let schedule = Schedule {
            kid: "k".into(),
            created_at: t(0),
            activate_at: t(10),
            retire_at: Some(t(20)),
            remove_at: Some(t(30)),
            revoked_at: None,
        };
        assert_eq!(schedule.state(t(5)), KeyState::Next);
        assert_eq!(schedule.state(t(10)), KeyState::Active);
        assert_eq!(schedule.state(t(25)), KeyState::Retired);
        assert_eq!(schedule.state(t(30)), KeyState::Removed);
        let revoked = Schedule {
            revoked_at: Some(t(12)),
            ..schedule
        };
        assert_eq!(revoked.state(t(11)), KeyState::Revoked);
    }

    #[test]
    fn the_signing_key_is_always_published() {
        let pem = SigningKey::generate_pem(2048).unwrap();
        let old = Arc::new(SigningKey::from_pem(&pem, std::path::Path::new("old")).unwrap());
        let pem = SigningKey::generate_pem(2048).unwrap();
        let new = Arc::new(SigningKey::from_pem(&pem, std::path::Path::new("new")).unwrap());
        let ring = KeyRing::new(vec![
            (
                Schedule {
                    kid: old.kid().into(),
                    created_at: t(0),
                    activate_at: t(0),
                    retire_at: Some(t(100)),
                    remove_at: Some(t(200)),
                    revoked_at: None,
                },
                old.clone(),
            ),
            (
                Schedule {
                    kid: new.kid().into(),
                    created_at: t(50),
                    activate_at: t(100),
                    retire_at: None,
                    remove_at: None,
                    revoked_at: None,
                },
                new.clone(),
            ),
        ]);
        for now in [0, 50, 99, 100, 150, 199, 200, 300] {
            let signer = ring.signing_key(t(now)).unwrap();
            assert!(ring.jwks_json(t(now)).contains(signer.kid()), "at {now}");
        }
        assert_eq!(ring.signing_key(t(99)).unwrap().kid(), old.kid());
        assert_eq!(ring.signing_key(t(100)).unwrap().kid(), new.kid());
        assert!(
            ring.jwks_json(t(60)).contains(new.kid()),
            "published before it signs"
        );
        assert!(
            ring.verification_key(old.kid(), t(150)).is_some(),
            "retired keys verify"
        );
        assert!(
            ring.verification_key(old.kid(), t(200)).is_none(),
            "removed keys do not"
        );
        assert!(!ring.jwks_json(t(200)).contains(old.kid()));
    }
}
