//! PKCE (RFC 7636), S256 only and for every client (RFC 9700 §2.1.1): the challenge an
//! authorization request carries, and the verifier that later proves it at the token
//! endpoint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Checks the `code_challenge` and `code_challenge_method` of an authorization request
/// (RFC 7636 §4.3); the error is the `invalid_request` description.
pub fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<String, &'static str> {
    let challenge = challenge.ok_or("code_challenge is required (PKCE with S256)")?;
    match method {
        Some("S256") => {}
        Some("plain") | None => return Err("code_challenge_method must be S256"),
        Some(_) => return Err("unknown code_challenge_method"),
    }
    // A base64url SHA-256: 43 characters of the URL-safe alphabet, no padding.
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err("code_challenge is not a base64url SHA-256");
    }
    Ok(challenge.to_string())
}

/// Whether `verifier` is well formed (RFC 7636 §4.1) and hashes to `challenge`
/// (§4.6), compared in constant time.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifier_matches_its_challenge() {
        assert!(verifier_matches(VERIFIER, CHALLENGE));
        assert!(!verifier_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
    }

    #[test]
    fn only_s256_challenges_of_the_right_shape_are_accepted() {
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S256")).as_deref(),
            Ok(CHALLENGE)
        );
        assert!(check_challenge(None, Some("S256")).is_err());
        assert!(check_challenge(Some(CHALLENGE), Some("plain")).is_err());
        assert!(check_challenge(Some(CHALLENGE), None).is_err());
        assert!(check_challenge(Some("short"), Some("S256")).is_err());
    }
}
