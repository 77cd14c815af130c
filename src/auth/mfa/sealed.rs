//! Second-factor secrets at rest: sealed with XChaCha20-Poly1305 under a key of the
//! server's own (`GATEHOUSE_MFA_ENCRYPTION_KEY`, or `mfa.key` in the keys folder in
//! development), bound to the account they belong to, so a row copied to another account
//! does not open.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

use crate::domain::UserId;

/// The first byte of a sealed secret: the format, so that another can follow.
const FORMAT: u8 = 1;
const NONCE: usize = 24;

/// The key second-factor secrets are sealed with.
#[derive(Clone)]
pub struct SealingKey(XChaCha20Poly1305);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

/// A sealed secret that does not open: another key, another account, or altered bytes.
#[derive(Debug, thiserror::Error)]
#[error("a second-factor secret does not open with this server's key")]
pub struct Unsealable;

impl SealingKey {
    /// A key from its text: 32 bytes, base64url without padding (`gatehouse mfa-key` …).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| "must be 32 bytes in base64url (43 characters)".to_string())?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 32 bytes in base64url (43 characters)".to_string())?;
        Ok(Self(XChaCha20Poly1305::new(&key.into())))
    }

    /// A new random key, as text.
    pub fn generate_text() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        URL_SAFE_NO_PAD.encode(key)
    }

    /// The development key in `dir/mfa.key`, created (0600) on first use.
    pub fn from_dir(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("mfa.key");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::files::create_private_dir(dir)?;
                let text = Self::generate_text();
                std::io::Write::write_all(
                    &mut crate::files::create_private_file(&path)?,
                    text.as_bytes(),
                )?;
                tracing::info!(path = %path.display(), "generated the key that seals second-factor secrets");
                text
            }
            Err(e) => return Err(e),
        };
        Self::parse(&text).map_err(|why| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {why}", path.display()),
            )
        })
    }

    pub fn seal(&self, owner: UserId, secret: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rng().fill_bytes(&mut nonce);
        let aad = owner.to_string();
        let sealed = self
            .0
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: aad.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 seals any secret of ours");
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, owner: UserId, sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
        let (format, rest) = sealed.split_first().ok_or(Unsealable)?;
        if *format != FORMAT || rest.len() < NONCE {
            return Err(Unsealable);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE);
        let aad = owner.to_string();
        self.0
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_account_and_key() {
        let key = SealingKey::parse(&SealingKey::generate_text()).unwrap();
        let ada = UserId::generate();
        let sealed = key.seal(ada, b"12345678901234567890");
        assert!(!sealed.windows(20).any(|w| w == b"12345678901234567890"));
        assert_eq!(key.open(ada, &sealed).unwrap(), b"12345678901234567890");
        assert!(key.open(UserId::generate(), &sealed).is_err());
        let other = SealingKey::parse(&SealingKey::generate_text()).unwrap();
        assert!(other.open(ada, &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(key.open(ada, &altered).is_err());
        assert!(key.open(ada, &[]).is_err());
    }

    #[test]
    fn keys_are_32_bytes_of_base64url() {
        assert!(SealingKey::parse("short").is_err());
        assert!(SealingKey::parse(&URL_SAFE_NO_PAD.encode([0u8; 31])).is_err());
        assert!(SealingKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).is_ok());
    }

    #[test]
    fn the_development_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = SealingKey::from_dir(dir.path()).unwrap();
        let ada = UserId::generate();
        let sealed = first.seal(ada, b"secret");
        let again = SealingKey::from_dir(dir.path()).unwrap();
        assert_eq!(again.open(ada, &sealed).unwrap(), b"secret");
    }
}
