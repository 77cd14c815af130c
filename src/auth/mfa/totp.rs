//! TOTP (RFC 6238) as Gatehouse uses it: SHA-1, 6 digits, 30-second steps, one step of
//! drift either way, each step accepted once (§5.2). The codes come from `totp-rs`; the
//! time is always our clock's.

use chrono::{DateTime, Utc};
use rand::RngCore;
use totp_rs::{Algorithm, Totp};

/// The length of a generated secret: 160 bits, as RFC 4226 §4 recommends.
const SECRET_BYTES: usize = 20;
const STEP_SECONDS: u64 = 30;

/// A person's TOTP secret, in the clear: only while a code is checked or the enrollment
/// is shown. At rest it is sealed ([`super::sealed`]).
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// A secret as shown at enrollment (base32); `None` if it is not one.
    pub fn from_base32(text: &str) -> Option<Self> {
        totp_rs::Secret::try_from_base32(text)
            .ok()
            .map(|secret| Self(secret.as_bytes().to_vec()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn totp(&self, account: &str, issuer: &str) -> Totp {
        totp_rs::Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0.clone())
            // `:` separates issuer and account in the label; neither may hold one.
            .with_account_name(account.replace(':', "_"))
            .with_issuer(Some(issuer.replace(':', "_")))
            .build_noncompliant()
    }

    /// The secret as authenticator apps take it typed in: base32, no padding.
    pub fn base32(&self) -> String {
        self.totp("", "").secret().to_base32()
    }

    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER`, for a QR code.
    pub fn otpauth_uri(&self, account: &str, issuer: &str) -> String {
        self.totp(account, issuer)
            .to_url()
            .unwrap_or_else(|_| format!("otpauth://totp/?secret={}", self.base32()))
    }

    /// The step `code` belongs to at `now`, within one step of drift, if it is right and
    /// later than `after` (the last step accepted: a code is accepted once, and an older
    /// one never again). Compared in constant time.
    pub fn check(&self, code: &str, now: DateTime<Utc>, after: Option<i64>) -> Option<i64> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seconds = u64::try_from(now.timestamp()).ok()?;
        let step = self.totp("", "").check(&code, seconds)?;
        let step = i64::try_from(step).ok()?;
        after.is_none_or(|last| step > last).then_some(step)
    }

    /// The code of the step holding `at` (tests and the CLI's checks).
    pub fn code_at(&self, at: DateTime<Utc>) -> String {
        let seconds = u64::try_from(at.timestamp()).unwrap_or_default();
        self.totp("", "").generate(seconds).to_string()
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    /// RFC 6238 Appendix B, SHA-1 (the last 6 of its 8 digits).
    #[test]
    fn rfc_6238_test_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (time, code) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
            (20000000000, "353130"),
        ] {
            assert_eq!(secret.code_at(at(time)), code, "{time}");
            assert!(secret.check(code, at(time), None).is_some(), "{time}");
        }
    }

    #[test]
    fn one_step_of_drift_each_way_and_each_step_once() {
        let secret = TotpSecret::generate();
        let now = at(1_800_000_015);
        let code = secret.code_at(now);
        let step = secret.check(&code, now, None).unwrap();
        assert_eq!(step, 1_800_000_015 / 30);
        assert_eq!(
            secret.check(&code, at(1_800_000_015 + 30), None),
            Some(step)
        );
        assert_eq!(
            secret.check(&code, at(1_800_000_015 - 30), None),
            Some(step)
        );
        assert_eq!(secret.check(&code, at(1_800_000_015 + 60), None), None);
        // Accepted once: the same step, or an older one, is refused after it.
        assert_eq!(secret.check(&code, now, Some(step)), None);
        let older = secret.code_at(at(1_800_000_015 - 30));
        assert_eq!(secret.check(&older, now, Some(step)), None);
        let next = secret.code_at(at(1_800_000_015 + 30));
        assert_eq!(secret.check(&next, now, Some(step)), Some(step + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = TotpSecret::generate();
        let now = at(1_800_000_000);
        let code = secret.code_at(now);
        assert!(
            secret
                .check(&format!("{} {}", &code[..3], &code[3..]), now, None)
                .is_some()
        );
        for bad in ["", "12345", "1234567", "abcdef", "12345٣"] {
            assert_eq!(secret.check(bad, now, None), None, "{bad}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let uri = secret.otpauth_uri("ada@example.com", "id.example.com");
        assert!(
            uri.starts_with("otpauth://totp/id.example.com:ada%40example.com?"),
            "{uri}"
        );
        assert!(
            uri.contains("secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"),
            "{uri}"
        );
        assert!(uri.contains("issuer=id.example.com"), "{uri}");
        assert_eq!(secret.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let parsed = TotpSecret::from_base32(&secret.base32()).unwrap();
        assert_eq!(parsed.as_bytes(), secret.as_bytes());
    }
}
