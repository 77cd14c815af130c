//! The key folder: `<kid>.pem` files and their schedules in `keys.json`. This file reads
//! them (which keys sign and verify, which files are ignored, what `keys list` shows);
//! `files.rs` reads and writes the files themselves, `changes.rs` makes the changes the
//! `gatehouse keys` commands ask for — under a lock, written atomically.

mod changes;
mod files;
#[cfg(test)]
mod tests;

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::key::{KeyError, MIN_KEY_BITS, SigningAlg};
use super::ring::{KeyRing, KeyState, Schedule};

pub use changes::RotateOutcome;

const STATE_FILE: &str = "keys.json";
const LOCK_FILE: &str = "keys.lock";

#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    keys: Vec<Schedule>,
}

/// One line of `keys list`.
#[derive(Debug, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub state: &'static str,
    pub algorithm: &'static str,
    /// Modulus size; absent when the key file is gone or unreadable.
    pub bits: Option<u32>,
    pub created_at: DateTime<Utc>,
    pub activate_at: DateTime<Utc>,
    pub retire_at: Option<DateTime<Utc>>,
    pub remove_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why the key file cannot be used, if it cannot.
    pub problem: Option<String>,
}

/// A `.pem` file that a folder with `keys.json` does not use, and why.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct IgnoredFile {
    pub path: PathBuf,
    pub reason: String,
}

impl fmt::Display for IgnoredFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is ignored: {}", self.path.display(), self.reason)
    }
}

/// A key folder and the size of the keys it makes.
#[derive(Clone, Debug)]
pub struct KeyFolder {
    dir: PathBuf,
    bits: u32,
    alg: SigningAlg,
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl KeyFolder {
    pub fn new(dir: impl Into<PathBuf>, bits: u32) -> Self {
        Self {
            dir: dir.into(),
            bits,
            alg: SigningAlg::Rs256,
        }
    }

    /// New keys are made for `alg` (RSA of `bits` bits for RS256, P-256 for ES256).
    pub fn with_alg(mut self, alg: SigningAlg) -> Self {
        self.alg = alg;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn pem_path(&self, kid: &str) -> PathBuf {
        self.dir.join(format!("{kid}.pem"))
    }

    /// Loads every key that may sign or verify now or later. Without `keys.json` (keys
    /// put there by hand), the most recently modified PEM signs and the others verify.
    pub fn load(&self, now: DateTime<Utc>) -> Result<KeyRing, KeyError> {
        let schedules = self.schedules()?;
        let mut keys = Vec::new();
        for (schedule, path) in schedules {
            if matches!(schedule.state(now), KeyState::Removed | KeyState::Revoked) {
                continue;
            }
            let key = self.read_pem_at(&path, &schedule.kid)?;
            keys.push((schedule, Arc::new(key)));
        }
        if !keys.iter().any(|(s, _)| s.state(now) == KeyState::Active) {
            return Err(KeyError::Empty(self.dir.clone()));
        }
        Ok(KeyRing::new(keys))
    }

    /// The schedules with the file of each key.
    fn schedules(&self) -> Result<Vec<(Schedule, PathBuf)>, KeyError> {
        match self.read_state()? {
            Some(state) => Ok(state
                .keys
                .into_iter()
                .map(|s| {
                    let path = self.pem_path(&s.kid);
                    (s, path)
                })
                .collect()),
            None => self.adopt(),
        }
    }

    /// Schedules for PEM files that have none: the newest signs, the others verify.
    fn adopt(&self) -> Result<Vec<(Schedule, PathBuf)>, KeyError> {
        let mut found = Vec::new();
        for path in self.pem_files()? {
            let key = self.read_pem(&path)?;
            let modified: DateTime<Utc> = fs::metadata(&path)
                .and_then(|m| m.modified())
                .map(Into::into)
                .unwrap_or_default();
            found.push((modified, key.kid().to_string(), path));
        }
        found.sort();
        let newest = found.last().map(|(t, _, _)| *t);
        Ok(found
            .into_iter()
            .map(|(modified, kid, path)| {
                let schedule = Schedule {
                    kid,
                    created_at: modified,
                    activate_at: modified,
                    retire_at: newest.filter(|n| *n > modified),
                    remove_at: None,
                    revoked_at: None,
                };
                (schedule, path)
            })
            .collect())
    }

    /// The key files that `keys.json` leaves unused, each with the reason. Once a schedule
    /// exists it is the one list of trusted keys: a file that turns up later (a restored
    /// copy of a revoked key, a key made by hand) must not widen which tokens are accepted,
    /// so it is never used — and named, so that it is not ignored without a word.
    pub fn ignored_files(&self, now: DateTime<Utc>) -> Result<Vec<IgnoredFile>, KeyError> {
        let Some(state) = self.read_state()? else {
            // Without a schedule every key file is adopted, or refuses the start.
            return Ok(Vec::new());
        };
        let scheduled = |kid: &str| state.keys.iter().find(|s| s.kid == kid);
        let mut ignored = Vec::new();
        for path in self.pem_files()? {
            let named = path
                .file_stem()
                .and_then(|n| n.to_str())
                .and_then(scheduled);
            let reason = match named {
                Some(s) if s.state(now) == KeyState::Revoked => format!(
                    "it holds the revoked key {}, which is never used again; delete the file",
                    s.kid
                ),
                // In use (its problems are `load`'s to report), or removed and deleted at
                // the next change, as planned.
                Some(_) => continue,
                None => match self.read_pem(&path) {
                    Err(e) => unusable(e),
                    Ok(key) => match scheduled(key.kid()) {
                        Some(s) if s.state(now) == KeyState::Revoked => format!(
                            "a copy of the revoked key {}, which is never used again; delete it",
                            s.kid
                        ),
                        Some(s) => format!(
                            "a copy of the key {kid}, which is used from {kid}.pem; delete the copy",
                            kid = s.kid
                        ),
                        None => format!(
                            "the key {} is not in {STATE_FILE}: once {STATE_FILE} exists, a key file \
                             placed by hand is used neither to sign nor to verify; move it out of \
                             the folder",
                            key.kid()
                        ),
                    },
                },
            };
            ignored.push(IgnoredFile { path, reason });
        }
        Ok(ignored)
    }

    /// Every key with its state and schedule; unreadable key files are reported, not fatal.
    pub fn list(&self, now: DateTime<Utc>) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self
            .schedules()?
            .into_iter()
            .map(|(s, path)| {
                let state = s.state(now);
                let (bits, algorithm, problem) = if state.is_published() {
                    match self.read_pem_at(&path, &s.kid) {
                        Ok(key) => (Some(key.bits()), key.alg().as_str(), None),
                        Err(e) => (None, "-", Some(e.to_string())),
                    }
                } else {
                    (None, "-", None)
                };
                KeyInfo {
                    state: state.as_str(),
                    algorithm,
                    bits,
                    kid: s.kid,
                    created_at: s.created_at,
                    activate_at: s.activate_at,
                    retire_at: s.retire_at,
                    remove_at: s.remove_at,
                    revoked_at: s.revoked_at,
                    problem,
                }
            })
            .collect())
    }
}

/// Why a key file cannot be used, without its path (which the caller names).
fn unusable(error: KeyError) -> String {
    match error {
        KeyError::Invalid { reason, .. } => {
            format!("not a usable private key in PEM form: {reason}")
        }
        KeyError::TooSmall { bits, .. } => {
            format!("a {bits}-bit key; at least {MIN_KEY_BITS} bits are required")
        }
        KeyError::Io { source, .. } => format!("cannot be read: {source}"),
        other => other.to_string(),
    }
}
