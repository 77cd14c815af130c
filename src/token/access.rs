//! RFC 9068 access tokens: JWTs signed RS256, verified with the algorithm pinned and every
//! claim checked (RFC 8725 §3).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::keys::{KeyError, KeyRing, Keys, SigningAlg};

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Tolerated clock difference between instances for `nbf` and `iat`.
const LEEWAY_SECS: i64 = 30;

/// The claims of an access token (RFC 9068 §2.2, plus `sid` and `roles`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The old service's user id of a person imported with one (while resource servers
    /// move their own data over to Gatehouse's ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// How the person signed in (RFC 8176); absent for client_credentials.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// How strongly, as an authentication context class (RFC 9470); absent for
    /// client_credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
}

/// `aud` is one string when Gatehouse issues it; an array is accepted when verifying.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// Why a presented token was not accepted. The text is safe to send to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not signed with its key's algorithm")]
    WrongAlgorithm,
    #[error("the token is not an access token")]
    WrongType,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Signs access tokens with the active key.
#[derive(Clone, Debug)]
pub struct TokenSigner {
    keys: Keys,
}

impl TokenSigner {
    pub fn new(keys: Keys) -> Self {
        Self { keys }
    }

    /// Encodes and signs with the key active at `now`; the cost is one RSA signature.
    pub fn sign(&self, claims: &AccessClaims, now: DateTime<Utc>) -> Result<String, KeyError> {
        self.sign_jwt("at+jwt", claims, now)
    }

    /// An OpenID Connect ID token (`typ: JWT`).
    pub fn sign_id_token(&self, claims: &IdClaims, now: DateTime<Utc>) -> Result<String, KeyError> {
        self.sign_jwt("JWT", claims, now)
    }

    fn sign_jwt(
        &self,
        typ: &str,
        claims: &impl Serialize,
        now: DateTime<Utc>,
    ) -> Result<String, KeyError> {
        let ring = self.keys.current();
        let key = ring
            .signing_key(now)
            .ok_or_else(|| KeyError::Refused("no key is active".into()))?;
        // Written directly: the algorithm and type are ours, the key id is base64url.
        let header = format!(
            r#"{{"alg":"{}","typ":"{typ}","kid":"{}"}}"#,
            key.alg().as_str(),
            key.kid()
        );
        let mut token = String::with_capacity(1024);
        URL_SAFE_NO_PAD.encode_string(header, &mut token);
        token.push('.');
        let payload = serde_json::to_vec(claims).map_err(|e| KeyError::Invalid {
            path: Default::default(),
            reason: e.to_string(),
        })?;
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let signature = key.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// The claims of an ID token (OpenID Connect Core §2).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    /// The client.
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// The left half of SHA-256 of the access token, base64url (§3.1.3.6).
    pub at_hash: String,
    pub sid: String,
    /// How the person signed in (RFC 8176).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// How strongly (OIDC Core §2, RFC 9470).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

/// `at_hash`: the left-most half of SHA-256 of the access token (RS256), base64url.
pub fn at_hash(access_token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Reads the claims of an ID token we signed, accepting an expired one: RP-initiated
/// logout names the session with an old `id_token_hint`.
impl TokenVerifier {
    pub fn verify_id_token_hint(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<IdClaims, TokenError> {
        let ring = self.keys.current();
        let (_, payload) = verify_signature(&ring, token, "JWT", now)?;
        let claims: IdClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
        if claims.iss != *self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        Ok(claims)
    }
}

/// Access tokens whose signature, issuer and audience an instance has checked.
const VERIFIED_TOKENS: u64 = 10_000;

/// Verifies access tokens against our own keys, issuer and audience.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Keys,
    issuer: Arc<str>,
    audience: Arc<str>,
    /// Tokens already verified, by the SHA-256 of their text: the same bytes need no
    /// second signature check, only what depends on time — expiry, and whether the key
    /// that signed them is still accepted (a revoked key's tokens fail at once).
    verified: moka::sync::Cache<[u8; 32], Arc<Verified>>,
}

struct Verified {
    kid: String,
    claims: AccessClaims,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn new(keys: Keys, issuer: &str, audience: &str) -> Self {
        Self {
            keys,
            issuer: issuer.into(),
            audience: audience.into(),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_TOKENS)
                // No access token lives longer (GATEHOUSE_ACCESS_TOKEN_TTL ≤ 24 h).
                .time_to_live(std::time::Duration::from_secs(86_400))
                .build(),
        }
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        use sha2::Digest;
        let ring = self.keys.current();
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let digest: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        if let Some(seen) = self.verified.get(&digest)
            && ring.verification_key(&seen.kid, now).is_some()
        {
            check_time(&seen.claims, now)?;
            return Ok(seen.claims.clone());
        }
        let (kid, claims) = verify_with(&ring, token, &self.issuer, &self.audience, now)?;
        self.verified.insert(
            digest,
            Arc::new(Verified {
                kid,
                claims: claims.clone(),
            }),
        );
        Ok(claims)
    }
}

/// Checks the header (algorithm pinned, type, key) and the signature; returns the key's
/// id and the payload.
fn verify_signature(
    keys: &KeyRing,
    token: &str,
    typ: &str,
    now: DateTime<Utc>,
) -> Result<(String, Vec<u8>), TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)
    };
    let header: Header =
        serde_json::from_slice(&decode(header_b64)?).map_err(|_| TokenError::Malformed)?;
    // RFC 8725 §3.1: the algorithm is ours to choose, never the token's: each key has
    // exactly one, and the header must name it.
    let Some(alg) = SigningAlg::parse(&header.alg) else {
        return Err(TokenError::WrongAlgorithm);
    };
    // RFC 9068 §4 / RFC 8725 §3.11: an access token is typed `at+jwt`; an ID token `JWT`.
    let typ_ok = header.typ.as_deref().is_some_and(|t| {
        t.eq_ignore_ascii_case(typ) || t.eq_ignore_ascii_case(&format!("application/{typ}"))
    });
    if !typ_ok {
        return Err(TokenError::WrongType);
    }
    // RFC 7515 §4.1.11: no critical extensions are understood.
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.verification_key(kid, now))
        .ok_or(TokenError::UnknownKey)?;
    if key.alg() != alg {
        return Err(TokenError::WrongAlgorithm);
    }
    let signature = decode(signature_b64)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(TokenError::BadSignature);
    }
    Ok((key.kid().to_string(), decode(payload_b64)?))
}

fn verify_with(
    keys: &KeyRing,
    token: &str,
    issuer: &str,
    audience: &str,
    now: DateTime<Utc>,
) -> Result<(String, AccessClaims), TokenError> {
    let (kid, payload) = verify_signature(keys, token, "at+jwt", now)?;
    // Only a correctly signed payload is parsed; `exp` and the other numeric claims are
    // required integers, so a token without them is malformed.
    let claims: AccessClaims =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    check_time(&claims, now)?;
    if claims.iss != issuer {
        return Err(TokenError::WrongIssuer);
    }
    if !claims.aud.contains(audience) {
        return Err(TokenError::WrongAudience);
    }
    Ok((kid, claims))
}

/// What changes with time alone: expired, or not valid yet.
fn check_time(claims: &AccessClaims, now: DateTime<Utc>) -> Result<(), TokenError> {
    let now = now.timestamp();
    if now >= claims.exp {
        return Err(TokenError::Expired);
    }
    if claims.nbf > now + LEEWAY_SECS || claims.iat > now + LEEWAY_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// The moment the tests sign and verify at.
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://id.example".into(),
            sub: "user".into(),
            aud: Audience::One("https://api.example".into()),
            exp: now + 60,
            iat: now,
            nbf: now,
            jti: "j".into(),
            client_id: "gatehouse".into(),
            scope: "openid".into(),
            sid: None,
            roles: vec![],
            legacy_id: None,
            auth_time: Some(now),
            amr: vec!["pwd".into()],
            acr: None,
        }
    }

    /// Keys made five seconds before [`now`], and a token they signed at `now`.
    fn signed() -> (tempfile::TempDir, Keys, String) {
        let dir = tempfile::tempdir().unwrap();
        let folder = super::super::KeyFolder::new(dir.path(), 2048);
        let made = now() - chrono::Duration::seconds(5);
        folder.ensure_key(made).unwrap();
        let keys = Keys::new(folder.load(made).unwrap());
        let token = TokenSigner::new(keys.clone())
            .sign(&claims(now().timestamp()), now())
            .unwrap();
        (dir, keys, token)
    }

    #[test]
    fn a_signed_token_verifies_and_claims_are_integers() {
        let (_dir, keys, token) = signed();
        let now = now();
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        let raw: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert!(raw["exp"].is_i64() && raw["iat"].is_i64() && raw["nbf"].is_i64());
        let verifier = TokenVerifier::new(keys, "https://id.example", "https://api.example");
        assert_eq!(
            verifier.verify(&token, now).unwrap(),
            claims(now.timestamp())
        );
        assert_eq!(
            verifier.verify(&token, now + chrono::Duration::seconds(60)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_verified_before_fails_once_its_key_is_revoked() {
        let (dir, keys, token) = signed();
        let folder = super::super::KeyFolder::new(dir.path(), 2048);
        let verifier =
            TokenVerifier::new(keys.clone(), "https://id.example", "https://api.example");
        assert!(verifier.verify(&token, now()).is_ok());
        assert!(verifier.verify(&token, now()).is_ok());

        let kid = keys.current().schedules().next().unwrap().kid.clone();
        folder.revoke(&kid, now()).unwrap();
        keys.replace(folder.load(now()).unwrap());
        assert_eq!(verifier.verify(&token, now()), Err(TokenError::UnknownKey));
    }

    #[test]
    fn issuer_and_audience_are_checked() {
        let (_dir, keys, token) = signed();
        let now = now();
        let other_iss =
            TokenVerifier::new(keys.clone(), "https://evil.example", "https://api.example");
        assert_eq!(other_iss.verify(&token, now), Err(TokenError::WrongIssuer));
        let other_aud = TokenVerifier::new(keys, "https://id.example", "https://other.example");
        assert_eq!(
            other_aud.verify(&token, now),
            Err(TokenError::WrongAudience)
        );
    }
}
