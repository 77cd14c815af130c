//! The revocation feed: sessions ended and access tokens revoked, for resource servers that
//! verify tokens with the JWKS alone and want to refuse them within seconds of a sign-out.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem_openapi::auth::Basic;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi, SecurityScheme};

use super::ApiTags;
use crate::domain::Secret;
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::oauth::{Client, Permission};

/// An entry carries the time its instance ended the session, which may be a little before
/// it was committed (a writer waiting its turn, a lock) or off by another instance's clock:
/// the next `since` reaches back this far, so none is missed (some are seen twice).
const OVERLAP_SECONDS: i64 = 60;

// The same scheme as introspection's (`security::ClientBasic`, documentation only), with
// a checker: the document names one `clientBasic`, whichever registers first, so both
// carry the same text.
/// `client_secret_basic` (RFC 6749 §2.3.1): a confidential client's id and secret in
/// HTTP Basic, each form-urlencoded first.
#[derive(SecurityScheme)]
#[oai(ty = "basic", checker = "verify_client", rename = "clientBasic")]
pub struct ClientBasic(pub Arc<Client>);

async fn verify_client(req: &Request, basic: Basic) -> poem::Result<Arc<Client>> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| poem::Error::from_status(StatusCode::INTERNAL_SERVER_ERROR))?;
    let decode = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let secret = Secret::new(decode(&basic.password));
    match state
        .oauth
        .clients
        .authenticate(&decode(&basic.username), Some(&secret))
        .await
    {
        // A public client cannot authenticate with a secret; the guard says why it matters.
        Ok(client) if !client.public => Ok(client),
        Ok(_) => Err(ApiError::client_refused("client authentication failed").into()),
        Err(e) => Err(ApiError::client_authentication(&e).into()),
    }
}

/// A session that ended. Refuse every access token whose `sid` is this one: a session never
/// comes back, and a new sign-in gets a new `sid`.
#[derive(Debug, Object)]
pub struct EndedSession {
    pub sid: String,
    /// Seconds since the Unix epoch, like `iat`.
    pub ended_at: i64,
}

/// An access token revoked on its own (RFC 7009). Refuse the token whose `jti` is this one.
#[derive(Debug, Object)]
pub struct RevokedAccessToken {
    pub jti: String,
    /// Seconds since the Unix epoch.
    pub revoked_at: i64,
}

/// Revocations from `since` on, oldest first.
#[derive(Debug, Object)]
pub struct RevocationFeed {
    pub sessions: Vec<EndedSession>,
    pub access_tokens: Vec<RevokedAccessToken>,
    /// Pass as `since` on the next poll. It reaches back a few seconds before this answer,
    /// so expect to see some entries again.
    pub next_since: i64,
    /// How long an entry stays listed, in seconds: by then every access token issued
    /// before it has expired, so a verifier may forget it.
    pub listed_for: u64,
}

#[derive(ApiResponse)]
enum FeedResponse {
    /// The revocations; `Cache-Control: no-store`.
    #[oai(status = 200)]
    Ok(Json<RevocationFeed>),
}

#[derive(Default)]
pub struct RevocationsApi;

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::OAuth")]
impl RevocationsApi {
    /// Sessions ended and access tokens revoked since a point in time.
    ///
    /// For resource servers that verify access tokens with the JWKS alone: poll this every
    /// few seconds with the previous answer's `next_since`, and refuse tokens of the sessions
    /// and ids listed. Without `since`, everything still listed. Confidential clients only
    /// (HTTP Basic, as at the introspection endpoint) that were granted `revocation-feed`;
    /// others get 403.
    #[oai(
        path = "/revocations",
        method = "get",
        operation_id = "listRevocations"
    )]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        client: ClientBasic,
        /// Seconds since the Unix epoch; entries from then on (inclusive).
        #[oai(validator(minimum(value = "0"), maximum(value = "253402300799")))]
        since: Query<Option<i64>>,
    ) -> Result<FeedResponse, ApiError> {
        if !client.0.may(Permission::RevocationFeed) {
            // Authenticated, so not 401: the client exists but was not granted the feed.
            return Err(ApiError::client_forbidden(
                "this client may not read the revocation feed \
                 (gatehouse client update ID --allow revocation-feed)",
            ));
        }
        let since = since
            .0
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            .unwrap_or(DateTime::UNIX_EPOCH);
        let now = state.clock.now();
        let feed = state.sessions.revocations_since(since).await?;
        tracing::debug!(
            client_id = %client.0.id,
            sessions = feed.sessions.len(),
            access_tokens = feed.access_tokens.len(),
            "revocation feed read"
        );
        Ok(FeedResponse::Ok(Json(RevocationFeed {
            sessions: feed
                .sessions
                .into_iter()
                .map(|(sid, at)| EndedSession {
                    sid,
                    ended_at: at.timestamp(),
                })
                .collect(),
            access_tokens: feed
                .access_tokens
                .into_iter()
                .map(|(jti, at)| RevokedAccessToken {
                    jti,
                    revoked_at: at.timestamp(),
                })
                .collect(),
            next_since: now.timestamp() - OVERLAP_SECONDS,
            listed_for: state.sessions.listed_for().as_secs(),
        })))
    }
}
