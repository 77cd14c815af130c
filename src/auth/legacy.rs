//! Moving signed-in people over from the old service: its HS256 tokens, checked as it
//! checked them, each exchanged once for a session (RFC 8693 token exchange) until the
//! end date.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use josekit::jws::JwsSigner;
use josekit::jws::alg::hmac::HmacJwsSigner;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::login::{Login, LoginOutcome, Method, Refusal, auth_error};
use super::{AuthError, RequestContext};
use crate::audit::{Event, EventType};
use crate::clock::Clock;
use crate::domain::{Secret, User, UserId};
use crate::limits::LimitKind;
use crate::store::{PendingKind, PendingStore, StoreError};

/// The `subject_token_type` of the old service's tokens.
pub const SUBJECT_TOKEN_TYPE: &str = "urn:gatehouse:params:oauth:token-type:legacy-jwt";

/// Longer than any token the old service issued (`{"sub": "<id>", "exp": <time>}`).
const LONGEST_TOKEN: usize = 4096;

/// The old service's tokens: its key, when they stop being accepted, and the record of
/// those exchanged already (each kept until the token expires).
#[derive(Clone)]
pub struct LegacyTokens {
    key: Arc<HmacJwsSigner>,
    until: Option<DateTime<Utc>>,
    spent: Arc<dyn PendingStore>,
    clock: Arc<dyn Clock>,
}

/// Why an old token was not exchanged: for the audit log; the client hears one answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unaccepted {
    /// The end date (`GATEHOUSE_LEGACY_TOKENS_UNTIL`) has passed.
    Ended,
    Malformed,
    /// Its header names another algorithm than HS256, or critical extensions.
    Algorithm,
    Signature,
    Expired,
    UnknownAccount,
    Disabled,
    Unverified,
    /// Exchanged before.
    Spent,
}

impl Unaccepted {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ended => "ended",
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::UnknownAccount => "unknown_account",
            Self::Disabled => "disabled",
            Self::Unverified => "unverified",
            Self::Spent => "spent",
        }
    }
}

/// What a good old token says, and the hash it is remembered by once exchanged.
#[derive(Clone, Debug)]
pub struct LegacyClaims {
    /// The old service's user id (`sub`).
    pub legacy_id: i64,
    pub expires_at: DateTime<Utc>,
    hash: [u8; 32],
}

impl LegacyTokens {
    /// The old service's tokens signed with `secret` (at least 32 bytes), accepted until
    /// `until`; exchanged ones are remembered in `spent`.
    pub fn new(
        secret: &Secret<String>,
        until: Option<DateTime<Utc>>,
        spent: Arc<dyn PendingStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, josekit::JoseError> {
        let key = josekit::jws::HS256.signer_from_bytes(secret.expose().as_bytes())?;
        Ok(Self {
            key: Arc::new(key),
            until,
            spent,
            clock,
        })
    }

    /// Whether the end date has passed at `now`.
    pub fn ended_at(&self, now: DateTime<Utc>) -> bool {
        self.until.is_some_and(|until| now >= until)
    }

    /// Checks `token` as the old service did (python-jose, HS256): a compact JWS whose
    /// header names HS256 and nothing critical, whose signature holds (compared in constant
    /// time), with an integer `sub` and an `exp` still ahead.
    pub fn check(&self, token: &str) -> Result<LegacyClaims, Unaccepted> {
        let now = self.clock.now();
        if self.ended_at(now) {
            return Err(Unaccepted::Ended);
        }
        if token.len() > LONGEST_TOKEN {
            return Err(Unaccepted::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Unaccepted::Malformed);
        };
        // The signature covers `header.payload` as sent.
        let signed = &token[..header.len() + 1 + payload.len()];
        let fields = json_object(header)?;
        let hs256 = fields.get("alg").and_then(Value::as_str) == Some("HS256");
        if !hs256 || fields.contains_key("crit") {
            return Err(Unaccepted::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Unaccepted::Malformed)?;
        let expected = self
            .key
            .sign(signed.as_bytes())
            .map_err(|_| Unaccepted::Signature)?;
        if !bool::from(expected.ct_eq(&signature)) {
            return Err(Unaccepted::Signature);
        }
        let claims = json_object(payload)?;
        let legacy_id = match claims.get("sub") {
            Some(Value::String(s)) => s.parse::<i64>().ok(),
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        }
        .filter(|id| *id >= 0)
        .ok_or(Unaccepted::Malformed)?;
        let expires_at = claims
            .get("exp")
            .and_then(Value::as_f64)
            .and_then(|exp| DateTime::from_timestamp(exp.floor() as i64, 0))
            .ok_or(Unaccepted::Malformed)?;
        if expires_at <= now {
            return Err(Unaccepted::Expired);
        }
        if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64)
            && nbf > now.timestamp() as f64
        {
            return Err(Unaccepted::Malformed);
        }
        Ok(LegacyClaims {
            legacy_id,
            expires_at,
            hash: Sha256::digest(token.as_bytes()).into(),
        })
    }

    /// Records the token as exchanged until it expires: of two callers, one gets `true`.
    async fn spend(&self, claims: &LegacyClaims) -> Result<bool, StoreError> {
        let kind = PendingKind::LegacyToken;
        self.spent
            .put_pending_once(kind, &claims.hash, &[], claims.expires_at)
            .await
    }

    /// Forgets that the token was exchanged, when its session could not start.
    async fn unspend(&self, claims: &LegacyClaims) {
        let kind = PendingKind::LegacyToken;
        if let Err(e) = self.spent.take_pending(kind, &claims.hash).await {
            tracing::warn!(error = %e, "an old token whose exchange failed stays spent");
        }
    }
}

/// A base64url JSON object, as JWS parts are.
fn json_object(part: &str) -> Result<Map<String, Value>, Unaccepted> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| Unaccepted::Malformed)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(Unaccepted::Malformed),
    }
}

/// An old token to exchange for a session of `client_id`.
pub struct LegacyExchange<'a> {
    pub token: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub context: &'a RequestContext,
}

impl Login {
    /// Whether the old service's tokens may be exchanged at all (the secret is set).
    pub fn exchanges_legacy_tokens(&self) -> bool {
        self.legacy.is_some()
    }

    /// Exchanges an old service's token for a session, as a sign-in: the per-address limit
    /// first, then the token (checked, its account found and able to sign in, spent), the
    /// second factor when the account has one, and the session with `amr: ["legacy"]`.
    /// A token whose signature held is spent whatever follows, so that every refusal after
    /// it costs the same; one whose session cannot start (an outage) is not.
    pub async fn exchange_legacy(
        &self,
        request: LegacyExchange<'_>,
    ) -> Result<LoginOutcome, AuthError> {
        let LegacyExchange {
            token,
            client_id,
            scope,
            context,
        } = request;
        let Some(legacy) = &self.legacy else {
            return Ok(LoginOutcome::Refused(Refusal::LegacyTokenRefused));
        };
        if let Err(limited) = self
            .limiter
            .attempt_from(LimitKind::LoginPerIp, context.ip)
            .await?
        {
            return Ok(LoginOutcome::Limited(limited));
        }
        let (claims, user) = match self.legacy_account(legacy, token).await? {
            Ok(found) => found,
            Err((account, reason)) => {
                self.refuse_legacy(account, reason, client_id, context)
                    .await;
                return Ok(LoginOutcome::Refused(Refusal::LegacyTokenRefused));
            }
        };
        let method = Method::LegacyToken;
        let outcome = match self.second_factors.next_step(&user, false).await {
            Ok(step) => {
                self.after_first_factor(user, step, client_id, scope, method, context)
                    .await
            }
            Err(e) => Err(auth_error(e)),
        };
        if outcome.is_err() {
            legacy.unspend(&claims).await;
        }
        Ok(outcome?.unwrap_or_else(LoginOutcome::Refused))
    }

    /// The account an old token names, once the token is checked and spent; else whom it
    /// named, if anyone, and why it is refused. A disabled or unverified account is told
    /// before a spent token.
    async fn legacy_account(
        &self,
        legacy: &LegacyTokens,
        token: &str,
    ) -> Result<Result<(LegacyClaims, User), (Option<UserId>, Unaccepted)>, AuthError> {
        let claims = match legacy.check(token) {
            Ok(claims) => claims,
            Err(reason) => return Ok(Err((None, reason))),
        };
        let user = self.accounts.by_legacy_id(claims.legacy_id).await?;
        let first = legacy.spend(&claims).await?;
        let Some(user) = user else {
            return Ok(Err((None, Unaccepted::UnknownAccount)));
        };
        let refused = |reason| Ok(Err((Some(user.id), reason)));
        match self.accounts.admits(&user) {
            Err(AuthError::EmailNotVerified) => refused(Unaccepted::Unverified),
            Err(_) => refused(Unaccepted::Disabled),
            Ok(()) if !first => refused(Unaccepted::Spent),
            Ok(()) => Ok(Ok((claims, user))),
        }
    }

    async fn refuse_legacy(
        &self,
        account: Option<UserId>,
        reason: Unaccepted,
        client_id: &str,
        context: &RequestContext,
    ) {
        let detail =
            serde_json::json!({"method": Method::LegacyToken.as_str(), "reason": reason.as_str()});
        self.audit
            .record(
                Event::new(EventType::LoginFailed)
                    .account(account)
                    .client(client_id)
                    .from(context)
                    .detail(detail),
            )
            .await;
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::clock::ManualClock;

    const SECRET: &str = "the-old-services-secret-key-of-43-characters";

    /// A token as python-jose made them: `{"alg":"HS256","typ":"JWT"}`, sorted claims.
    fn mint(header: &str, claims: &str, secret: &str) -> String {
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let key = josekit::jws::HS256.signer_from_bytes(secret).unwrap();
        let signature = key.sign(signed.as_bytes()).unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Checking a token touches no store.
    struct NoStore;

    #[async_trait::async_trait]
    impl PendingStore for NoStore {
        async fn put_pending(
            &self,
            _: PendingKind,
            _: &[u8; 32],
            _: &[u8],
            _: DateTime<Utc>,
        ) -> Result<(), StoreError> {
            unreachable!()
        }
        async fn put_pending_once(
            &self,
            _: PendingKind,
            _: &[u8; 32],
            _: &[u8],
            _: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn find_pending(
            &self,
            _: PendingKind,
            _: &[u8; 32],
            _: DateTime<Utc>,
        ) -> Result<Option<Vec<u8>>, StoreError> {
            unreachable!()
        }
        async fn take_pending(&self, _: PendingKind, _: &[u8; 32]) -> Result<bool, StoreError> {
            unreachable!()
        }
        async fn purge_pending(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            unreachable!()
        }
    }

    fn tokens(now: DateTime<Utc>, until: Option<DateTime<Utc>>) -> LegacyTokens {
        let secret = Secret::new(SECRET.to_string());
        let clock = Arc::new(ManualClock::new(now));
        LegacyTokens::new(&secret, until, Arc::new(NoStore), clock).unwrap()
    }

    const HS256: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

    #[test]
    fn the_old_services_tokens_are_read_as_it_wrote_them() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let legacy = tokens(now, None);
        let exp = now.timestamp() + 30 * 86_400;
        let good = mint(HS256, &format!(r#"{{"sub":"42","exp":{exp}}}"#), SECRET);
        let claims = legacy.check(&good).unwrap();
        assert_eq!(claims.legacy_id, 42);
        assert_eq!(claims.expires_at.timestamp(), exp);
        let refused = |token: &str| legacy.check(token).unwrap_err();
        let past = now.timestamp() - 1;
        assert_eq!(
            refused(&mint(
                HS256,
                &format!(r#"{{"sub":"42","exp":{past}}}"#),
                SECRET
            )),
            Unaccepted::Expired
        );
        let other_key = "another-secret-key-that-is-also-long-enough";
        assert_eq!(
            refused(&mint(
                HS256,
                &format!(r#"{{"sub":"42","exp":{exp}}}"#),
                other_key
            )),
            Unaccepted::Signature
        );
        // The payload changed after signing.
        let (head, rest) = good.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let forged = URL_SAFE_NO_PAD.encode(format!(r#"{{"sub":"1","exp":{exp}}}"#));
        assert_eq!(
            refused(&format!("{head}.{forged}.{signature}")),
            Unaccepted::Signature
        );
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"HS256","crit":["b64"]}"#,
        ] {
            let token = mint(header, &format!(r#"{{"sub":"42","exp":{exp}}}"#), SECRET);
            assert_eq!(refused(&token), Unaccepted::Algorithm, "{header}");
        }
        for claims in [
            format!(r#"{{"exp":{exp}}}"#),
            format!(r#"{{"sub":"ada","exp":{exp}}}"#),
            r#"{"sub":"42"}"#.to_string(),
        ] {
            let token = mint(HS256, &claims, SECRET);
            assert_eq!(refused(&token), Unaccepted::Malformed, "{claims}");
        }
        let head = URL_SAFE_NO_PAD.encode(HS256);
        let bad_signature = format!("{head}.e30.!!");
        for junk in ["", "a.b", "a.b.c.d", &"x".repeat(5000), &bad_signature] {
            assert_eq!(refused(junk), Unaccepted::Malformed, "{junk}");
        }
        assert_eq!(refused("e30.e30.e30"), Unaccepted::Algorithm);
        // An integer sub is read too.
        let numeric = mint(HS256, &format!(r#"{{"sub":7,"exp":{exp}}}"#), SECRET);
        assert_eq!(legacy.check(&numeric).unwrap().legacy_id, 7);
    }

    #[test]
    fn nothing_is_accepted_from_the_end_date_on() {
        let now = Utc.with_ymd_and_hms(2026, 12, 6, 12, 0, 0).unwrap();
        let exp = now.timestamp() + 86_400;
        let good = mint(HS256, &format!(r#"{{"sub":"42","exp":{exp}}}"#), SECRET);
        assert!(
            tokens(now, Some(now + chrono::Duration::seconds(1)))
                .check(&good)
                .is_ok()
        );
        assert_eq!(
            tokens(now, Some(now)).check(&good).unwrap_err(),
            Unaccepted::Ended
        );
    }
}
