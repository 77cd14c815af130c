//! One RSA signing key: PEM in, signatures and a public JWK out.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::alg::rsassa::{RsassaJwsSigner, RsassaJwsVerifier};
use josekit::jws::{JwsSigner, JwsVerifier, RS256};
use sha2::{Digest, Sha256};

/// RFC 7518 §3.3: RS256 keys of 2048 bits or more.
pub const MIN_KEY_BITS: u32 = 2048;

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
    #[error("{path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("no key {0} in the key folder")]
    UnknownKid(String),
    #[error("{0}")]
    Refused(String),
    #[error("signing failed")]
    Sign(#[source] josekit::JoseError),
}

/// One RSA key: signs with the private half, publishes the public half.
pub struct SigningKey {
    kid: String,
    bits: u32,
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
    pub fn from_pem(pem: &[u8], path: &Path) -> Result<Self, KeyError> {
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

    /// A new RSA key, as PKCS#8 PEM.
    pub fn generate_pem(bits: u32) -> Result<Vec<u8>, KeyError> {
        let pair = RsaKeyPair::generate(bits).map_err(|e| KeyError::Invalid {
            path: PathBuf::new(),
            reason: e.to_string(),
        })?;
        Ok(pair.to_pem_private_key())
    }
}

/// RFC 7638 §3.2: SHA-256 over the required members in lexicographic order.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
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
    fn keys_never_print_their_private_part() {
        let pem = SigningKey::generate_pem(2048).unwrap();
        let key = SigningKey::from_pem(&pem, Path::new("k.pem")).unwrap();
        assert_eq!(key.bits(), 2048);
        assert!(format!("{key:?}").contains("<hidden>"));
    }
}
