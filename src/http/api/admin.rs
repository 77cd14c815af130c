//! Administration: users and their sessions. Only for users holding the `admin` role.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use super::ApiTags;
use super::body::{Fields, JsonBody};
use super::security::BearerAuth;
use super::sessions::SessionList;
use super::views::{Done, UserView};
use crate::audit::{Actor, AuditQuery, EventType as EventKind};
use crate::auth::{Acting, AuthError, RequestContext};
use crate::domain::{Acr, Role, SessionId, User, UserId};
use crate::http::AppState;
use crate::http::problem::ApiError;

/// The most users one page holds.
const MAX_PAGE: u32 = 200;

/// A page of users.
#[derive(Debug, Object)]
#[oai(rename = "UserList")]
pub struct UserList {
    pub items: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// A security event.
#[derive(Debug, Object)]
#[oai(rename = "AuditEvent")]
pub struct AuditEventView {
    pub id: String,
    pub at: chrono::DateTime<chrono::Utc>,
    /// `user.registered`, `login.succeeded`, `login.failed`, `refresh.reused`,
    /// `session.ended`, `password.changed`, `user.disabled`, `user.enabled`,
    /// `user.roles_changed`, `client.created`, `client.updated`, `client.deleted`, `key.rotated`,
    /// `key.revoked`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Who did it: `user:<id>`, `admin:<id>`, `client:<id>`, `cli` or `system`.
    #[oai(nullable)]
    pub actor: Option<String>,
    #[oai(nullable)]
    pub user_id: Option<String>,
    #[oai(nullable)]
    pub client_id: Option<String>,
    #[oai(nullable)]
    pub session_id: Option<String>,
    #[oai(nullable)]
    pub ip: Option<String>,
    #[oai(nullable)]
    pub user_agent: Option<String>,
    pub detail: Value,
}

/// A page of audit events, newest first.
#[derive(Debug, Object)]
#[oai(rename = "AuditEventList")]
pub struct AuditEventList {
    pub items: Vec<AuditEventView>,
    /// Pass as `cursor` for older events; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Changes to an account.
#[derive(Debug, Object)]
#[oai(rename = "AdminUserPatch")]
pub struct AdminUserPatch {
    /// `true` disables the account and ends all its sessions at once.
    pub disabled: Option<bool>,
    /// The complete set of roles, replacing the current one. A role is 1 to 64
    /// lower-case letters, digits, `-`, `_`, `.` or `:`.
    #[oai(validator(min_length = 1, max_length = 64, pattern = r"^[a-z0-9._:-]+$"))]
    pub roles: Option<Vec<String>>,
}

/// Checks the caller's current roles (not only those in the token, which may be up to
/// an access-token lifetime old), and — when their role requires a second factor — that
/// they signed in with one (RFC 9470).
async fn require_admin(state: &AppState, auth: &BearerAuth) -> Result<User, ApiError> {
    let user = state
        .accounts
        .active_user(auth.own_user(state).await?)
        .await?;
    if !user.roles.iter().any(Role::is_admin) {
        return Err(ApiError::insufficient_scope("the admin role is required"));
    }
    if state.second_factors.required_by_role(&user) && Acr::of(&auth.0.amr) < Acr::SecondFactor {
        return Err(ApiError::insufficient_user_authentication());
    }
    Ok(user)
}

/// The administrator acting through this request.
fn as_admin<'a>(admin: &User, context: &'a RequestContext) -> Acting<'a> {
    Acting {
        actor: Actor::Admin(admin.id),
        context,
    }
}

fn user_id(text: &str) -> Result<UserId, ApiError> {
    UserId::parse(text).map_err(|_| ApiError::not_found("no such user"))
}

/// The user an admin path names, or 404.
async fn existing_user(state: &AppState, id: UserId) -> Result<User, ApiError> {
    state
        .accounts
        .find_user(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such user"))
}

fn found(result: Result<User, AuthError>) -> Result<User, ApiError> {
    match result {
        Err(AuthError::UnknownUser) => Err(ApiError::not_found("no such user")),
        other => Ok(other?),
    }
}

#[derive(Default)]
pub struct AdminApi;

#[OpenApi(prefix_path = "/api/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List or search users, in creation order.
    ///
    /// `q` matches part of the email or name, ignoring case. Page with `cursor` (the
    /// `next_cursor` of the previous page) or `offset`.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// Part of the email or name.
        #[oai(validator(
            max_length = 254,
            pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
        ))]
        q: Query<Option<String>>,
        /// 1 to 200; 50 by default.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<uuid::Uuid>>,
        /// How many users to skip.
        #[oai(validator(minimum(value = "0"), maximum(value = "4294967295")))]
        offset: Query<Option<u32>>,
    ) -> Result<Json<UserList>, ApiError> {
        require_admin(&state, &auth).await?;
        let limit = limit.0.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let after = cursor.0.map(UserId::from_uuid);
        let query = q.0.as_deref().map(str::trim).filter(|q| !q.is_empty());
        if query.is_some_and(|q| q.len() > 254) {
            return Err(ApiError::bad_request("q is too long"));
        }
        let users = state
            .accounts
            .list_users(query, after, offset.0.unwrap_or(0), limit)
            .await?;
        let next_cursor = (users.len() == limit as usize)
            .then(|| users.last().map(|u| u.id.to_string()))
            .flatten();
        Ok(Json(UserList {
            items: users.into_iter().map(UserView::from).collect(),
            next_cursor,
        }))
    }

    /// One user.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<UserView>, ApiError> {
        require_admin(&state, &auth).await?;
        let user = existing_user(&state, user_id(&id)?).await?;
        Ok(Json(user.into()))
    }

    /// Disable or enable a user, or set their roles.
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update_user(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
        body: JsonBody<AdminUserPatch>,
    ) -> Result<Json<UserView>, ApiError> {
        let admin = require_admin(&state, &auth).await?;
        let id = user_id(&id)?;
        let mut fields = Fields::new(&body.object);
        let disabled = match fields.optional_value("disabled") {
            None => None,
            Some(Some(Value::Bool(b))) => Some(*b),
            Some(_) => {
                fields.error("disabled", "must be true or false");
                None
            }
        };
        let roles = match fields.optional_value("roles") {
            None => None,
            Some(Some(Value::Array(items))) => {
                let mut roles = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.as_str().map(Role::parse) {
                        Some(Ok(role)) => roles.push(role),
                        Some(Err(e)) => fields.error(&format!("roles[{i}]"), e.to_string()),
                        None => fields.error(&format!("roles[{i}]"), "must be a string"),
                    }
                }
                Some(roles)
            }
            Some(_) => {
                fields.error("roles", "must be an array of role names");
                None
            }
        };
        if !fields.errors.is_empty() {
            return Err(ApiError::validation(fields.errors));
        }
        let mut user = existing_user(&state, id).await?;
        let context = crate::http::request_context(req);
        let by = as_admin(&admin, &context);
        if let Some(roles) = roles {
            user = found(state.admin.set_roles(id, &roles, &by).await)?;
        }
        if let Some(disabled) = disabled {
            user = found(state.admin.set_disabled(id, disabled, &by).await)?;
        }
        Ok(Json(user.into()))
    }

    /// A user's live sessions, newest first.
    #[oai(
        path = "/users/:id/sessions",
        method = "get",
        operation_id = "listUserSessions"
    )]
    async fn list_user_sessions(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Json<SessionList>, ApiError> {
        require_admin(&state, &auth).await?;
        let id = user_id(&id)?;
        existing_user(&state, id).await?;
        let sessions = state.sessions.list(id).await?;
        Ok(Json(SessionList::of(sessions, auth.0.sid.as_deref())))
    }

    /// End every session of a user: their refresh tokens stop working at once.
    #[oai(
        path = "/users/:id/sessions",
        method = "delete",
        operation_id = "endUserSessions"
    )]
    async fn end_user_sessions(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Done, ApiError> {
        let admin = require_admin(&state, &auth).await?;
        let id = user_id(&id)?;
        existing_user(&state, id).await?;
        let context = crate::http::request_context(req);
        state
            .admin
            .end_user_sessions(id, &as_admin(&admin, &context))
            .await?;
        Ok(Done::NoContent)
    }

    /// Remove a person's second factors (a lost phone) and end their sessions; they sign
    /// in with the password until they enroll again. Audited as `mfa.reset`.
    #[oai(
        path = "/users/:id/mfa",
        method = "delete",
        operation_id = "resetUserSecondFactors"
    )]
    async fn reset_second_factors(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        id: Path<String>,
    ) -> Result<Done, ApiError> {
        let admin = require_admin(&state, &auth).await?;
        let id = user_id(&id)?;
        existing_user(&state, id).await?;
        let context = crate::http::request_context(req);
        state
            .admin
            .reset_second_factors(id, &as_admin(&admin, &context))
            .await?;
        Ok(Done::NoContent)
    }

    /// Security events, newest first.
    ///
    /// Filter by `user` (id), `type`, and a time range (`since` inclusive, `until`
    /// exclusive, RFC 3339); page with `cursor`.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents")]
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        /// The id of the user the events are about.
        user: Query<Option<uuid::Uuid>>,
        /// One event type.
        #[oai(name = "type")]
        kind: Query<Option<EventTypeParam>>,
        since: Query<Option<chrono::DateTime<chrono::Utc>>>,
        until: Query<Option<chrono::DateTime<chrono::Utc>>>,
        /// 1 to 200; 50 by default.
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        limit: Query<Option<u32>>,
        /// The `next_cursor` of the previous page.
        cursor: Query<Option<uuid::Uuid>>,
    ) -> Result<Json<AuditEventList>, ApiError> {
        require_admin(&state, &auth).await?;
        let limit = limit.0.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_PAGE}"
            )));
        }
        let user = user.0.map(UserId::from_uuid);
        let kind = kind.0.map(|k| k.0);
        let before = cursor.0;
        let events = state
            .audit
            .list(&AuditQuery {
                user,
                kind,
                since: since.0,
                until: until.0,
                before,
                limit,
            })
            .await?;
        let next_cursor = (events.len() == limit as usize)
            .then(|| events.last().map(|e| e.id.to_string()))
            .flatten();
        let items = events
            .into_iter()
            .map(|e| AuditEventView {
                id: e.id.to_string(),
                at: e.at,
                kind: e.kind.as_str().to_string(),
                actor: e.actor,
                user_id: e.user_id.map(|u| u.to_string()),
                client_id: e.client_id,
                session_id: e.session_id,
                ip: e.ip,
                user_agent: e.user_agent,
                detail: e.detail,
            })
            .collect();
        Ok(Json(AuditEventList { items, next_cursor }))
    }

    /// End one session.
    #[oai(
        path = "/sessions/:sid",
        method = "delete",
        operation_id = "endSession"
    )]
    async fn end_session(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))] sid: Path<String>,
    ) -> Result<Done, ApiError> {
        let admin = require_admin(&state, &auth).await?;
        let not_found = || ApiError::not_found("no such session");
        let sid = SessionId::parse(&sid).map_err(|_| not_found())?;
        let context = crate::http::request_context(req);
        if state
            .admin
            .end_session(&sid, &as_admin(&admin, &context))
            .await?
        {
            Ok(Done::NoContent)
        } else {
            Err(not_found())
        }
    }
}

/// An audit event type as a query parameter: the document lists every type, taken from
/// their one declaration ([`EventKind::ALL`]); an unknown one is 400 naming them all.
pub struct EventTypeParam(EventKind);

impl poem_openapi::types::Type for EventTypeParam {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> std::borrow::Cow<'static, str> {
        "string(audit_event_type)".into()
    }

    fn schema_ref() -> poem_openapi::registry::MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new("string");
        schema.enum_items = EventKind::ALL
            .iter()
            .map(|t| serde_json::Value::String(t.as_str().into()))
            .collect();
        poem_openapi::registry::MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl poem_openapi::types::ParseFromParameter for EventTypeParam {
    fn parse_from_parameter(value: &str) -> poem_openapi::types::ParseResult<Self> {
        EventKind::parse(value).map(Self).ok_or_else(|| {
            let known: Vec<&str> = EventKind::ALL.iter().map(|t| t.as_str()).collect();
            poem_openapi::types::ParseError::custom(format!(
                "unknown event type; the types are {}",
                known.join(", ")
            ))
        })
    }
}
