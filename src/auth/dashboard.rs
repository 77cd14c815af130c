//! What an operator wants to see first (the admin console's dashboard): how many people
//! and live sessions there are, sign-ins and failures hour by hour over the last day, what
//! the rate limits refused, and how old the signing key is.

use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, Utc};

use super::{Accounts, Sessions, SigningKeys};
use crate::audit::{Audit, EventType};
use crate::clock::Clock;
use crate::limits::Limiter;
use crate::store::StoreError;

/// The figures, as of `at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Overview {
    pub at: DateTime<Utc>,
    pub people: u64,
    pub live_sessions: u64,
    /// Successful sign-ins in each of the last 24 hours, oldest first (the last is the
    /// hour under way).
    pub sign_ins: Vec<u64>,
    /// Failed sign-ins (wrong passwords, unknown addresses, wrong codes), likewise.
    pub failures: Vec<u64>,
    /// Requests a rate limit refused since this instance started.
    pub refused_since_start: u64,
    /// The key signing now, and when it was made.
    pub active_key: Option<(String, DateTime<Utc>)>,
}

impl Overview {
    pub fn sign_ins_total(&self) -> u64 {
        self.sign_ins.iter().sum()
    }

    pub fn failures_total(&self) -> u64 {
        self.failures.iter().sum()
    }
}

/// The dashboard's use case.
#[derive(Clone)]
pub struct Dashboard {
    accounts: Accounts,
    sessions: Sessions,
    audit: Audit,
    limiter: Limiter,
    keys: SigningKeys,
    clock: Arc<dyn Clock>,
}

/// Hours the charts cover.
const HOURS: i64 = 24;

impl Dashboard {
    pub fn new(
        accounts: Accounts,
        sessions: Sessions,
        audit: Audit,
        limiter: Limiter,
        keys: SigningKeys,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            sessions,
            audit,
            limiter,
            keys,
            clock,
        }
    }

    pub async fn overview(&self) -> Result<Overview, StoreError> {
        let at = self.clock.now();
        let hour = Duration::hours(1);
        let this_hour = at.duration_trunc(hour).unwrap_or(at);
        let mut sign_ins = Vec::with_capacity(HOURS as usize);
        let mut failures = Vec::with_capacity(HOURS as usize);
        for ago in (0..HOURS).rev() {
            let since = this_hour - hour * ago as i32;
            let until = (since + hour).min(at + Duration::seconds(1));
            sign_ins.push(
                self.audit
                    .count(EventType::LoginSucceeded, since, until)
                    .await?,
            );
            let failed = self
                .audit
                .count(EventType::LoginFailed, since, until)
                .await?
                + self.audit.count(EventType::MfaFailed, since, until).await?;
            failures.push(failed);
        }
        let active_key = match self.keys.list().await {
            Ok(keys) => keys
                .into_iter()
                .find(|k| k.state == "active")
                .map(|k| (k.kid, k.created_at)),
            Err(e) => {
                tracing::warn!(error = %e, "the dashboard cannot read the keys folder");
                None
            }
        };
        Ok(Overview {
            at,
            people: self.accounts.count().await?,
            live_sessions: self.sessions.count_live().await?,
            sign_ins,
            failures,
            refused_since_start: self.limiter.refused_since_start(),
            active_key,
        })
    }
}
