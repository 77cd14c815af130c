//! RSA signing keys in `GATEHOUSE_KEYS_DIR` (PKCS#8 PEM, one per file) and the JWKS built
//! from them.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier};
use josekit::jws::{JwsSigner, JwsVerifier, RS256};
use sha2::{Digest, Sha256};

/// RFC 7518 §3.3: RS256 keys of 2048 bits or more.
pub const MIN_KEY_BITS: u32 = 2048;
pub const DEFAULT_KEY_BITS: u32 = 2048;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read keys in {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an RSA private key in PEM form: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path} holds a {bits}-bit key; at least {MIN_KEY_BITS} bits are required")]
    TooSmall { path: PathBuf, bits: u32 },
    #[error("no signing key in {0}")]
    Empty(PathBuf),
    #[error("signing failed")]
    Sign(#[source] josekit::JoseError),
}

/// One RSA key: signs with the private half, publishes the public half.
pub struct SigningKey {
    kid: String,
    bits: u32,
    modified: SystemTime,
    signer: RsassaJwsSigner,
    verifier: RsassaJwsVerifier,
    public_jwk: serde_json::Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("bits", &self.bits)
            .field("private_key", &"<hidden>")
            .finish()
    }
}

impl SigningKey {
    fn from_pem(pem: &[u8], path: &Path, modified: SystemTime) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let pair = RsaKeyPair::from_pem(pem).map_err(|e| invalid(e.to_string()))?;
        let bits = pair.key_len() * 8;
        if bits < MIN_KEY_BITS {
            return Err(KeyError::TooSmall {
                path: path.to_path_buf(),
                bits,
            });
        }
        let jwk = pair.to_jwk_public_key();
        let (n, e) = match (jwk.parameter("n"), jwk.parameter("e")) {
            (Some(serde_json::Value::String(n)), Some(serde_json::Value::String(e))) => {
                (n.clone(), e.clone())
            }
            _ => return Err(invalid("the public key has no modulus or exponent".into())),
        };
        let kid = thumbprint(&n, &e);
        let signer = RS256
            .signer_from_pem(pem)
            .map_err(|e| invalid(e.to_string()))?;
        let verifier = RS256
            .verifier_from_jwk(&jwk)
            .map_err(|e| invalid(e.to_string()))?;
        let public_jwk = serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": kid,
            "n": n,
            "e": e,
        });
        Ok(Self {
            kid,
            bits,
            modified,
            signer,
            verifier,
            public_jwk,
        })
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn bits(&self) -> u32 {
        self.bits
    }

    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer.sign(message).map_err(KeyError::Sign)
    }

    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify(message, signature).is_ok()
    }

    pub fn public_jwk(&self) -> &serde_json::Value {
        &self.public_jwk
    }
}

/// RFC 7638 §3.2: SHA-256 over the required members in lexicographic order.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Every key in the folder: the newest signs, all are published and accepted.
#[derive(Debug)]
pub struct KeySet {
    active: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: String,
}

impl KeySet {
    fn new(mut keys: Vec<SigningKey>) -> Option<Self> {
        // Newest first; ties broken by kid so every instance picks the same key.
        keys.sort_by(|a, b| b.modified.cmp(&a.modified).then(a.kid.cmp(&b.kid)));
        let keys: Vec<Arc<SigningKey>> = keys.into_iter().map(Arc::new).collect();
        let active = keys.first()?.clone();
        let jwks = serde_json::json!({
            "keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()
        })
        .to_string();
        let by_kid = keys.into_iter().map(|k| (k.kid.clone(), k)).collect();
        Some(Self {
            active,
            by_kid,
            jwks,
        })
    }

    /// Reads every `*.pem` file in `dir`. When there is none and `generate` is set, writes
    /// a new RSA key there first.
    pub fn load(dir: &Path, generate: bool) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: dir.to_path_buf(),
            source,
        };
        if generate {
            create_private_dir(dir).map_err(io)?;
        }
        let mut keys = read_keys(dir)?;
        if keys.is_empty() && generate {
            let path = generate_key_file(dir, DEFAULT_KEY_BITS)?;
            tracing::info!(path = %path.display(), "generated a new signing key");
            keys = read_keys(dir)?;
        }
        Self::new(keys).ok_or_else(|| KeyError::Empty(dir.to_path_buf()))
    }

    pub fn active(&self) -> &Arc<SigningKey> {
        &self.active
    }

    pub fn get(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.by_kid.get(kid)
    }

    pub fn len(&self) -> usize {
        self.by_kid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_kid.is_empty()
    }

    /// The JWKS document, serialized once.
    pub fn jwks_json(&self) -> &str {
        &self.jwks
    }
}

/// The key set in use; swapped whole when the folder changes.
#[derive(Clone, Debug)]
pub struct Keys(Arc<RwLock<Arc<KeySet>>>);

impl Keys {
    pub fn new(set: KeySet) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(set))))
    }

    pub fn current(&self) -> Arc<KeySet> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, set: KeySet) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
    }
}

fn read_keys(dir: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let io = |path: &Path, source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir, e)),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| io(dir, e))?.path();
        if path.extension().is_none_or(|x| x != "pem") {
            continue;
        }
        let pem = fs::read(&path).map_err(|e| io(&path, e))?;
        let meta = fs::metadata(&path).map_err(|e| io(&path, e))?;
        warn_if_readable_by_others(&path, &meta);
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        keys.push(SigningKey::from_pem(&pem, &path, modified)?);
    }
    Ok(keys)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path, meta: &fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(path = %path.display(), "signing key is accessible to other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_: &Path, _: &fs::Metadata) {}

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

/// Writes a new RSA key as `<kid>.pem` with mode 0600, atomically: a temporary file that
/// is renamed into place, so a reader never sees half a key.
pub fn generate_key_file(dir: &Path, bits: u32) -> Result<PathBuf, KeyError> {
    let pair = RsaKeyPair::generate(bits).map_err(|e| KeyError::Invalid {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let pem = pair.to_pem_private_key();
    let key = SigningKey::from_pem(&pem, dir, SystemTime::now())?;
    let io = |path: &Path, source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    create_private_dir(dir).map_err(|e| io(dir, e))?;
    let path = dir.join(format!("{}.pem", key.kid));
    let tmp = dir.join(format!(".{}.pem.tmp", key.kid));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp).map_err(|e| io(&tmp, e))?;
    file.write_all(&pem).map_err(|e| io(&tmp, e))?;
    file.sync_all().map_err(|e| io(&tmp, e))?;
    fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_generated_key_is_private_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let set = KeySet::load(dir.path(), true).unwrap();
        assert_eq!(set.len(), 1);
        let path = dir.path().join(format!("{}.pem", set.active().kid()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = KeySet::load(dir.path(), false).unwrap();
        assert_eq!(again.active().kid(), set.active().kid());
        assert!(!format!("{:?}", set.active()).contains("PRIVATE"));
    }

    #[test]
    fn an_empty_folder_without_generation_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            KeySet::load(dir.path(), false),
            Err(KeyError::Empty(_))
        ));
    }
}
