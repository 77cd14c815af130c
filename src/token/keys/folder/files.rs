//! The folder's files: key files and `keys.json` read, and written atomically with
//! private permissions (a synced temporary file renamed into place).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::{KeyFolder, STATE_FILE, StateFile, io};
use crate::token::keys::key::{KeyError, SigningKey};

impl KeyFolder {
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

    pub(super) fn read_state(&self) -> Result<Option<StateFile>, KeyError> {
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
    pub(super) fn write_state(&self, state: &StateFile) -> Result<(), KeyError> {
        let path = self.dir.join(STATE_FILE);
        let bytes = serde_json::to_vec_pretty(state).map_err(|e| KeyError::State {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        write_private(&self.dir, &path, &bytes)
    }

    pub(super) fn read_pem(&self, path: &Path) -> Result<SigningKey, KeyError> {
        let pem = fs::read(path).map_err(io(path))?;
        SigningKey::from_pem(&pem, path)
    }

    pub(super) fn read_pem_at(&self, path: &Path, kid: &str) -> Result<SigningKey, KeyError> {
        let key = self.read_pem(path)?;
        if key.kid() != kid {
            return Err(KeyError::Invalid {
                path: path.to_path_buf(),
                reason: format!("it holds the key {}, not {kid}", key.kid()),
            });
        }
        Ok(key)
    }

    /// The key files in the folder (`*.pem`, not hidden: temporary files start with a dot).
    pub(super) fn pem_files(&self) -> Result<Vec<PathBuf>, KeyError> {
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
}

pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
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
pub(super) fn write_private(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
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
