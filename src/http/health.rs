//! Liveness and readiness for load balancers and orchestrators.

use poem::http::StatusCode;
use poem::web::{Data, Json};
use poem::{IntoResponse, handler};
use serde_json::json;

use super::AppState;

/// The process is up.
#[handler]
pub fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// The process can serve: the database answers.
#[handler]
pub async fn readyz(state: Data<&AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => Json(json!({"status": "ready", "database": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness: database unavailable");
            Json(json!({"status": "unavailable", "database": "unavailable"}))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .into_response()
        }
    }
}
