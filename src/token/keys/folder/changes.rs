//! The changes `gatehouse keys` makes: a first key, rotation, retirement and revocation,
//! each applied to the schedules under the folder's lock.

use std::fs::{self, File};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::files::{create_private_dir, write_private};
use super::{KeyFolder, LOCK_FILE, StateFile, after, io};
use crate::clock::Clock;
use crate::token::keys::key::{KeyError, SigningKey};
use crate::token::keys::ring::{KeyState, Schedule};

/// Tokens carry `nbf`/`exp` checked with some leeway, and clocks differ a little.
const REMOVAL_MARGIN: Duration = Duration::from_secs(60);
/// How long removed and revoked keys stay listed (their files are deleted at once).
const HISTORY: Duration = Duration::from_secs(30 * 86_400);
/// Added to a new key's wait before it signs: `keys.json` is written after the key, an
/// instance loads it a moment after its reload tick, a JWKS response takes time to
/// arrive, and the clocks of the hosts differ a little.
pub(super) const PUBLISH_MARGIN: Duration = Duration::from_secs(5);

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

impl KeyFolder {
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
}
