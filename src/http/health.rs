//! Liveness and readiness for load balancers and orchestrators.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, handler};
use serde_json::json;

use super::AppState;

/// Prometheus metrics (text format).
#[handler]
pub fn metrics() -> impl IntoResponse {
    poem::Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::telemetry::metrics().render())
}

/// The process is up.
#[handler]
pub fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the database (and Redis, when sessions live there) answers.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> impl IntoResponse {
    let (database, redis) = tokio::join!(state.db.ping(), async {
        if state.redis {
            Some(state.sessions.ping().await)
        } else {
            None
        }
    });
    let word = |r: &Result<(), crate::store::StoreError>, what: &str| match r {
        Ok(()) => "ok",
        Err(e) => {
            tracing::warn!(error = %e, "readiness: {what} unavailable");
            "unavailable"
        }
    };
    let mut body = json!({"database": word(&database, "database")});
    let mut ready = database.is_ok();
    if let Some(redis) = &redis {
        body["redis"] = json!(word(redis, "redis"));
        ready &= redis.is_ok();
    }
    body["status"] = json!(if ready { "ready" } else { "unavailable" });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Json(body).with_status(status).into_response()
}
