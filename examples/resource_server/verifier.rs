//! A verifier of Gatehouse access tokens for resource servers, meant to be copied into a
//! service:
//!
//! - the JWKS is fetched once and its keys cached (moka) for five minutes;
//! - a token naming an unknown `kid` makes it fetch the JWKS again, but at most once per
//!   ten seconds, so tokens with made-up `kid`s cannot make it hammer Gatehouse;
//! - the algorithm comes from the key, never from the token; `typ`, `iss`, `aud`, `exp`
//!   and `nbf` are checked; scopes and roles are handed to the handlers;
//! - optionally, Gatehouse's revocation feed (`GET /api/v1/revocations`) is polled, so a
//!   token of a session that ended, or a token revoked on its own, is refused within one
//!   polling interval without an introspection call per request.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, RS256};
use serde::Deserialize;
use serde_json::Value;

/// How long fetched keys are kept.
const KEYS_TTL: Duration = Duration::from_secs(300);
/// The least time between two JWKS fetches caused by unknown `kid`s.
const MIN_REFETCH: Duration = Duration::from_secs(10);

/// What handlers learn about the caller.
#[derive(Clone, Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub client_id: Option<String>,
    pub iss: String,
    pub aud: Value,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub jti: String,
    /// The session; absent on client-credentials tokens.
    pub sid: Option<String>,
    /// How the person signed in (RFC 8176): `pwd`, and `otp` + `mfa` with a second factor.
    #[serde(default)]
    pub amr: Vec<String>,
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Whether the person signed in with a second factor.
    pub fn used_second_factor(&self) -> bool {
        self.amr.iter().any(|m| m == "mfa")
    }
}

fn form_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

// A resource server is a program of its own: it reads its system clock, not Gatehouse's.
#[allow(clippy::disallowed_methods)]
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Where and as whom to read the revocation feed.
#[derive(Clone, Debug)]
pub struct FeedSettings {
    pub client_id: String,
    pub client_secret: String,
    pub interval: Duration,
}

/// What the feed has said so far: ended sessions and revoked token ids, with when.
#[derive(Default)]
struct Revoked {
    sessions: HashMap<String, i64>,
    tokens: HashMap<String, i64>,
    /// The `since` of the next poll; `None` before the first.
    since: Option<i64>,
    /// The last successful poll.
    polled_at: Option<Instant>,
}

#[derive(Deserialize)]
struct Feed {
    sessions: Vec<EndedSession>,
    access_tokens: Vec<RevokedToken>,
    next_since: i64,
    listed_for: i64,
}

#[derive(Deserialize)]
struct EndedSession {
    sid: String,
    ended_at: i64,
}

#[derive(Deserialize)]
struct RevokedToken {
    jti: String,
    revoked_at: i64,
}

/// Verifies Gatehouse access tokens against its JWKS (and, if set up, its revocation feed).
pub struct Verifier {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    keys: moka::future::Cache<String, Arc<dyn JwsVerifier>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    feed: Option<FeedSettings>,
    revoked: RwLock<Revoked>,
}

impl Verifier {
    pub fn new(issuer: &str, audience: &str) -> Self {
        Self {
            issuer: issuer.trim_end_matches('/').to_string(),
            audience: audience.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("an HTTP client"),
            keys: moka::future::Cache::builder()
                .time_to_live(KEYS_TTL)
                .max_capacity(64)
                .build(),
            last_fetch: tokio::sync::Mutex::new(None),
            feed: None,
            revoked: RwLock::default(),
        }
    }

    /// Also refuses tokens the revocation feed lists; start [`Verifier::poll_forever`].
    pub fn with_revocation_feed(mut self, settings: FeedSettings) -> Self {
        self.feed = Some(settings);
        self
    }

    /// The key `kid`, fetching the JWKS again if it is unknown and the last fetch is old
    /// enough.
    async fn key(&self, kid: &str) -> Result<Arc<dyn JwsVerifier>, String> {
        if let Some(key) = self.keys.get(kid).await {
            return Ok(key);
        }
        let mut last = self.last_fetch.lock().await;
        // Another request may have fetched it while this one waited for the lock.
        if let Some(key) = self.keys.get(kid).await {
            return Ok(key);
        }
        if last.is_some_and(|at| at.elapsed() < MIN_REFETCH) {
            return Err("unknown kid".into());
        }
        *last = Some(Instant::now());
        self.fetch().await?;
        self.keys.get(kid).await.ok_or_else(|| "unknown kid".into())
    }

    async fn fetch(&self) -> Result<(), String> {
        let jwks: Value = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.issuer))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot fetch the JWKS: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the JWKS is not JSON: {e}"))?;
        for key in jwks["keys"].as_array().into_iter().flatten() {
            let (Some(kid), Ok(jwk)) = (
                key["kid"].as_str(),
                Jwk::from_bytes(key.to_string().as_bytes()),
            ) else {
                continue;
            };
            let verifier: Option<Arc<dyn JwsVerifier>> = match key["alg"].as_str() {
                Some("RS256") => RS256.verifier_from_jwk(&jwk).ok().map(|v| Arc::new(v) as _),
                Some("ES256") => ES256.verifier_from_jwk(&jwk).ok().map(|v| Arc::new(v) as _),
                _ => None,
            };
            if let Some(verifier) = verifier {
                self.keys.insert(kid.to_string(), verifier).await;
            }
        }
        Ok(())
    }

    /// Reads the revocation feed once, from where the last read left off; how many
    /// entries it brought.
    pub async fn poll_revocations(&self) -> Result<usize, String> {
        let Some(feed) = &self.feed else {
            return Ok(0);
        };
        let since = self.revoked.read().map_err(|_| "poisoned")?.since;
        let url = match since {
            Some(since) => format!("{}/api/v1/revocations?since={since}", self.issuer),
            None => format!("{}/api/v1/revocations", self.issuer),
        };
        let answer: Feed = self
            .http
            .get(url)
            // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
            .basic_auth(
                form_encoded(&feed.client_id),
                Some(form_encoded(&feed.client_secret)),
            )
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot read the revocation feed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("the revocation feed is not as expected: {e}"))?;
        let count = answer.sessions.len() + answer.access_tokens.len();
        let mut revoked = self.revoked.write().map_err(|_| "poisoned")?;
        for ended in answer.sessions {
            revoked.sessions.insert(ended.sid, ended.ended_at);
        }
        for token in answer.access_tokens {
            revoked.tokens.insert(token.jti, token.revoked_at);
        }
        // Every token issued before an entry has expired once it is this old.
        let horizon = unix_now() - answer.listed_for;
        revoked.sessions.retain(|_, at| *at >= horizon);
        revoked.tokens.retain(|_, at| *at >= horizon);
        revoked.since = Some(answer.next_since);
        revoked.polled_at = Some(Instant::now());
        Ok(count)
    }

    /// Polls the feed every interval until the process ends. A failed poll is logged and
    /// retried; meanwhile what was learnt so far still applies (tokens stay short-lived).
    pub async fn poll_forever(self: Arc<Self>) {
        let Some(interval) = self.feed.as_ref().map(|f| f.interval) else {
            return;
        };
        // A zero interval would make the timer panic, and a busy loop is not polling.
        let interval = interval.max(Duration::from_secs(1));
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = self.poll_revocations().await {
                eprintln!("revocation feed: {e}");
            }
        }
    }

    /// When the feed was last read successfully.
    pub fn last_poll(&self) -> Option<Instant> {
        self.revoked.read().ok().and_then(|r| r.polled_at)
    }

    /// Whether the feed listed the token's session as ended (a session never comes back;
    /// a new sign-in has a new `sid`), or the token itself.
    fn is_revoked(&self, claims: &Claims) -> bool {
        let Ok(revoked) = self.revoked.read() else {
            return true;
        };
        let session_ended = claims
            .sid
            .as_ref()
            .is_some_and(|sid| revoked.sessions.contains_key(sid));
        session_ended || revoked.tokens.contains_key(&claims.jti)
    }

    /// RFC 8725 and RFC 9068: the key's algorithm, the type, the signature, then claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, String> {
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| "bad base64url".to_string())
        };
        let parts: Vec<&str> = token.split('.').collect();
        let [header, payload, signature] = parts[..] else {
            return Err("not a JWS compact token".into());
        };
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|e| e.to_string())?;
        if header["typ"] != "at+jwt" {
            return Err("typ is not at+jwt".into());
        }
        let kid = header["kid"].as_str().ok_or("no kid")?;
        let key = self.key(kid).await?;
        if header["alg"].as_str() != Some(key.algorithm().name()) {
            return Err("alg does not match the key".into());
        }
        let signing_input = &token[..token.len() - signature.len() - 1];
        key.verify(signing_input.as_bytes(), &decode(signature)?)
            .map_err(|_| "bad signature".to_string())?;
        let claims: Claims =
            serde_json::from_slice(&decode(payload)?).map_err(|e| format!("bad claims: {e}"))?;
        let now = unix_now();
        if now >= claims.exp {
            return Err("expired".into());
        }
        if claims.nbf.is_some_and(|nbf| nbf > now + 30) {
            return Err("not valid yet".into());
        }
        if claims.iss != self.issuer {
            return Err("wrong issuer".into());
        }
        let audience_ok = match &claims.aud {
            Value::String(aud) => aud == &self.audience,
            Value::Array(auds) => auds.iter().any(|a| a == self.audience.as_str()),
            _ => false,
        };
        if !audience_ok {
            return Err("wrong audience".into());
        }
        if self.is_revoked(&claims) {
            return Err("revoked".into());
        }
        Ok(claims)
    }
}
