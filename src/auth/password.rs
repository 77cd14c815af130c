//! Password hashing: argon2id for new hashes, bcrypt accepted from the old service, all of
//! it on blocking threads with bounded concurrency so the async runtime never stalls.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::config::Argon2Settings;
use crate::domain::{Password, Secret};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many checks are waiting already; the caller answers 503 at once rather than
    /// queue without end (a password-guessing flood must not stall everyone).
    #[error("password hashing is saturated")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// The password is right; `rehash` says the stored hash uses an outdated scheme or cost.
    Match {
        rehash: bool,
    },
}

/// The highest bcrypt cost accepted, on import and at sign-in. Each step doubles the work:
/// cost 12 (the old service's) takes about 270 ms here, 14 about a second, and 31 — which
/// bcrypt allows — days of a hashing thread.
pub const MAX_BCRYPT_COST: u32 = 14;

/// How far an imported or stored argon2 hash may exceed the configured costs: memory up
/// to this many times the configured memory, and memory × iterations (the work) as well.
pub const ARGON2_COST_MARGIN: u32 = 4;

/// bcrypt reads only this many bytes of a password ([bcrypt crate], passlib): every
/// password sharing them verifies against the same hash.
///
/// [bcrypt crate]: https://docs.rs/bcrypt/0.19.3/bcrypt/fn.verify.html
const BCRYPT_MAX_BYTES: usize = 72;

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    /// The cost of the slowest bcrypt hash still stored (0: none). A refused check always
    /// does the work of one argon2 check with the configured costs plus one bcrypt check at
    /// this cost, so the answer's timing says neither whether the account exists nor
    /// which kind of hash it holds.
    bcrypt_floor: Arc<AtomicU32>,
    /// A bcrypt hash of a dummy password at `bcrypt_floor`, made on first need.
    bcrypt_dummy: Arc<std::sync::Mutex<Option<String>>>,
    permits: Arc<Semaphore>,
    /// Checks admitted (running or waiting), and how many may be.
    admitted: Arc<std::sync::atomic::AtomicUsize>,
    capacity: usize,
    /// Verified when an account does not exist, so the answer takes as long as for a
    /// wrong password.
    dummy_hash: Arc<str>,
    memory: Memory,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("m_cost", &self.params.m_cost())
            .field("t_cost", &self.params.t_cost())
            .field("p_cost", &self.params.p_cost())
            .finish()
    }
}

impl PasswordHasher {
    /// Prepares the hasher; computes the dummy hash once (one argon2 run).
    pub fn new(settings: Argon2Settings, concurrency: usize) -> Result<Self, HashError> {
        Self::with_queue(settings, concurrency, usize::MAX / 2)
    }

    /// Like [`new`](Self::new), admitting at most `queue` checks beyond those running.
    pub fn with_queue(
        settings: Argon2Settings,
        concurrency: usize,
        queue: usize,
    ) -> Result<Self, HashError> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| HashError::Internal(e.to_string()))?;
        // With memory of its own, freed at once: a server that has not checked a password
        // yet keeps no 19 MiB buffer.
        let dummy_hash = hash_blocking(&Memory::default(), &params, "gatehouse-dummy-password")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            admitted: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            capacity: concurrency.max(1).saturating_add(queue),
            dummy_hash: dummy_hash.into(),
            memory: Memory::default(),
            bcrypt_floor: Arc::new(AtomicU32::new(0)),
            bcrypt_dummy: Arc::default(),
        })
    }

    /// Says which bcrypt cost is the slowest still stored (`None`: no bcrypt hash is left),
    /// as the user store reports it; refusals take as long as a check at that cost.
    pub fn expect_bcrypt_cost(&self, cost: Option<u32>) {
        let cost = cost.unwrap_or(0).min(MAX_BCRYPT_COST);
        self.bcrypt_floor.store(cost, Ordering::Relaxed);
    }

    /// Whether `stored` is a hash from the old service that a sign-in has not replaced.
    pub fn is_legacy(stored: &Secret<String>) -> bool {
        is_bcrypt(stored.expose())
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: &Password) -> Result<Secret<String>, HashError> {
        let (params, memory) = (self.params.clone(), self.memory.clone());
        let password = password.clone();
        let hash = self
            .run(move || hash_blocking(&memory, &params, password.expose()))
            .await??;
        Ok(Secret::new(hash))
    }

    /// Checks `password` against `stored`; with `None` (no such account) dummy hashes are
    /// checked instead and the answer is always a mismatch.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&Secret<String>>,
    ) -> Result<Verification, HashError> {
        let stored = stored.map(|s| s.expose().clone());
        let hasher = self.clone();
        let password = password.clone();
        self.run(move || hasher.verify_blocking(&password, stored.as_deref()))
            .await
    }

    fn verify_blocking(&self, password: &Password, stored: Option<&str>) -> Verification {
        let (verification, checked) = match stored {
            Some(hash) => verify_blocking(&self.memory, &self.params, password, hash),
            None => (Verification::Mismatch, None),
        };
        if let Some(Scheme::Bcrypt(cost)) = checked {
            // A hash imported while the server runs raises the floor at once.
            self.bcrypt_floor.fetch_max(cost, Ordering::Relaxed);
        }
        if verification == Verification::Mismatch {
            self.pad_refusal(password, checked);
        }
        verification
    }

    /// Makes a refusal cost what the slowest refusal costs: the schemes the stored hash did
    /// not exercise are checked against dummies (an unknown account checks both).
    fn pad_refusal(&self, password: &Password, checked: Option<Scheme>) {
        if checked != Some(Scheme::Argon2)
            && let Ok(dummy) = PasswordHash::new(&self.dummy_hash)
        {
            argon2_matches(&self.memory, password.expose(), &dummy);
        }
        let floor = self.bcrypt_floor.load(Ordering::Relaxed);
        if floor == 0 || matches!(checked, Some(Scheme::Bcrypt(_))) {
            return;
        }
        let dummy = self.bcrypt_dummy.lock().ok().and_then(|d| d.clone());
        match dummy.filter(|hash| bcrypt_cost(hash) == Some(floor)) {
            Some(hash) => {
                let _ = bcrypt::verify(password.as_typed(), &hash);
            }
            // Making the dummy costs as much as checking it, so this refusal is padded too.
            None => {
                let made = bcrypt::hash("gatehouse-dummy-password", floor).ok();
                if let Ok(mut dummy) = self.bcrypt_dummy.lock() {
                    *dummy = made;
                }
            }
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        use std::sync::atomic::Ordering;
        let depth = self.admitted.fetch_add(1, Ordering::AcqRel);
        if depth >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        metrics::gauge!("gatehouse_password_hash_queue_depth").set((depth + 1) as f64);
        // Released however this ends, even if the caller gives up (a timeout).
        struct Admitted(Arc<std::sync::atomic::AtomicUsize>);
        impl Drop for Admitted {
            fn drop(&mut self) {
                let left = self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel) - 1;
                metrics::gauge!("gatehouse_password_hash_queue_depth").set(left as f64);
            }
        }
        let _admitted = Admitted(self.admitted.clone());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| HashError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let result = work();
            metrics::histogram!("gatehouse_password_hash_seconds")
                .record(started.elapsed().as_secs_f64());
            result
        })
        .await
        .map_err(|e| HashError::Internal(e.to_string()))
    }
}

fn argon2id(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// argon2's working memory (19 MiB per hash by default), reused from hash to hash:
/// allocating it per hash costs page faults, and the allocator's growing mmap threshold
/// would keep each freed copy in the process (hundreds of MB under a burst of sign-ins).
/// Hashes run at most `concurrency` at a time, so the pool never holds more buffers than
/// that, whichever blocking threads run them.
#[derive(Clone, Default)]
struct Memory(Arc<std::sync::Mutex<Vec<Vec<Block>>>>);

impl Memory {
    /// Runs `f` with a buffer sized for `params`.
    fn with<T>(&self, params: &Params, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let taken = self.0.lock().map(|mut pool| pool.pop()).unwrap_or_default();
        let mut blocks = taken.unwrap_or_default();
        let count = params.block_count();
        if blocks.len() != count {
            blocks = vec![Block::default(); count];
        }
        let result = f(&mut blocks);
        if let Ok(mut pool) = self.0.lock() {
            pool.push(blocks);
        }
        result
    }
}

fn hash_blocking(memory: &Memory, params: &Params, password: &str) -> Result<String, HashError> {
    let internal = |e: &dyn std::fmt::Display| HashError::Internal(e.to_string());
    let mut salt = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
    let mut out = [0u8; 32];
    memory
        .with(params, |blocks| {
            argon2id(params).hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut out,
                blocks,
            )
        })
        .map_err(|e| internal(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| internal(&e))?,
        salt: Some(Salt::try_from(&salt[..]).map_err(|e| internal(&e))?),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(phc.to_string())
}

/// Checks an argon2 PHC hash with this thread's memory; any variant, version and costs.
fn argon2_matches(memory: &Memory, password: &str, parsed: &PasswordHash) -> bool {
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.as_bytes().len()];
    let computed = memory.with(&params, |blocks| {
        Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
            password.as_bytes(),
            salt.as_ref(),
            &mut out,
            blocks,
        )
    });
    computed.is_ok() && bool::from(out.ct_eq(expected.as_bytes()))
}

/// The kind of hash a check exercised, for padding refusals to the same work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Argon2,
    Bcrypt(u32),
}

/// Checks `password` against `stored`, and says which scheme did the work (`None` when the
/// hash was refused unchecked: unreadable, or costlier than the bounds).
fn verify_blocking(
    memory: &Memory,
    params: &Params,
    password: &Password,
    stored: &str,
) -> (Verification, Option<Scheme>) {
    if let Err(problem) = check_costs(stored, params) {
        tracing::error!(problem, "a stored password hash is refused unchecked");
        return (Verification::Mismatch, None);
    }
    if let Some(cost) = bcrypt_cost(stored) {
        // passlib hashed the password as typed; Gatehouse's own hashes are of its NFKC
        // form, so the upgrade below stores what later sign-ins will compare.
        let typed = password.as_typed();
        let verification = match bcrypt::verify(typed, stored) {
            // The old service's hashes: right password → replace with argon2id, unless
            // bcrypt read only part of what was typed. Then a different string with the
            // same first 72 bytes may have been accepted, and storing argon2id of it would
            // lock out the owner, whose real password is the other one: the bcrypt hash
            // stays until its owner chooses a new password.
            Ok(true) => Verification::Match {
                rehash: typed.len() < BCRYPT_MAX_BYTES,
            },
            Ok(false) => Verification::Mismatch,
            Err(e) => {
                tracing::error!(error = %e, "a stored bcrypt hash cannot be read");
                Verification::Mismatch
            }
        };
        return (verification, Some(Scheme::Bcrypt(cost)));
    }
    let parsed = match PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash cannot be read");
            return (Verification::Mismatch, None);
        }
    };
    // The hash names its own algorithm and costs; any argon2 variant verifies.
    if !argon2_matches(memory, password.expose(), &parsed) {
        return (Verification::Mismatch, Some(Scheme::Argon2));
    }
    let verification = Verification::Match {
        rehash: !is_current(params, &parsed),
    };
    (verification, Some(Scheme::Argon2))
}

/// Whether a stored or imported hash is one Gatehouse checks: a bcrypt hash of at most
/// [`MAX_BCRYPT_COST`], or an argon2 PHC string within [`ARGON2_COST_MARGIN`] of the
/// configured costs. The reason never contains the hash.
pub fn check_importable(
    hash: &str,
    settings: &crate::config::Argon2Settings,
) -> Result<(), String> {
    let params = Params::new(
        settings.memory_kib,
        settings.iterations,
        settings.parallelism,
        None,
    )
    .map_err(|e| format!("the configured argon2 costs are invalid: {e}"))?;
    check_costs(hash, &params)
}

fn check_costs(hash: &str, params: &Params) -> Result<(), String> {
    if hash.starts_with("$2") {
        let cost = bcrypt_cost(hash).filter(|_| hash.len() == 60).ok_or(
            "not a bcrypt hash ($2a$, $2b$, $2x$ or $2y$, a two-digit cost, 60 characters)",
        )?;
        if cost > MAX_BCRYPT_COST {
            return Err(format!(
                "bcrypt cost {cost} is above {MAX_BCRYPT_COST}, the highest accepted"
            ));
        }
        return Ok(());
    }
    let parsed = PasswordHash::new(hash).map_err(|_| "not a bcrypt hash or argon2 PHC string")?;
    if Algorithm::try_from(parsed.algorithm.as_str()).is_err() {
        return Err("not a bcrypt hash or argon2 PHC string".into());
    }
    let theirs = Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    let work = |p: &Params| u64::from(p.m_cost()) * u64::from(p.t_cost());
    let margin = u64::from(ARGON2_COST_MARGIN);
    if u64::from(theirs.m_cost()) > margin * u64::from(params.m_cost())
        || work(&theirs) > margin * work(params)
    {
        return Err(format!(
            "argon2 costs m={}, t={} are more than {ARGON2_COST_MARGIN} times the configured m={}, t={}",
            theirs.m_cost(),
            theirs.t_cost(),
            params.m_cost(),
            params.t_cost()
        ));
    }
    Ok(())
}

/// The cost of a bcrypt hash (`$2b$12$…` → 12), `None` for anything else.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    if !is_bcrypt(hash) || hash.get(6..7) != Some("$") {
        return None;
    }
    hash.get(4..6)
        .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))?
        .parse()
        .ok()
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2x$", "$2y$"]
        .iter()
        .any(|p| hash.starts_with(p))
}

/// Whether a hash uses the configured algorithm, version and costs. The parsed `Params`
/// carry an output length and never compare equal to configured ones, so compare fields.
fn is_current(params: &Params, hash: &PasswordHash) -> bool {
    let Ok(theirs) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && theirs.m_cost() == params.m_cost()
        && theirs.t_cost() == params.t_cost()
        && theirs.p_cost() == params.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Settings {
        Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn a_fresh_hash_verifies_and_needs_no_rehash() {
        let hasher = PasswordHasher::new(cheap(), 2).unwrap();
        let pw = Password::parse("correct horse").unwrap();
        let hash = hasher.hash(&pw).await.unwrap();
        assert!(hash.expose().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            hasher.verify(&pw, Some(&hash)).await.unwrap(),
            Verification::Match { rehash: false }
        );
        let wrong = Password::parse("wrong horse").unwrap();
        assert_eq!(
            hasher.verify(&wrong, Some(&hash)).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn older_costs_and_bcrypt_ask_for_a_rehash() {
        let old = PasswordHasher::new(cheap(), 1).unwrap();
        let pw = Password::parse("correct horse").unwrap();
        let old_hash = old.hash(&pw).await.unwrap();
        let current = PasswordHasher::new(
            Argon2Settings {
                memory_kib: 128,
                ..cheap()
            },
            1,
        )
        .unwrap();
        assert_eq!(
            current.verify(&pw, Some(&old_hash)).await.unwrap(),
            Verification::Match { rehash: true }
        );
        let bcrypt_hash = Secret::new(bcrypt::hash("correct horse", 4).unwrap());
        assert_eq!(
            current.verify(&pw, Some(&bcrypt_hash)).await.unwrap(),
            Verification::Match { rehash: true }
        );
    }

    #[test]
    fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(64, 1, 1, None).unwrap();
        // Ours verifies with the crate's own verifier…
        let ours = hash_blocking(&Memory::default(), &params, "correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        // …and the crate's hashes (as stored before) verify with ours.
        let theirs = argon2id(&params)
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert_eq!(
            verify_blocking(
                &Memory::default(),
                &params,
                &Password::for_verification("correct horse"),
                &theirs
            )
            .0,
            Verification::Match { rehash: false }
        );
        assert_eq!(
            verify_blocking(
                &Memory::default(),
                &params,
                &Password::for_verification("wrong horse"),
                &theirs
            )
            .0,
            Verification::Mismatch
        );
        // Other variants and costs verify too (and ask for a rehash).
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params.clone())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert_eq!(
            verify_blocking(
                &Memory::default(),
                &params,
                &Password::for_verification("correct horse"),
                &argon2i
            )
            .0,
            Verification::Match { rehash: true }
        );
    }

    #[tokio::test]
    async fn argon2_memory_is_kept_once_per_concurrent_hash() {
        let hasher = PasswordHasher::new(cheap(), 2).unwrap();
        assert_eq!(
            hasher.memory.0.lock().unwrap().len(),
            0,
            "the dummy hash keeps none"
        );
        let pw = Password::parse("correct horse").unwrap();
        let checks = (0..16).map(|_| hasher.hash(&pw));
        for hash in futures_util::future::join_all(checks).await {
            hash.unwrap();
        }
        let kept = hasher.memory.0.lock().unwrap().len();
        assert!((1..=2).contains(&kept), "{kept} buffers kept");
    }

    #[tokio::test]
    async fn an_unknown_account_never_matches() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let pw = Password::parse("gatehouse-dummy-password").unwrap();
        assert_eq!(
            hasher.verify(&pw, None).await.unwrap(),
            Verification::Mismatch
        );
    }

    #[tokio::test]
    async fn a_garbled_hash_is_a_mismatch_not_a_crash() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let pw = Password::parse("correct horse").unwrap();
        for garbage in ["", "$argon2id$nonsense", "$2b$04$short"] {
            let stored = Secret::new(garbage.to_string());
            assert_eq!(
                hasher.verify(&pw, Some(&stored)).await.unwrap(),
                Verification::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn a_bcrypt_match_on_a_password_bcrypt_read_in_part_asks_for_no_rehash() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        for (length, rehash) in [(71, true), (72, false), (100, false)] {
            let text = "p".repeat(length);
            let stored = Secret::new(bcrypt::hash(&text, 4).unwrap());
            let password = Password::for_verification(&text);
            assert_eq!(
                hasher.verify(&password, Some(&stored)).await.unwrap(),
                Verification::Match { rehash },
                "{length} bytes"
            );
        }
    }

    #[tokio::test]
    async fn hashes_beyond_the_cost_bounds_are_refused_unchecked() {
        let hasher = PasswordHasher::new(cheap(), 1).unwrap();
        let pw = Password::parse("correct horse").unwrap();
        let cheap_bcrypt = bcrypt::hash("correct horse", 4).unwrap();
        let started = std::time::Instant::now();
        let stored = Secret::new(format!("$2b$31${}", &cheap_bcrypt[7..]));
        assert_eq!(
            hasher.verify(&pw, Some(&stored)).await.unwrap(),
            Verification::Mismatch
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // The configured argon2 is m=64, t=1: m=512 is eight times that.
        let params = Params::new(512, 1, 1, None).unwrap();
        let costly =
            Secret::new(hash_blocking(&Memory::default(), &params, "correct horse").unwrap());
        assert_eq!(
            hasher.verify(&pw, Some(&costly)).await.unwrap(),
            Verification::Mismatch
        );
        let within = Params::new(256, 1, 1, None).unwrap();
        let within =
            Secret::new(hash_blocking(&Memory::default(), &within, "correct horse").unwrap());
        assert_eq!(
            hasher.verify(&pw, Some(&within)).await.unwrap(),
            Verification::Match { rehash: true }
        );
    }
}
