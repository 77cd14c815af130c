//! `/admin/users`: finding people, and `/admin/users/{id}`: one person — profile, roles,
//! second factors, sessions, recent events — with what administrators do to them: end a
//! session or all, disable or enable, set the roles, remove the second factors, send a
//! password-reset link. Actions that cannot be undone ask for confirmation first.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use super::text::AdminText;
use super::{Admin, AdminForm, done, when};
use crate::audit::AuditQuery;
use crate::auth::AuthError;
use crate::domain::{Role, SessionId, User, UserId};
use crate::http::pages::render::{OrUnavailable, PageError, Stop, page, query};
use crate::http::pages::text::Text;
use crate::http::{AppState, request_context};
use crate::oauth::BROWSER_CLIENT_ID;

/// People per page.
const PAGE: u32 = 25;
/// Events shown on a person's page.
const RECENT_EVENTS: u32 = 20;

/// A person as a row of the list.
struct PersonRow {
    id: String,
    email: String,
    name: String,
    roles: String,
    verified: bool,
    disabled: bool,
}

impl From<&User> for PersonRow {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email.to_string(),
            name: u.name.to_string(),
            roles: Role::names(&u.roles).join(", "),
            verified: u.email_verified,
            disabled: u.disabled,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/people.html")]
struct PeoplePage<'a> {
    t: &'static Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    q: String,
    people: Vec<PersonRow>,
    /// The query string of the next page, when there is one.
    next: Option<String>,
}

/// `GET /admin/users?q=&after=`
#[handler]
pub async fn admin_people(
    state: Data<&AppState>,
    req: &Request,
    admin: Admin,
) -> Result<Response, PageError> {
    let params = query(req);
    let q = params.get("q").map(|q| q.trim()).unwrap_or("").to_string();
    let after = params.get("after").and_then(|a| UserId::parse(a).ok());
    let search = Some(q.as_str()).filter(|q| !q.is_empty() && q.len() <= 254);
    let people = state
        .accounts
        .list_users(search, after, 0, PAGE)
        .await
        .or_unavailable(&admin.ctx)?;
    let next = (people.len() == PAGE as usize)
        .then(|| people.last())
        .flatten()
        .map(|last| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("q", &q)
                .append_pair("after", &last.id.to_string())
                .finish()
        });
    let view = PeoplePage {
        t: admin.ctx.text,
        a: admin.a,
        notice: None,
        people: people.iter().map(PersonRow::from).collect(),
        q,
        next,
    };
    Ok(page(&admin.ctx, StatusCode::OK, view.render()))
}

struct SessionRow {
    id: String,
    client: String,
    ip: String,
    user_agent: String,
    created: String,
    last_used: String,
}

struct EventRow {
    at: String,
    kind: &'static str,
    actor: String,
}

struct PasskeyRow {
    name: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "admin/person.html")]
struct PersonPage<'a> {
    t: &'static Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    csrf: &'a str,
    person: PersonRow,
    created: String,
    /// The old service's id, when the account was imported with one.
    legacy_id: Option<i64>,
    country: String,
    city: String,
    language: String,
    totp: bool,
    recovery_codes_left: u32,
    passkeys: Vec<PasskeyRow>,
    sessions: Vec<SessionRow>,
    events: Vec<EventRow>,
}

/// The person `id` names, or a 404 page.
async fn person(state: &AppState, admin: &Admin, id: &str) -> Result<User, PageError> {
    let missing = || {
        PageError::new(
            &admin.ctx,
            Stop::Message(StatusCode::NOT_FOUND, admin.a.no_such_person),
        )
    };
    let id = UserId::parse(id).map_err(|_| missing())?;
    state
        .accounts
        .find_user(id)
        .await
        .or_unavailable(&admin.ctx)?
        .ok_or_else(missing)
}

/// `GET /admin/users/{id}`
#[handler]
pub async fn admin_person(
    state: Data<&AppState>,
    req: &Request,
    Path(id): Path<String>,
    admin: Admin,
) -> Result<Response, PageError> {
    let user = person(&state, &admin, &id).await?;
    let notice = query(req).get("done").and_then(|d| notice(admin.a, d));
    let ctx = &admin.ctx;
    let factors = state
        .second_factors
        .status(&user)
        .await
        .or_unavailable(ctx)?;
    let sessions = state.sessions.list(user.id).await.or_unavailable(ctx)?;
    let events = state
        .audit
        .list(&AuditQuery {
            user: Some(user.id),
            limit: RECENT_EVENTS,
            ..AuditQuery::default()
        })
        .await
        .or_unavailable(ctx)?;
    let profile = &user.profile;
    let view = PersonPage {
        t: ctx.text,
        a: admin.a,
        notice,
        csrf: &ctx.csrf,
        created: when(user.created_at),
        legacy_id: user.legacy_id,
        country: profile.country.clone().unwrap_or_default(),
        city: profile.city.clone().unwrap_or_default(),
        language: profile.preferred_language.clone().unwrap_or_default(),
        totp: factors.totp,
        recovery_codes_left: factors.recovery_codes_left,
        passkeys: factors
            .passkeys
            .iter()
            .map(|p| PasskeyRow {
                name: p.name.clone(),
                last_used: p.last_used_at.map(when).unwrap_or_default(),
            })
            .collect(),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                id: s.id.to_string(),
                client: if s.client_id == BROWSER_CLIENT_ID {
                    ctx.text.browser.to_string()
                } else {
                    s.client_id
                },
                ip: s.ip.unwrap_or_default(),
                user_agent: s.user_agent.unwrap_or_default(),
                created: when(s.created_at),
                last_used: when(s.last_used_at),
            })
            .collect(),
        events: events
            .into_iter()
            .map(|e| EventRow {
                at: when(e.at),
                kind: e.kind.as_str(),
                actor: e.actor.unwrap_or_default(),
            })
            .collect(),
        person: PersonRow::from(&user),
    };
    Ok(page(ctx, StatusCode::OK, view.render()))
}

/// What a `done=` notice on a person's page says.
fn notice(a: &'static AdminText, done: &str) -> Option<&'static str> {
    Some(match done {
        "session_ended" => a.done_session_ended,
        "sessions_ended" => a.done_sessions_ended,
        "disabled" => a.done_disabled,
        "enabled" => a.done_enabled,
        "roles" => a.done_roles,
        "mfa_reset" => a.done_mfa_reset,
        "reset_sent" => a.done_reset_sent,
        _ => return None,
    })
}

/// `POST /admin/users/{id}` with `action`: `end_session` (`sid`), `end_sessions`,
/// `disable`, `enable`, `roles` (`roles`), `reset_mfa`, `send_reset`.
#[handler]
pub async fn admin_person_action(
    state: Data<&AppState>,
    req: &Request,
    Path(id): Path<String>,
    form: AdminForm,
) -> Result<Response, PageError> {
    let admin = &form.admin;
    let user = person(&state, admin, &id).await?;
    let here = format!("/admin/users/{}", user.id);
    let context = request_context(req);
    let by = admin.acting(&context);
    let ctx = &admin.ctx;
    let a = admin.a;
    let action = form.fields.get("action").unwrap_or("");
    // What cannot be undone is asked again first.
    let confirm = |message: &'static str| {
        super::confirm_page(
            admin,
            message,
            &here,
            vec![("action".into(), action.into())],
            &here,
        )
    };
    match action {
        "end_session" => {
            let sid = form
                .fields
                .get("sid")
                .and_then(|s| SessionId::parse(s).ok());
            let Some(sid) = sid else {
                return Err(PageError::new(ctx, Stop::BadForm));
            };
            // Only one of this person's sessions, whatever the form says.
            let theirs = state.sessions.list(user.id).await.or_unavailable(ctx)?;
            if theirs.iter().any(|s| s.id == sid) {
                state
                    .admin
                    .end_session(&sid, &by)
                    .await
                    .or_unavailable(ctx)?;
            }
            Ok(done(&here, "session_ended"))
        }
        "end_sessions" if !form.confirmed() => Ok(confirm(a.confirm_end_all)),
        "end_sessions" => {
            state
                .admin
                .end_user_sessions(user.id, &by)
                .await
                .or_unavailable(ctx)?;
            Ok(done(&here, "sessions_ended"))
        }
        "disable" if !form.confirmed() => Ok(confirm(a.confirm_disable)),
        "disable" | "enable" => {
            let disabled = action == "disable";
            let changed = state.admin.set_disabled(user.id, disabled, &by).await;
            if let Err(AuthError::UnknownUser) = changed {
                let gone = Stop::Message(StatusCode::NOT_FOUND, a.no_such_person);
                return Err(PageError::new(ctx, gone));
            }
            changed.or_unavailable(ctx)?;
            Ok(done(&here, if disabled { "disabled" } else { "enabled" }))
        }
        "roles" => {
            let text = form.fields.get("roles").unwrap_or("");
            let roles: Result<Vec<Role>, _> = text
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(Role::parse)
                .collect();
            let Ok(roles) = roles else {
                return Err(PageError::new(
                    ctx,
                    Stop::Message(StatusCode::UNPROCESSABLE_ENTITY, a.roles_hint),
                ));
            };
            state
                .admin
                .set_roles(user.id, &roles, &by)
                .await
                .or_unavailable(ctx)?;
            Ok(done(&here, "roles"))
        }
        "reset_mfa" if !form.confirmed() => Ok(confirm(a.confirm_reset_mfa)),
        "reset_mfa" => {
            state
                .admin
                .reset_second_factors(user.id, &by)
                .await
                .or_unavailable(ctx)?;
            Ok(done(&here, "mfa_reset"))
        }
        "send_reset" => {
            state.links.send_reset_link(&user, &by).await;
            Ok(done(&here, "reset_sent"))
        }
        _ => Err(PageError::new(ctx, Stop::BadForm)),
    }
}
