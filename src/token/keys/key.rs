//! One signing key (RSA for RS256, P-256 for ES256): PEM in, signatures and a public JWK out.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ec::{EcCurve, EcKeyPair};
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jws::{ES256, JwsSigner, JwsVerifier, RS256};
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
    #[error("{path} is not a usable private key in PEM form: {reason}")]
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

/// The JWS algorithms Gatehouse signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlg {
    /// RSA-2048 or larger with SHA-256 (the default; every JWT library verifies it).
    Rs256,
    /// ECDSA P-256 with SHA-256: about ten times cheaper to sign.
    Es256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            _ => None,
        }
    }
}

/// One signing key (RSA or P-256): signs with the private half, publishes the public half.
pub struct SigningKey {
    kid: String,
    alg: SigningAlg,
    bits: u32,
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    public_jwk: serde_json::Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("bits", &self.bits)
            .field("private_key", &"<hidden>")
            .finish()
    }
}

fn member(jwk: &josekit::jwk::Jwk, name: &str) -> Option<String> {
    match jwk.parameter(name) {
        Some(serde_json::Value::String(v)) => Some(v.clone()),
        _ => None,
    }
}

impl SigningKey {
    /// Reads a PKCS#8 (or PKCS#1) RSA key, or a P-256 EC key, from PEM.
    pub fn from_pem(pem: &[u8], path: &Path) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if let Ok(pair) = RsaKeyPair::from_pem(pem) {
            let bits = pair.key_len() * 8;
            if bits < MIN_KEY_BITS {
                return Err(KeyError::TooSmall {
                    path: path.to_path_buf(),
                    bits,
                });
            }
            let jwk = pair.to_jwk_public_key();
            let (Some(n), Some(e)) = (member(&jwk, "n"), member(&jwk, "e")) else {
                return Err(invalid("the public key has no modulus or exponent".into()));
            };
            let kid = thumbprint(&format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#));
            let signer = RS256
                .signer_from_pem(pem)
                .map_err(|e| invalid(e.to_string()))?;
            let verifier = RS256
                .verifier_from_jwk(&jwk)
                .map_err(|e| invalid(e.to_string()))?;
            let public_jwk = serde_json::json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
            });
            return Ok(Self {
                kid,
                alg: SigningAlg::Rs256,
                bits,
                signer: Box::new(signer),
                verifier: Box::new(verifier),
                public_jwk,
            });
        }
        let pair = EcKeyPair::from_pem(pem, Some(EcCurve::P256))
            .map_err(|e| invalid(format!("neither an RSA nor a P-256 private key: {e}")))?;
        let jwk = pair.to_jwk_public_key();
        let (Some(x), Some(y)) = (member(&jwk, "x"), member(&jwk, "y")) else {
            return Err(invalid("the public key has no coordinates".into()));
        };
        let kid = thumbprint(&format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#
        ));
        let signer = ES256
            .signer_from_pem(pem)
            .map_err(|e| invalid(e.to_string()))?;
        let verifier = ES256
            .verifier_from_jwk(&jwk)
            .map_err(|e| invalid(e.to_string()))?;
        let public_jwk = serde_json::json!({
            "kty": "EC", "use": "sig", "alg": "ES256", "kid": kid, "crv": "P-256", "x": x, "y": y,
        });
        Ok(Self {
            kid,
            alg: SigningAlg::Es256,
            bits: 256,
            signer: Box::new(signer),
            verifier: Box::new(verifier),
            public_jwk,
        })
    }

    /// The RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs and verifies with (RFC 8725 §3.1).
    pub fn alg(&self) -> SigningAlg {
        self.alg
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

    /// A new key for `alg` (RSA of `bits` bits, or P-256), as PKCS#8 PEM.
    pub fn generate_pem_for(alg: SigningAlg, bits: u32) -> Result<Vec<u8>, KeyError> {
        let failed = |e: josekit::JoseError| KeyError::Invalid {
            path: PathBuf::new(),
            reason: e.to_string(),
        };
        Ok(match alg {
            SigningAlg::Rs256 => RsaKeyPair::generate(bits)
                .map_err(failed)?
                .to_pem_private_key(),
            SigningAlg::Es256 => EcKeyPair::generate(EcCurve::P256)
                .map_err(failed)?
                .to_pem_private_key(),
        })
    }

    /// A new RSA key, as PKCS#8 PEM.
    pub fn generate_pem(bits: u32) -> Result<Vec<u8>, KeyError> {
        Self::generate_pem_for(SigningAlg::Rs256, bits)
    }
}

/// RFC 7638 §3.2: SHA-256 over the required members, in lexicographic order, without
/// white space.
fn thumbprint(canonical: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let canonical = format!(r#"{{"e":"AQAB","kty":"RSA","n":"{n}"}}"#);
        assert_eq!(
            thumbprint(&canonical),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_p256_key_reads_back_with_its_own_algorithm() {
        let pem = SigningKey::generate_pem_for(SigningAlg::Es256, 0).unwrap();
        let key = SigningKey::from_pem(&pem, Path::new("ec.pem")).unwrap();
        assert_eq!(key.alg(), SigningAlg::Es256);
        let signature = key.sign(b"message").unwrap();
        assert_eq!(signature.len(), 64, "JWS ECDSA signatures are r || s");
        assert!(key.verify(b"message", &signature));
        assert!(!key.verify(b"another", &signature));
        assert_eq!(key.public_jwk()["crv"], "P-256");
    }

    #[test]
    fn keys_never_print_their_private_part() {
        let pem = SigningKey::generate_pem(2048).unwrap();
        let key = SigningKey::from_pem(&pem, Path::new("k.pem")).unwrap();
        assert_eq!(key.bits(), 2048);
        assert!(format!("{key:?}").contains("<hidden>"));
    }
}
