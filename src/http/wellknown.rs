//! Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS (RFC 7517).

use poem::http::header::CACHE_CONTROL;
use poem::web::{Data, Json};
use poem::{IntoResponse, Response, handler};
use serde_json::{Value, json};

use super::AppState;
use crate::domain::Acr;

fn metadata(state: &AppState) -> Value {
    let issuer = &state.config.issuer;
    let algorithms = state.keys.current().algorithms(state.clock.now());
    let mut grants = vec!["authorization_code", "refresh_token", "client_credentials"];
    if state.config.oauth.password_grant {
        grants.push("password");
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
}

/// Metadata changes only with configuration; caches may keep it briefly.
fn cacheable(body: Value, max_age: u64) -> Response {
    Json(body)
        .with_header(CACHE_CONTROL, format!("public, max-age={max_age}"))
        .into_response()
}

#[handler]
pub fn openid_configuration(state: Data<&AppState>) -> Response {
    cacheable(metadata(&state), 3600)
}

#[handler]
pub fn authorization_server_metadata(state: Data<&AppState>) -> Response {
    cacheable(metadata(&state), 3600)
}

/// The public keys; resource servers cache them for `GATEHOUSE_JWKS_MAX_AGE`.
#[handler]
pub fn jwks(state: Data<&AppState>) -> Response {
    let keys = state.keys.current();
    let jwks = keys.jwks_json(state.clock.now());
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
