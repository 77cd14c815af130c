//! The signed-in person's own sessions and password.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::body::{Fields, JsonBody};
use super::security::BearerAuth;
use super::views::Done;
use crate::auth::{OwnSessionEnd, PasswordChange, PasswordChangeRequest};
use crate::domain::{Password, Session, SessionId};
use crate::http::problem::{ApiError, FieldError};
use crate::http::{AppState, request_context};

/// A session: one sign-in on one device or app. `id` is the `sid` claim.
#[derive(Debug, Object)]
#[oai(rename = "Session")]
pub struct SessionView {
    pub id: String,
    pub client_id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    /// When the session ends unless it is used again (or at its absolute limit).
    pub expires_at: chrono::DateTime<chrono::Utc>,
    #[oai(nullable)]
    pub ip: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    /// True for the session of the token that asked.
    pub current: bool,
}

impl SessionView {
    pub fn new(session: Session, current: Option<&str>) -> Self {
        Self {
            current: current == Some(session.id.as_str()),
            expires_at: session.expires_at(),
            id: session.id.to_string(),
            client_id: session.client_id,
            created_at: session.created_at,
            last_used_at: session.last_used_at,
            ip: session.ip,
            user_agent: session.user_agent,
        }
    }
}

/// A page of sessions.
#[derive(Debug, Object)]
#[oai(rename = "SessionList")]
pub struct SessionList {
    pub items: Vec<SessionView>,
    /// Absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

impl SessionList {
    /// All of them on one page, `current` marking the caller's own session.
    pub fn of(sessions: Vec<Session>, current: Option<&str>) -> Self {
        Self {
            items: sessions
                .into_iter()
                .map(|s| SessionView::new(s, current))
                .collect(),
            next_cursor: None,
        }
    }
}

/// A password change.
#[derive(Debug, Object)]
#[allow(dead_code)] // documents the body; it is read field by field (JsonBody)
#[oai(rename = "ChangePasswordRequest")]
pub struct ChangePasswordRequest {
    pub current_password: String,
    /// 8 to 128 characters (after NFKC normalisation).
    #[oai(validator(min_length = 8, max_length = 128))]
    pub new_password: String,
}

#[derive(Default)]
pub struct SessionsApi;

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl SessionsApi {
    /// The signed-in user's sessions, newest first; `current` marks this one.
    #[oai(path = "/sessions", method = "get", operation_id = "listMySessions")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<SessionList>, ApiError> {
        let user = auth.own_user(&state).await?;
        let sessions = state.sessions.list(user).await?;
        Ok(Json(SessionList::of(sessions, auth.0.sid.as_deref())))
    }

    /// End one of the signed-in user's sessions (sign out that device).
    ///
    /// Another person's session, or one that does not exist, is 404.
    #[oai(
        path = "/sessions/:sid",
        method = "delete",
        operation_id = "endMySession"
    )]
    async fn end(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))] sid: Path<String>,
    ) -> Result<Done, ApiError> {
        let user = auth.own_user(&state).await?;
        let not_found = || ApiError::not_found("no such session");
        let sid = SessionId::parse(&sid).map_err(|_| not_found())?;
        match state
            .self_service
            .end_session(user, &sid, &request_context(req))
            .await?
        {
            OwnSessionEnd::Ended => Ok(Done::NoContent),
            OwnSessionEnd::NotFound => Err(not_found()),
        }
    }

    /// Change the password; every other session of the account ends.
    #[oai(path = "/password", method = "post", operation_id = "changePassword")]
    async fn change_password(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<ChangePasswordRequest>,
    ) -> Result<Done, ApiError> {
        let user = auth.own_user(&state).await?;
        let mut fields = Fields::new(&body.object);
        let current = fields.required_str("current_password");
        let new = fields.required_str("new_password").and_then(|v| {
            let parsed = Password::parse(v);
            fields.check("new_password", parsed)
        });
        let (Some(current), Some(new), true) = (current, new, fields.errors.is_empty()) else {
            return Err(ApiError::validation(fields.errors));
        };
        let keep = auth.0.sid.as_deref().and_then(|s| SessionId::parse(s).ok());
        let request = PasswordChangeRequest {
            user,
            current,
            new: &new,
            keep: keep.as_ref(),
        };
        match state
            .self_service
            .change_password(request, &request_context(req))
            .await?
        {
            PasswordChange::Changed => Ok(Done::NoContent),
            PasswordChange::Limited(limited) => Err(ApiError::too_many(limited)),
            PasswordChange::WrongPassword => Err(ApiError::validation(vec![FieldError {
                field: "current_password".into(),
                message: "is not the current password".into(),
            }])),
        }
    }
}
