//! Rate limits: attempts per client address and failed sign-ins per account, counted in
//! Redis when it is configured (so every instance shares them), in process otherwise.
//!
//! A failing account is slowed down, never locked: past its limit, each further failure
//! doubles the wait before the next attempt (up to 15 minutes), so guessing becomes
//! useless while the owner can still get in after a pause.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{RateCounters, StoreError};

/// The longest an account is slowed down after repeated failures.
const MAX_BACKOFF: Duration = Duration::from_secs(900);

/// `N` events per period, written `30/min`, `10/h`, `5/s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u64,
    pub per: Duration,
}

impl Rate {
    pub fn parse(text: &str) -> Result<Self, String> {
        let err = || format!("`{text}` is not a rate such as 30/min, 10/h or 5/s");
        let (count, unit) = text.split_once('/').ok_or_else(err)?;
        let count: u64 = count.trim().parse().map_err(|_| err())?;
        let per = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "min" | "m" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            "d" | "day" => Duration::from_secs(86_400),
            _ => return Err(err()),
        };
        if count == 0 {
            return Err("the count must be at least 1".into());
        }
        Ok(Self { count, per })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => "d",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The configured limits.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub enabled: bool,
    pub login_per_ip: Rate,
    pub login_per_account: Rate,
    pub register_per_ip: Rate,
    /// Password-reset requests per client IP and per address asked about.
    pub reset_per_ip: Rate,
    pub reset_per_address: Rate,
}

/// Which limit stopped a request (a metrics label: never user data).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    LoginPerIp,
    LoginPerAccount,
    RegisterPerIp,
    ResetPerIp,
    ResetPerAddress,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginPerIp => "login_per_ip",
            Self::LoginPerAccount => "login_per_account",
            Self::RegisterPerIp => "register_per_ip",
            Self::ResetPerIp => "reset_per_ip",
            Self::ResetPerAddress => "reset_per_address",
        }
    }
}

/// A request that must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    pub kind: LimitKind,
    /// Seconds until it may try again (`Retry-After`).
    pub retry_after: u64,
}

/// The unit an address is counted by: one IPv4 address, or one IPv6 /64 (what a single
/// subscriber usually holds, so hopping between its addresses gains nothing).
fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Applies the limits.
#[derive(Clone)]
pub struct Limiter {
    counters: Arc<dyn RateCounters>,
    limits: Limits,
    /// Requests refused by a limit since this instance started (the admin dashboard).
    refused: Arc<std::sync::atomic::AtomicU64>,
}

/// The name an account's counters go by: the address's folded form, as accounts are
/// compared ([`crate::domain::Email::key`]), so `ADA@x`, `ａｄａ@x` and `ada@x` share one
/// limit; text that is no address is folded the same way.
fn account_name(typed: &str) -> String {
    crate::domain::Email::parse(typed)
        .map(|email| email.key())
        .unwrap_or_else(|_| crate::domain::text::fold(typed.trim()))
}

impl Limiter {
    pub fn new(counters: Arc<dyn RateCounters>, limits: Limits) -> Self {
        Self {
            counters,
            limits,
            refused: Arc::default(),
        }
    }

    /// How many requests a limit refused since this instance started.
    pub fn refused_since_start(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn refused_one(&self, kind: LimitKind) {
        self.refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("gatehouse_rate_limited_total", "limit" => kind.as_str()).increment(1);
    }

    /// Counts an attempt from `ip` against the limit of `kind`.
    pub async fn attempt_from(
        &self,
        kind: LimitKind,
        ip: Option<IpAddr>,
    ) -> Result<Result<(), Limited>, StoreError> {
        let (Some(ip), true) = (ip, self.limits.enabled) else {
            return Ok(Ok(()));
        };
        let rate = match kind {
            LimitKind::RegisterPerIp => self.limits.register_per_ip,
            LimitKind::ResetPerIp => self.limits.reset_per_ip,
            _ => self.limits.login_per_ip,
        };
        let key = format!("ip:{}:{}", kind.as_str(), address_key(ip));
        self.count(kind, rate, &key).await
    }

    /// Counts one password-reset request for `address` (as [`account_name`] gives it), whether or not an
    /// account has it, so the limit tells nothing about accounts.
    pub async fn reset_requested_for(
        &self,
        address: &str,
    ) -> Result<Result<(), Limited>, StoreError> {
        if !self.limits.enabled {
            return Ok(Ok(()));
        }
        let kind = LimitKind::ResetPerAddress;
        let rate = self.limits.reset_per_address;
        let key = format!("addr:{}:{}", kind.as_str(), account_name(address));
        self.count(kind, rate, &key).await
    }

    /// Counts one event under `key` against `rate`, the limit of `kind`; past it, the
    /// request waits until the count's period ends.
    async fn count(
        &self,
        kind: LimitKind,
        rate: Rate,
        key: &str,
    ) -> Result<Result<(), Limited>, StoreError> {
        let (count, left) = self.counters.hit(key, rate.per).await?;
        if count > rate.count {
            self.refused_one(kind);
            return Ok(Err(Limited {
                kind,
                retry_after: left.max(1),
            }));
        }
        Ok(Ok(()))
    }

    fn account_keys(account: &str) -> (String, String) {
        let account = account_name(account);
        (
            format!("acct:try:{account}"),
            format!("acct:wait:{account}"),
        )
    }

    fn backoff(&self, count: u64) -> Duration {
        let excess = count
            .saturating_sub(self.limits.login_per_account.count)
            .min(20) as u32;
        Duration::from_secs(2u64.saturating_pow(excess + 1)).min(MAX_BACKOFF)
    }

    fn account_limited(&self, retry_after: u64) -> Limited {
        self.refused_one(LimitKind::LoginPerAccount);
        Limited {
            kind: LimitKind::LoginPerAccount,
            retry_after,
        }
    }

    /// Counts a sign-in attempt for `account` (the email as typed) before its password is
    /// checked, and says whether it may go ahead. Counting first makes the limit hold
    /// under concurrency: past it, exactly one attempt per waiting period goes through.
    pub async fn account_waiting(&self, account: &str) -> Result<Result<(), Limited>, StoreError> {
        if !self.limits.enabled {
            return Ok(Ok(()));
        }
        let rate = self.limits.login_per_account;
        let (attempts, wait) = Self::account_keys(account);
        if let Some(retry_after) = self.counters.blocked(&wait).await? {
            return Ok(Err(self.account_limited(retry_after)));
        }
        // Attempts are remembered long enough for the waits to keep growing.
        let (count, _) = self
            .counters
            .hit(&attempts, rate.per.max(MAX_BACKOFF))
            .await?;
        if count > rate.count {
            // Past the limit: whoever takes the next waiting period gets to try once.
            let backoff = self.backoff(count);
            if !self.counters.try_block(&wait, backoff).await? {
                let retry_after = self.counters.blocked(&wait).await?.unwrap_or(1);
                return Ok(Err(self.account_limited(retry_after)));
            }
        }
        Ok(Ok(()))
    }

    /// Records that the attempt failed: from the limit on, the account waits 2, 4, 8 …
    /// seconds before its next attempt. Unknown accounts are counted the same way, so the
    /// limits reveal nothing.
    pub async fn failed_sign_in(&self, account: &str) -> Result<(), StoreError> {
        if !self.limits.enabled {
            return Ok(());
        }
        let rate = self.limits.login_per_account;
        let (attempts, wait) = Self::account_keys(account);
        let count = self.counters.count(&attempts).await?;
        if count >= rate.count {
            self.counters.block(&wait, self.backoff(count)).await?;
        }
        Ok(())
    }

    /// A successful sign-in forgets the account's failures.
    pub async fn succeeded_sign_in(&self, account: &str) -> Result<(), StoreError> {
        if !self.limits.enabled {
            return Ok(());
        }
        let (fail, wait) = Self::account_keys(account);
        self.counters.clear(&[fail, wait]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::LocalCounters;

    fn limiter(enabled: bool) -> Limiter {
        Limiter::new(
            Arc::new(LocalCounters::new(Arc::new(crate::clock::SystemClock))),
            Limits {
                enabled,
                login_per_ip: Rate::parse("3/min").unwrap(),
                login_per_account: Rate::parse("2/min").unwrap(),
                register_per_ip: Rate::parse("1/h").unwrap(),
                reset_per_ip: Rate::parse("5/h").unwrap(),
                reset_per_address: Rate::parse("2/h").unwrap(),
            },
        )
    }

    #[test]
    fn rates_read_as_written() {
        assert_eq!(
            Rate::parse("30/min").unwrap(),
            Rate {
                count: 30,
                per: Duration::from_secs(60)
            }
        );
        assert_eq!(Rate::parse("10/h").unwrap().to_string(), "10/h");
        for bad in ["", "30", "x/min", "5/week", "0/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn an_address_is_limited_past_its_count() {
        let l = limiter(true);
        let ip = Some("192.0.2.1".parse().unwrap());
        for _ in 0..3 {
            assert!(
                l.attempt_from(LimitKind::LoginPerIp, ip)
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let limited = l
            .attempt_from(LimitKind::LoginPerIp, ip)
            .await
            .unwrap()
            .unwrap_err();
        assert!(limited.retry_after >= 1 && limited.retry_after <= 60);
        let other = Some("192.0.2.2".parse().unwrap());
        assert!(
            l.attempt_from(LimitKind::LoginPerIp, other)
                .await
                .unwrap()
                .is_ok()
        );
    }

    /// One sign-in attempt that fails, if it may be made.
    async fn failed_attempt(l: &Limiter, account: &str) -> Result<(), Limited> {
        let verdict = l.account_waiting(account).await.unwrap();
        if verdict.is_ok() {
            l.failed_sign_in(account).await.unwrap();
        }
        verdict
    }

    #[tokio::test]
    async fn a_failing_account_waits_and_a_success_forgets() {
        let l = limiter(true);
        assert!(failed_attempt(&l, "Ada@Example.com").await.is_ok());
        assert!(failed_attempt(&l, "ada@example.com").await.is_ok());
        let waiting = failed_attempt(&l, "ada@example.com").await.unwrap_err();
        assert!((1..=2).contains(&waiting.retry_after), "{waiting:?}");
        l.succeeded_sign_in("ada@example.com").await.unwrap();
        assert!(l.account_waiting("ada@example.com").await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn every_form_of_one_address_shares_its_limit() {
        let l = limiter(true);
        assert!(failed_attempt(&l, "STRASSE@example.com").await.is_ok());
        assert!(
            failed_attempt(&l, "ｓｔｒａｓｓｅ@example.com")
                .await
                .is_ok()
        );
        assert!(failed_attempt(&l, "straße@example.com").await.is_err());
    }

    #[tokio::test]
    async fn past_the_limit_concurrent_attempts_get_one_try() {
        let l = limiter(true);
        // Reach the limit without failures being recorded yet (all in flight at once).
        assert!(l.account_waiting("ada@example.com").await.unwrap().is_ok());
        assert!(l.account_waiting("ada@example.com").await.unwrap().is_ok());
        let attempts =
            futures_util::future::join_all((0..10).map(|_| l.account_waiting("ada@example.com")))
                .await;
        let allowed = attempts
            .into_iter()
            .filter(|r| matches!(r, Ok(Ok(()))))
            .count();
        assert_eq!(allowed, 1, "{allowed} attempts passed the limit at once");
    }

    #[tokio::test]
    async fn an_ipv6_subscriber_is_one_address() {
        let l = limiter(true);
        for i in 1..=3 {
            let ip = Some(format!("2001:db8:1:2::{i}").parse().unwrap());
            assert!(
                l.attempt_from(LimitKind::LoginPerIp, ip)
                    .await
                    .unwrap()
                    .is_ok()
            );
        }
        let same_64 = Some("2001:db8:1:2:ffff::1".parse().unwrap());
        assert!(
            l.attempt_from(LimitKind::LoginPerIp, same_64)
                .await
                .unwrap()
                .is_err()
        );
    }

    #[tokio::test]
    async fn limits_can_be_switched_off() {
        let l = limiter(false);
        for _ in 0..10 {
            assert!(
                l.attempt_from(LimitKind::LoginPerIp, Some("192.0.2.1".parse().unwrap()))
                    .await
                    .unwrap()
                    .is_ok()
            );
            l.failed_sign_in("a@example.com").await.unwrap();
        }
        assert!(l.account_waiting("a@example.com").await.unwrap().is_ok());
    }
}
