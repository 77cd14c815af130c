//! A Rust resource server (poem) that trusts Gatehouse's access tokens with the JWKS
//! alone, around the small verifier in `verifier.rs` (meant to be copied into a service):
//! keys cached and refetched at most every ten seconds for unknown `kid`s, the algorithm
//! from the key, `typ`/`iss`/`aud`/`exp`/`nbf` checked, scopes and roles for handlers, and
//! optionally Gatehouse's revocation feed polled so ended sessions are refused within
//! seconds.
//!
//! ```sh
//! GATEHOUSE_ISSUER=http://localhost:8080 cargo run --example resource_server
//! curl -H "authorization: Bearer $ACCESS_TOKEN" http://127.0.0.1:8091/whoami
//! ```
//!
//! Settings: `GATEHOUSE_ISSUER`, `GATEHOUSE_AUDIENCE` (the issuer by default), `LISTEN`
//! (default `127.0.0.1:8091`); for the revocation feed, a confidential client's
//! `GATEHOUSE_CLIENT_ID` and `GATEHOUSE_CLIENT_SECRET`, and `REVOCATION_POLL_SECONDS`
//! (default 5). Routes: `/health`, `/whoami` (any valid token), `/admin` (the `admin`
//! role), `/sensitive` (a sign-in with a second factor; else 401
//! `insufficient_user_authentication` with the `acr_values` to ask for, RFC 9470).

mod verifier;

use std::sync::Arc;
use std::time::Duration;

use poem::http::StatusCode;
use poem::listener::TcpListener;
use poem::web::{Data, Json};
use poem::{EndpointExt, Request, Response, Route, Server, get, handler};
use serde_json::{Value, json};

use verifier::{Claims, FeedSettings, Verifier};

fn refusal(status: StatusCode, error: &str, description: &str) -> poem::Error {
    challenged(status, error, description, "")
}

/// A refusal whose challenge carries `extra` parameters after the description.
fn challenged(status: StatusCode, error: &str, description: &str, extra: &str) -> poem::Error {
    let challenge = format!(r#"Bearer error="{error}", error_description="{description}"{extra}"#);
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

/// Liveness, and how old the revocation feed's last successful read is (null if never).
#[handler]
fn health(verifier: Data<&Arc<Verifier>>) -> Json<Value> {
    let age = verifier.last_poll().map(|at| at.elapsed().as_secs());
    Json(json!({"status": "ok", "revocation_feed_age_seconds": age}))
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

/// Something that wants more than a password: the person signed in with a second factor.
#[handler]
async fn sensitive(req: &Request, verifier: Data<&Arc<Verifier>>) -> poem::Result<Json<Value>> {
    let claims = caller(req, &verifier).await?;
    if !claims.used_second_factor() {
        // RFC 9470: the client signs the person in again, asking for these acr_values.
        return Err(challenged(
            StatusCode::UNAUTHORIZED,
            "insufficient_user_authentication",
            "a sign-in with a second factor is required",
            r#", acr_values="urn:gatehouse:acr:mfa""#,
        ));
    }
    Ok(Json(json!({"sub": claims.sub, "amr": claims.amr})))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let issuer =
        std::env::var("GATEHOUSE_ISSUER").unwrap_or_else(|_| "http://localhost:8080".into());
    let audience = std::env::var("GATEHOUSE_AUDIENCE").unwrap_or_else(|_| issuer.clone());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:8091".into());
    let mut verifier = Verifier::new(&issuer, &audience);
    if let (Ok(client_id), Ok(client_secret)) = (
        std::env::var("GATEHOUSE_CLIENT_ID"),
        std::env::var("GATEHOUSE_CLIENT_SECRET"),
    ) {
        let seconds = std::env::var("REVOCATION_POLL_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5);
        verifier = verifier.with_revocation_feed(FeedSettings {
            client_id,
            client_secret,
            interval: Duration::from_secs(seconds),
        });
    }
    let verifier = Arc::new(verifier);
    // The first read before serving: a restarted server knows what ended meanwhile.
    if let Err(e) = verifier.poll_revocations().await {
        eprintln!("{e}");
    }
    tokio::spawn(verifier.clone().poll_forever());
    let app = Route::new()
        .at("/health", get(health))
        .at("/whoami", get(whoami))
        .at("/admin", get(admin))
        .at("/sensitive", get(sensitive))
        .data(verifier);
    Server::new(TcpListener::bind(listen)).run(app).await
}
