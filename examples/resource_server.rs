//! A Rust resource server (poem) that trusts Gatehouse's access tokens with the JWKS
//! alone, around a small verifier meant to be copied into a service:
//!
//! - the JWKS is fetched once and its keys cached (moka) for five minutes;
//! - a token naming an unknown `kid` makes it fetch the JWKS again, but at most once per
//!   ten seconds, so tokens with made-up `kid`s cannot make it hammer Gatehouse;
//! - the algorithm comes from the key, never from the token; `typ`, `iss`, `aud`, `exp`
//!   and `nbf` are checked; scopes and roles are handed to the handlers.
//!
//! ```sh
//! GATEHOUSE_ISSUER=http://localhost:8080 cargo run --example resource_server
//! curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8091/whoami
//! ```
//!
//! Settings: `GATEHOUSE_ISSUER`, `GATEHOUSE_AUDIENCE` (the issuer by default), `LISTEN`
//! (default `127.0.0.1:8091`). Routes: `/health`, `/whoami` (any valid token), `/admin`
//! (the `admin` role).

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jws::{ES256, JwsVerifier, RS256};
use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt, Request, Response, Route, Server, get, handler};
use serde::Deserialize;
use serde_json::{Value, json};

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
}

impl Claims {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Verifies Gatehouse access tokens against its JWKS.
pub struct Verifier {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    keys: moka::future::Cache<String, Arc<dyn JwsVerifier>>,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
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
        }
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
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
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
        Ok(claims)
    }
}

fn refusal(status: StatusCode, error: &str, description: &str) -> poem::Error {
    let challenge = format!(r#"Bearer error="{error}", error_description="{description}""#);
    poem::Error::from_response(
        Response::builder()
            .status(status)
            .header("www-authenticate", challenge)
            .content_type("application/json")
            .body(json!({"error": error, "error_description": description}).to_string()),
    )
}

/// The verified claims of the request's bearer token, or 401.
async fn caller(req: &Request, verifier: &Verifier) -> poem::Result<Claims> {
    let token = req
        .header("authorization")
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "a bearer token is required",
            )
        })?;
    verifier
        .verify(token.trim())
        .await
        .map_err(|reason| refusal(StatusCode::UNAUTHORIZED, "invalid_token", &reason))
}

#[handler]
fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[handler]
async fn whoami(req: &Request, verifier: Data<&Arc<Verifier>>) -> poem::Result<Json<Value>> {
    let claims = caller(req, &verifier).await?;
    Ok(Json(json!({
        "sub": claims.sub,
        "scope": claims.scope.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "roles": claims.roles,
        "client_id": claims.client_id,
        "openid": claims.has_scope("openid"),
    })))
}

#[handler]
async fn admin(req: &Request, verifier: Data<&Arc<Verifier>>) -> poem::Result<Json<Value>> {
    let claims = caller(req, &verifier).await?;
    if !claims.has_role("admin") {
        return Err(refusal(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the admin role is required",
        ));
    }
    Ok(Json(json!({"sub": claims.sub, "admin": true})))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let issuer =
        std::env::var("GATEHOUSE_ISSUER").unwrap_or_else(|_| "http://localhost:8080".into());
    let audience = std::env::var("GATEHOUSE_AUDIENCE").unwrap_or_else(|_| issuer.clone());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8091".into());
    let verifier = Arc::new(Verifier::new(&issuer, &audience));
    let app = Route::new()
        .at("/health", get(health))
        .at("/whoami", get(whoami))
        .at("/admin", get(admin))
        .data(verifier);
    Server::new(TcpListener::bind(listen)).run(app).await
}
