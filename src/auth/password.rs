//! Password hashing: argon2id for new hashes, bcrypt accepted from the old service, all of
//! it on blocking threads with bounded concurrency so the async runtime never stalls.

use std::sync::Arc;

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

/// Hashes and verifies passwords off the async runtime.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
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
        })
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

    /// Checks `password` against `stored`; with `None` (no such account) a dummy hash is
    /// checked instead and the answer is always a mismatch.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&Secret<String>>,
    ) -> Result<Verification, HashError> {
        let exists = stored.is_some();
        let hash = stored
            .map(|s| s.expose().clone())
            .unwrap_or_else(|| self.dummy_hash.to_string());
        let (params, memory) = (self.params.clone(), self.memory.clone());
        let password = password.clone();
        let verification = self
            .run(move || verify_blocking(&memory, &params, password.expose(), &hash))
            .await?;
        Ok(if exists {
            verification
        } else {
            Verification::Mismatch
        })
    }

    /// How many checks are running or waiting.
    pub fn queue_depth(&self) -> usize {
        self.admitted.load(std::sync::atomic::Ordering::Relaxed)
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

fn verify_blocking(memory: &Memory, params: &Params, password: &str, stored: &str) -> Verification {
    if is_bcrypt(stored) {
        // The old service's hashes: right password → replace with argon2id.
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verification::Match { rehash: true },
            Ok(false) => Verification::Mismatch,
            Err(e) => {
                tracing::error!(error = %e, "a stored bcrypt hash cannot be read");
                Verification::Mismatch
            }
        };
    }
    let parsed = match PasswordHash::new(stored) {
        Ok(parsed) => parsed,
        Err(e) => {
            tracing::error!(error = %e, "a stored password hash cannot be read");
            return Verification::Mismatch;
        }
    };
    // The hash names its own algorithm and costs; any argon2 variant verifies.
    if !argon2_matches(memory, password, &parsed) {
        return Verification::Mismatch;
    }
    Verification::Match {
        rehash: !is_current(params, &parsed),
    }
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
            verify_blocking(&Memory::default(), &params, "correct horse", &theirs),
            Verification::Match { rehash: false }
        );
        assert_eq!(
            verify_blocking(&Memory::default(), &params, "wrong horse", &theirs),
            Verification::Mismatch
        );
        // Other variants and costs verify too (and ask for a rehash).
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, params.clone())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        assert_eq!(
            verify_blocking(&Memory::default(), &params, "correct horse", &argon2i),
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
}
