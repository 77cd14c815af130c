//! Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS (RFC 7517).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use poem::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use poem::{Response, handler, web::Data};
use serde_json::json;

use super::AppState;
use crate::config::Config;
use crate::domain::Acr;
use crate::token::KeyRing;

/// The JWKS and discovery answers, each built once and then served as the same bytes
/// until the key ring is replaced or the set of published keys changes with time.
#[derive(Default)]
pub struct WellKnown {
    jwks: Memo,
    metadata: Memo,
}

#[derive(Default)]
struct Memo(Mutex<Option<Memoized>>);

struct Memoized {
    /// Held, so that a later ring can never be mistaken for it.
    ring: Arc<KeyRing>,
    published: u128,
    body: Bytes,
}

impl Memo {
    fn get(&self, state: &AppState, build: impl FnOnce(&KeyRing, DateTime<Utc>) -> Bytes) -> Bytes {
        let ring = state.keys.current();
        let now = state.clock.now();
        let Some(published) = ring.published(now) else {
            return build(&ring, now);
        };
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(memo) = slot
            .as_ref()
            .filter(|m| Arc::ptr_eq(&m.ring, &ring) && m.published == published)
        {
            return memo.body.clone();
        }
        let body = build(&ring, now);
        *slot = Some(Memoized {
            ring,
            published,
            body: body.clone(),
        });
        body
    }
}

fn metadata(config: &Config, ring: &KeyRing, now: DateTime<Utc>) -> Bytes {
    let issuer = &config.issuer;
    let algorithms = ring.algorithms(now);
    let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
    if config.oauth.password_grant {
        grants.push("password");
    }
    let legacy = &config.legacy;
    if legacy.hs256_secret.is_some() && legacy.tokens_until.is_none_or(|until| now < until) {
        grants.push(crate::oauth::GrantType::TokenExchange.as_str());
    }
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        "grant_types_supported": grants,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "access_token_signing_alg_values_supported": algorithms,
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid",
                             "amr", "acr", "name", "email", "email_verified", "locale", "updated_at"],
        "acr_values_supported": Acr::ALL.map(Acr::as_str),
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "authorization_response_iss_parameter_supported": true,
        "service_documentation": format!("{issuer}/docs"),
    })
    .to_string()
    .into()
}

/// Metadata changes only with configuration and keys; caches may keep it briefly.
fn discovery(state: &AppState) -> Response {
    let body = state
        .well_known
        .metadata
        .get(state, |ring, now| metadata(&state.config, ring, now));
    Response::builder()
        .header(CONTENT_TYPE, "application/json; charset=utf-8")
        .header(CACHE_CONTROL, "public, max-age=3600")
        .body(body)
}

#[handler]
pub fn openid_configuration(state: Data<&AppState>) -> Response {
    discovery(&state)
}

#[handler]
pub fn authorization_server_metadata(state: Data<&AppState>) -> Response {
    discovery(&state)
}

/// The public keys; resource servers cache them for `GATEHOUSE_JWKS_MAX_AGE`.
#[handler]
pub fn jwks(state: Data<&AppState>) -> Response {
    let jwks = state
        .well_known
        .jwks
        .get(&state, |ring, now| ring.jwks_json(now).into());
    Response::builder()
        .content_type("application/jwk-set+json")
        .header(
            CACHE_CONTROL,
            format!(
                "public, max-age={}",
                state.config.keys.jwks_max_age.as_secs()
            ),
        )
        .body(jwks)
}
