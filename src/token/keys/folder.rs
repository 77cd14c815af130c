//! The key folder: `<kid>.pem` files, their schedules in `keys.json`, and the changes the
//! `gatehouse keys` commands make to them — under a lock, written atomically.

use std::fmt;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::key::{KeyError, MIN_KEY_BITS, SigningAlg, SigningKey};
use super::ring::{KeyRing, KeyState, Schedule};
use crate::clock::Clock;

const STATE_FILE: &str = "keys.json";
const LOCK_FILE: &str = "keys.lock";
/// Tokens carry `nbf`/`exp` checked with some leeway, and clocks differ a little.
const REMOVAL_MARGIN: Duration = Duration::from_secs(60);
/// How long removed and revoked keys stay listed (their files are deleted at once).
const HISTORY: Duration = Duration::from_secs(30 * 86_400);
/// Added to a new key's wait before it signs: `keys.json` is written after the key, an
/// instance loads it a moment after its reload tick, a JWKS response takes time to
/// arrive, and the clocks of the hosts differ a little.
const PUBLISH_MARGIN: Duration = Duration::from_secs(5);

#[derive(Default, Serialize, Deserialize)]
struct StateFile {
    keys: Vec<Schedule>,
}

/// What `keys rotate` did.
#[derive(Debug, PartialEq, Eq)]
pub enum RotateOutcome {
    /// A new key, published now, that signs from `activate_at`.
    Rotated {
        kid: String,
        activate_at: DateTime<Utc>,
    },
    /// A rotation is already under way (a `next` key exists).
    Pending {
        kid: String,
        activate_at: DateTime<Utc>,
    },
    /// The active key is younger than `--if-older-than`.
    Young {
        kid: String,
        created_at: DateTime<Utc>,
    },
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

    /// Something that changes whenever a key or a schedule changes (names, sizes and
    /// modification times), so a running instance reloads only when needed.
    pub fn fingerprint(&self) -> Vec<(String, u64, Option<SystemTime>)> {
        let mut seen: Vec<_> = fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let relevant =
                    name == STATE_FILE || (name.ends_with(".pem") && !name.starts_with('.'));
                let meta = e.metadata().ok()?;
                relevant.then(|| (name, meta.len(), meta.modified().ok()))
            })
            .collect();
        seen.sort();
        seen
    }

    fn read_state(&self) -> Result<Option<StateFile>, KeyError> {
        let path = self.dir.join(STATE_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| KeyError::State {
                    path,
                    reason: format!("not a valid key schedule: {e}"),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// Writes the schedules atomically: a complete temporary file, synced, renamed over
    /// the old one. A crash leaves either the old or the new file, never half of one.
    fn write_state(&self, state: &StateFile) -> Result<(), KeyError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| KeyError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_private(&self.dir, &path, &bytes)
    }

    fn read_pem(&self, path: &Path) -> Result<SigningKey, KeyError> {
        let pem = fs::read(path).map_err(io(path))?;
        SigningKey::from_pem(&pem, path)
    }

    fn read_pem_at(&self, path: &Path, kid: &str) -> Result<SigningKey, KeyError> {
        let key = self.read_pem(path)?;
        if key.kid() != kid {
            return Err(KeyError::Invalid {
                path: path.to_path_buf(),
                reason: format!("it holds the key {}, not {kid}", key.kid()),
            });
        }
        Ok(key)
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

    /// The key files in the folder (`*.pem`, not hidden: temporary files start with a dot).
    fn pem_files(&self) -> Result<Vec<PathBuf>, KeyError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.dir)(e)),
        };
        let mut paths = Vec::new();
        for entry in entries {
            let path = entry.map_err(io(&self.dir))?.path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !hidden && path.extension().is_some_and(|x| x == "pem") {
                paths.push(path);
            }
        }
        paths.sort();
        Ok(paths)
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

    /// Holds the folder's lock while `change` edits the schedules; writes them back.
    fn change<T>(
        &self,
        now: DateTime<Utc>,
        change: impl FnOnce(&Self, &mut Vec<Schedule>) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        create_private_dir(&self.dir).map_err(io(&self.dir))?;
        let lock_path = self.dir.join(LOCK_FILE);
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        lock.lock().map_err(io(&lock_path))?;
        let mut schedules = Vec::new();
        for (schedule, path) in self.schedules()? {
            // Hand-placed keys get their proper name (`<kid>.pem`) once a schedule exists.
            let proper = self.pem_path(&schedule.kid);
            if path != proper {
                fs::rename(&path, &proper).map_err(io(&path))?;
            }
            schedules.push(schedule);
        }
        let result = change(self, &mut schedules)?;
        self.forget_old(&mut schedules, now);
        self.write_state(&StateFile { keys: schedules })?;
        drop(lock);
        Ok(result)
    }

    /// Deletes the files of keys that can no longer be used, and forgets them after a while.
    fn forget_old(&self, schedules: &mut Vec<Schedule>, now: DateTime<Utc>) {
        for s in schedules.iter() {
            if matches!(s.state(now), KeyState::Removed | KeyState::Revoked) {
                let _ = fs::remove_file(self.pem_path(&s.kid));
            }
        }
        schedules.retain(|s| {
            let gone = s.revoked_at.or(s.remove_at.filter(|t| *t <= now));
            gone.is_none_or(|t| after(t, HISTORY) > now)
        });
    }

    fn new_key(&self) -> Result<String, KeyError> {
        let pem = SigningKey::generate_pem_for(self.alg, self.bits)?;
        let key = SigningKey::from_pem(&pem, &self.dir)?;
        write_private(&self.dir, &self.pem_path(key.kid()), &pem)?;
        Ok(key.kid().to_string())
    }

    /// In development: when the folder has no usable key, make one that signs at once.
    pub fn ensure_key(&self, now: DateTime<Utc>) -> Result<(), KeyError> {
        self.change(now, |folder, schedules| {
            if schedules.iter().any(|s| s.state(now) == KeyState::Active) {
                return Ok(());
            }
            let kid = folder.new_key()?;
            tracing::info!(kid = %kid, dir = %folder.dir.display(), "generated a new signing key");
            schedules.push(Schedule {
                kid,
                created_at: now,
                activate_at: now,
                retire_at: None,
                remove_at: None,
                revoked_at: None,
            });
            Ok(())
        })
    }

    /// Adds a key that is published now and signs once `publish_ahead` (the JWKS cache
    /// lifetime plus the reload interval) and a margin have passed since it was written;
    /// the active key then retires, and leaves the JWKS once the tokens it signed
    /// (`token_lifetime`) have expired.
    pub fn rotate(
        &self,
        clock: &dyn Clock,
        publish_ahead: Duration,
        token_lifetime: Duration,
        if_older_than: Option<Duration>,
    ) -> Result<RotateOutcome, KeyError> {
        let now = clock.now();
        self.change(now, |folder, schedules| {
            if let Some(next) = schedules.iter().find(|s| s.state(now) == KeyState::Next) {
                return Ok(RotateOutcome::Pending {
                    kid: next.kid.clone(),
                    activate_at: next.activate_at,
                });
            }
            let active = schedules
                .iter()
                .filter(|s| s.state(now) == KeyState::Active)
                .max_by_key(|s| s.activate_at)
                .cloned();
            if let (Some(min_age), Some(active)) = (if_older_than, &active)
                && after(active.created_at, min_age) > now
            {
                return Ok(RotateOutcome::Young {
                    kid: active.kid.clone(),
                    created_at: active.created_at,
                });
            }
            let kid = folder.new_key()?;
            // Counted from the moment the key is on disk, not from the start of the
            // command: making an RSA key takes up to a second, and no instance can
            // publish the key before it exists.
            let activate_at = if active.is_some() {
                after(clock.now(), publish_ahead + PUBLISH_MARGIN)
            } else {
                now
            };
            for s in schedules.iter_mut() {
                if s.state(now) == KeyState::Active {
                    s.retire_at = Some(activate_at);
                    s.remove_at = Some(after(activate_at, token_lifetime + REMOVAL_MARGIN));
                }
            }
            schedules.push(Schedule {
                kid: kid.clone(),
                created_at: now,
                activate_at,
                retire_at: None,
                remove_at: None,
                revoked_at: None,
            });
            Ok(RotateOutcome::Rotated { kid, activate_at })
        })
    }

    /// Stops publishing a key once its tokens have expired. The active key is retired by
    /// `rotate` (or, in an emergency, `revoke`); a `next` key is withdrawn at once.
    pub fn retire(
        &self,
        kid: &str,
        now: DateTime<Utc>,
        token_lifetime: Duration,
    ) -> Result<(), KeyError> {
        self.change(now, |_, schedules| {
            let s = schedules
                .iter_mut()
                .find(|s| s.kid == kid)
                .ok_or_else(|| KeyError::UnknownKid(kid.to_string()))?;
            match s.state(now) {
                KeyState::Active => Err(KeyError::Refused(format!(
                    "{kid} is the active key: run `gatehouse keys rotate` to replace it, or \
                     `gatehouse keys revoke {kid}` if it is compromised"
                ))),
                KeyState::Next => {
                    // Never signed anything: nothing to wait for.
                    s.retire_at = Some(now);
                    s.remove_at = Some(now);
                    Ok(())
                }
                KeyState::Retired => {
                    let last = s.retire_at.unwrap_or(now).min(now);
                    let remove = after(last, token_lifetime + REMOVAL_MARGIN);
                    s.remove_at = Some(s.remove_at.map_or(remove, |r| r.min(remove)));
                    Ok(())
                }
                KeyState::Removed | KeyState::Revoked => Ok(()),
            }
        })
    }

    /// Emergency: removes a key at once, deletes its file, and rejects its tokens. When
    /// it was the signing key, a pending `next` key (or else a new key) signs at once.
    pub fn revoke(&self, kid: &str, now: DateTime<Utc>) -> Result<Option<String>, KeyError> {
        self.change(now, |folder, schedules| {
            let index = schedules
                .iter()
                .position(|s| s.kid == kid)
                .ok_or_else(|| KeyError::UnknownKid(kid.to_string()))?;
            let was_active = schedules[index].state(now) == KeyState::Active;
            schedules[index].revoked_at.get_or_insert(now);
            if !was_active {
                return Ok(None);
            }
            if let Some(next) = schedules
                .iter_mut()
                .find(|s| s.state(now) == KeyState::Next)
            {
                next.activate_at = now;
                return Ok(Some(next.kid.clone()));
            }
            let kid = folder.new_key()?;
            schedules.push(Schedule {
                kid: kid.clone(),
                created_at: now,
                activate_at: now,
                retire_at: None,
                remove_at: None,
                revoked_at: None,
            });
            Ok(Some(kid))
        })
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

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `bytes` to `path` with mode 0600: a synced temporary file renamed into place.
fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    create_private_dir(dir).map_err(io(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
// These tests need only some present moment, not one they move; the system time serves.
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    /// A clock that stands still.
    struct At(DateTime<Utc>);

    impl Clock for At {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    /// A clock that tells whether the new key is on disk: a thousand seconds later for
    /// every key file in the folder.
    struct KeyFileClock(PathBuf);

    impl Clock for KeyFileClock {
        fn now(&self) -> DateTime<Utc> {
            let files = std::fs::read_dir(&self.0)
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pem"))
                .count();
            t(1000 * files as i64)
        }
    }

    fn signing_kid(folder: &KeyFolder, at: DateTime<Utc>) -> String {
        folder
            .load(at)
            .unwrap()
            .signing_key(at)
            .unwrap()
            .kid()
            .to_string()
    }

    const AHEAD: Duration = Duration::from_secs(310);
    const LIFETIME: Duration = Duration::from_secs(900);

    #[test]
    fn a_rotation_publishes_first_and_signs_later() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let first = signing_kid(&folder, t(0));

        let RotateOutcome::Rotated { kid, activate_at } =
            folder.rotate(&At(t(100)), AHEAD, LIFETIME, None).unwrap()
        else {
            panic!()
        };

        assert_eq!(activate_at, t(415), "310 s ahead and a 5 s margin");
        let ring = folder.load(t(100)).unwrap();
        assert_eq!(ring.signing_key(t(414)).unwrap().kid(), first);
        assert_eq!(ring.signing_key(t(415)).unwrap().kid(), kid);
        assert!(ring.jwks_json(t(100)).contains(&kid));
        assert!(ring.jwks_json(t(415 + 900 + 59)).contains(&first));
        assert!(!ring.jwks_json(t(415 + 900 + 60)).contains(&first));
        // A second rotation while one is pending changes nothing.
        assert!(matches!(
            folder.rotate(&At(t(200)), AHEAD, LIFETIME, None).unwrap(),
            RotateOutcome::Pending { .. }
        ));
        // Once the old key is removed, its file goes at the next change.
        folder.rotate(&At(t(2000)), AHEAD, LIFETIME, None).unwrap();
        assert!(!dir.path().join(format!("{first}.pem")).exists());
    }

    #[test]
    fn a_new_key_waits_from_the_moment_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let clock = KeyFileClock(dir.path().to_path_buf());

        let RotateOutcome::Rotated { activate_at, .. } =
            folder.rotate(&clock, AHEAD, LIFETIME, None).unwrap()
        else {
            panic!()
        };

        // One key file until the new key is written (1000), two once it is (2000): the
        // whole wait comes after the key is on disk.
        assert_eq!(activate_at, after(t(2000), AHEAD + PUBLISH_MARGIN));
    }

    #[test]
    fn rotate_if_older_than_leaves_young_keys_alone() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let month = Duration::from_secs(30 * 86_400);
        assert!(matches!(
            folder
                .rotate(&At(t(86_400)), AHEAD, LIFETIME, Some(month))
                .unwrap(),
            RotateOutcome::Young { .. }
        ));
        assert!(matches!(
            folder
                .rotate(&At(t(31 * 86_400)), AHEAD, LIFETIME, Some(month))
                .unwrap(),
            RotateOutcome::Rotated { .. }
        ));
    }

    #[test]
    fn revoking_the_active_key_promotes_another_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let RotateOutcome::Rotated { kid: next, .. } =
            folder.rotate(&At(t(10)), AHEAD, LIFETIME, None).unwrap()
        else {
            panic!()
        };
        let first = signing_kid(&folder, t(10));

        let promoted = folder.revoke(&first, t(20)).unwrap();

        assert_eq!(promoted.as_deref(), Some(next.as_str()));
        let ring = folder.load(t(20)).unwrap();
        assert_eq!(ring.signing_key(t(20)).unwrap().kid(), next);
        assert!(ring.verification_key(&first, t(20)).is_none());
        assert!(!ring.jwks_json(t(20)).contains(&first));
        assert!(!dir.path().join(format!("{first}.pem")).exists());
        // With no next key, a new one is made.
        let made = folder.revoke(&next, t(30)).unwrap().unwrap();
        assert_eq!(signing_kid(&folder, t(30)), made);
    }

    #[test]
    fn the_active_key_cannot_be_retired_and_a_next_key_is_withdrawn() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let first = signing_kid(&folder, t(0));
        assert!(matches!(
            folder.retire(&first, t(1), LIFETIME),
            Err(KeyError::Refused(_))
        ));
        let RotateOutcome::Rotated { kid: next, .. } =
            folder.rotate(&At(t(10)), AHEAD, LIFETIME, None).unwrap()
        else {
            panic!()
        };
        folder.retire(&next, t(20), LIFETIME).unwrap();
        let ring = folder.load(t(20)).unwrap();
        assert!(!ring.jwks_json(t(20)).contains(&next));
        assert!(matches!(
            folder.retire("nope", t(20), LIFETIME),
            Err(KeyError::UnknownKid(_))
        ));
    }

    #[test]
    fn hand_placed_keys_are_adopted() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("signing.pem"),
            SigningKey::generate_pem(2048).unwrap(),
        )
        .unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        let ring = folder.load(Utc::now()).unwrap();
        assert_eq!(ring.len(), 1);
        assert!(ring.signing_key(Utc::now()).is_some());
    }

    #[test]
    fn a_corrupt_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let kid = signing_kid(&folder, t(0));
        let path = dir.path().join(format!("{kid}.pem"));
        let pem = fs::read(&path).unwrap();
        fs::write(&path, &pem[..pem.len() / 2]).unwrap();
        let err = folder.load(t(1)).unwrap_err().to_string();
        assert!(err.contains(&format!("{kid}.pem")), "{err}");
        let listed = folder.list(t(1)).unwrap();
        assert!(listed[0].problem.is_some());
    }

    #[test]
    fn key_files_outside_the_schedule_are_named_with_their_reason_and_never_used() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let RotateOutcome::Rotated { kid: next, .. } =
            folder.rotate(&At(t(10)), AHEAD, LIFETIME, None).unwrap()
        else {
            panic!()
        };
        let next_pem = fs::read(dir.path().join(format!("{next}.pem"))).unwrap();
        let revoked = signing_kid(&folder, t(10));
        folder.revoke(&revoked, t(20)).unwrap();
        let stray = SigningKey::generate_pem(2048).unwrap();
        let stray_kid = SigningKey::from_pem(&stray, Path::new("stray"))
            .unwrap()
            .kid()
            .to_string();
        // Dropped in by hand after keys.json exists: a new key, a corrupt file, a copy of
        // the key in use, and a restored backup of the revoked key.
        fs::write(dir.path().join("extra.pem"), &stray).unwrap();
        fs::write(
            dir.path().join("broken.pem"),
            b"-----BEGIN PRIVATE KEY-----",
        )
        .unwrap();
        fs::write(dir.path().join("copy.pem"), &next_pem).unwrap();
        fs::write(dir.path().join(format!("{revoked}.pem")), b"restored").unwrap();
        fs::write(dir.path().join("notes.txt"), b"not a key file").unwrap();

        let ignored = folder.ignored_files(t(30)).unwrap();

        let reason = |name: &str| {
            ignored
                .iter()
                .find(|f| f.path == dir.path().join(name))
                .map(|f| f.reason.clone())
                .unwrap_or_else(|| panic!("{name} not reported: {ignored:?}"))
        };
        assert!(reason("extra.pem").contains("not in keys.json"));
        assert!(reason("broken.pem").contains("not a usable private key"));
        assert!(reason("copy.pem").contains(&format!("a copy of the key {next}")));
        assert!(reason(&format!("{revoked}.pem")).contains("revoked"));
        assert_eq!(ignored.len(), 4, "{ignored:?}");
        // None of them is used: the ring holds the scheduled key alone.
        let ring = folder.load(t(30)).unwrap();
        assert_eq!(ring.len(), 1);
        assert!(!ring.jwks_json(t(30)).contains(&stray_kid));
        assert!(!ring.jwks_json(t(30)).contains(&revoked));
        assert_eq!(
            folder.list(t(30)).unwrap().len(),
            2,
            "the revoked key stays listed"
        );
    }

    #[test]
    fn without_a_schedule_nothing_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("signing.pem"),
            SigningKey::generate_pem(2048).unwrap(),
        )
        .unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        assert!(folder.ignored_files(Utc::now()).unwrap().is_empty());
    }

    #[test]
    fn concurrent_rotations_make_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let folder = KeyFolder::new(dir.path(), 2048);
        folder.ensure_key(t(0)).unwrap();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let folder = folder.clone();
                std::thread::spawn(move || {
                    folder.rotate(&At(t(10)), AHEAD, LIFETIME, None).unwrap()
                })
            })
            .collect();
        let outcomes: Vec<RotateOutcome> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated { .. }))
            .count();
        assert_eq!(rotated, 1, "{outcomes:?}");
        assert_eq!(folder.list(t(10)).unwrap().len(), 2);
    }
}
