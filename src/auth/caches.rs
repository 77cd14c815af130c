//! What this instance remembers between requests, so that an access token's check and the
//! person behind it cost no store round trip in the common case: sessions (live, or known
//! to have ended), access tokens known not to be revoked, and accounts.
//!
//! Nothing here may outlive what it describes by more than a known bound:
//! - this instance forgets an entry the moment it ends a session, revokes a token or
//!   changes an account;
//! - every instance follows what the others did through the store — the revocation feed
//!   (sessions ended, tokens revoked) and accounts' `updated_at` — every
//!   [`Caches::follow_every`], and forgets what changed;
//! - an entry is used only while that following is current: if the last successful look
//!   is older than twice the interval (the store is down, say), the caches are passed by
//!   and every request asks the store, as it would without them.
//!
//! So a session ended, a token revoked or an account changed on another instance is seen
//! here within the interval plus the time one look takes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Accounts, Sessions};
use crate::clock::Clock;
use crate::domain::{Session, SessionId, User, UserId};
use crate::store::StoreError;

/// Entries each cache holds at most (about 400 bytes a session, 600 an account).
const CAPACITY: u64 = 100_000;

/// How far back each look reaches beyond the previous one: changes written with a clock
/// a little behind this instance's, or committed just after that look, are still seen.
pub const LOOK_BACK: Duration = Duration::from_secs(5);

/// The caches, shared by every clone of the use cases that read and change them.
#[derive(Clone)]
pub struct Caches {
    inner: Arc<Inner>,
}

struct Inner {
    /// A session's state: live (until its cached expiry) or ended (for good).
    sessions: moka::sync::Cache<SessionId, Option<Arc<Session>>>,
    /// Access tokens (`jti`) known not to be revoked; a revoked one is never cached.
    not_revoked: moka::sync::Cache<Arc<str>, ()>,
    users: moka::sync::Cache<UserId, Arc<User>>,
    /// When the last look at the others' changes began (ms since the epoch); entries are
    /// used only while it is recent.
    synced_at_ms: AtomicI64,
    /// How often the others' changes are looked at.
    interval: Duration,
}

impl Caches {
    /// Caches that follow the others' changes every `interval`; `None` turns them off
    /// (every request asks the store).
    pub fn new(interval: Option<Duration>) -> Self {
        Self {
            inner: Arc::new(Inner {
                sessions: moka::sync::Cache::builder()
                    .max_capacity(CAPACITY)
                    .support_invalidation_closures()
                    .build(),
                not_revoked: moka::sync::Cache::builder().max_capacity(CAPACITY).build(),
                users: moka::sync::Cache::builder().max_capacity(CAPACITY).build(),
                synced_at_ms: AtomicI64::new(i64::MIN),
                interval: interval.unwrap_or(Duration::ZERO),
            }),
        }
    }

    /// How often the others' changes are looked at (zero: the caches are off).
    pub fn follow_every(&self) -> Duration {
        self.inner.interval
    }

    /// Whether entries may be used at `now`: the caches are on, and the last look at the
    /// others' changes began within twice the interval.
    fn current(&self, now: DateTime<Utc>) -> bool {
        let interval = self.inner.interval;
        if interval.is_zero() {
            return false;
        }
        let synced = self.inner.synced_at_ms.load(Ordering::Acquire);
        let age = now.timestamp_millis().saturating_sub(synced);
        age >= 0 && age <= 2 * interval.as_millis() as i64
    }

    /// Records that a look at the others' changes began at `at` and succeeded.
    pub fn synced(&self, at: DateTime<Utc>) {
        self.inner
            .synced_at_ms
            .store(at.timestamp_millis(), Ordering::Release);
    }

    /// The cached state of session `id`: `Some(Some(s))` live as cached, `Some(None)`
    /// ended; `None` when unknown (or the caches are not current).
    pub fn session(&self, id: &SessionId, now: DateTime<Utc>) -> Option<Option<Arc<Session>>> {
        if !self.current(now) {
            return None;
        }
        match self.inner.sessions.get(id)? {
            // A cached copy's idle expiry is never later than the stored one (rotations
            // only push it back): past it, the store is asked.
            Some(session) if session.is_expired(now) => None,
            state => Some(state),
        }
    }

    pub fn remember_session(&self, id: &SessionId, session: Option<&Session>) {
        self.inner
            .sessions
            .insert(id.clone(), session.map(|s| Arc::new(s.clone())));
    }

    pub fn forget_session(&self, id: &SessionId) {
        self.inner.sessions.invalidate(id);
    }

    /// Forgets every cached session of `user` (all of them ended at once).
    pub fn forget_sessions_of(&self, user: UserId) {
        let _ = self
            .inner
            .sessions
            .invalidate_entries_if(move |_, s| s.as_ref().is_some_and(|s| s.user_id == user));
    }

    /// Whether `jti` is known not to be revoked.
    pub fn not_revoked(&self, jti: &str, now: DateTime<Utc>) -> bool {
        self.current(now) && self.inner.not_revoked.contains_key(jti)
    }

    pub fn remember_not_revoked(&self, jti: &str) {
        self.inner.not_revoked.insert(jti.into(), ());
    }

    pub fn forget_token(&self, jti: &str) {
        self.inner.not_revoked.invalidate(jti);
    }

    pub fn user(&self, id: UserId, now: DateTime<Utc>) -> Option<Arc<User>> {
        if !self.current(now) {
            return None;
        }
        self.inner.users.get(&id)
    }

    pub fn remember_user(&self, user: &User) {
        self.inner.users.insert(user.id, Arc::new(user.clone()));
    }

    pub fn forget_user(&self, id: UserId) {
        self.inner.users.invalidate(&id);
    }
}

/// Follows what the other instances change, every [`Caches::follow_every`], until
/// aborted; does nothing when the caches are off.
pub async fn follow_others(
    caches: Caches,
    sessions: Sessions,
    accounts: Accounts,
    clock: Arc<dyn Clock>,
) {
    let every = caches.follow_every();
    if every.is_zero() {
        return;
    }
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        ticker.tick().await;
        let start = clock.now();
        // The first look has nothing to catch up on: nothing is cached yet.
        let since = last.unwrap_or(start) - LOOK_BACK;
        match look(&caches, &sessions, &accounts, since).await {
            Ok(()) => {
                caches.synced(start);
                last = Some(start);
            }
            Err(e) => tracing::warn!(
                error = %e,
                "following other instances' changes failed: caches passed by until it works"
            ),
        }
    }
}

/// One look at what changed from `since` on, forgetting it.
async fn look(
    caches: &Caches,
    sessions: &Sessions,
    accounts: &Accounts,
    since: DateTime<Utc>,
) -> Result<(), StoreError> {
    let feed = sessions.revocations_since(since).await?;
    sessions.forget_revoked(&feed);
    for id in accounts.changed_since(since).await? {
        caches.forget_user(id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn entries_count_only_while_the_others_changes_are_followed() {
        let caches = Caches::new(Some(Duration::from_millis(500)));
        caches.remember_not_revoked("j1");
        assert!(!caches.not_revoked("j1", at(0)), "never synced yet");
        caches.synced(at(0));
        assert!(caches.not_revoked("j1", at(999)));
        assert!(
            !caches.not_revoked("j1", at(1001)),
            "the last look is too old"
        );
        caches.synced(at(1000));
        assert!(caches.not_revoked("j1", at(1001)));
        caches.forget_token("j1");
        assert!(!caches.not_revoked("j1", at(1001)));
        let off = Caches::new(None);
        off.remember_not_revoked("j1");
        off.synced(at(0));
        assert!(!off.not_revoked("j1", at(0)), "off: always the store");
    }
}
