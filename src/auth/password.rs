//! Password hashing: argon2id for new hashes, bcrypt accepted from the old service, all of
//! it on blocking threads with bounded concurrency so the async runtime never stalls.
//!
//! This file holds the hasher: its queue of checks, the padding of refusals and argon2's
//! memory pool. The hash schemes themselves (argon2 and bcrypt, their cost bounds, the
//! check of imported hashes) are in [`schemes`].

mod schemes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Block, Params};
use tokio::sync::Semaphore;

use crate::config::Argon2Settings;
use crate::domain::{Password, Secret};

pub use schemes::check_importable;
use schemes::{MAX_BCRYPT_COST, Scheme, argon2_matches, bcrypt_cost, hash_blocking, is_bcrypt};

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
            Some(hash) => schemes::verify_blocking(&self.memory, &self.params, password, hash),
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
