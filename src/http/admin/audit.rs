//! `/admin/audit`: the audit log, newest first, filtered by person, type and time, a page
//! at a time; each row links to the person it concerns.

use askama::Template;
use chrono::{DateTime, NaiveDate, Utc};
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::text::AdminText;
use super::{Admin, when};
use crate::audit::{AuditQuery, EventType};
use crate::domain::UserId;
use crate::http::AppState;
use crate::http::pages::render::{OrUnavailable, PageError, page, query};
use crate::http::pages::text::Text;

/// Events per page.
const PAGE: u32 = 50;

struct EventRow {
    at: String,
    kind: &'static str,
    actor: String,
    user: Option<String>,
    client: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage<'a> {
    t: &'static Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    error: Option<&'a str>,
    user: String,
    kind: String,
    since: String,
    until: String,
    kinds: Vec<&'static str>,
    events: Vec<EventRow>,
    next: Option<String>,
}

/// A time filter: `YYYY-MM-DD` (midnight UTC) or RFC 3339; empty is none.
fn time(text: &str) -> Result<Option<DateTime<Utc>>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| Some(d.and_utc()))
        .ok_or(())
}

/// `GET /admin/audit?user=&type=&since=&until=&before=`
#[handler]
pub async fn admin_audit(
    state: Data<&AppState>,
    req: &Request,
    admin: Admin,
) -> Result<Response, PageError> {
    let params = query(req);
    let text = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let (user, kind, since, until) = (text("user"), text("type"), text("since"), text("until"));
    let parsed_user = (!user.is_empty()).then(|| UserId::parse(&user));
    let parsed_kind = (!kind.is_empty()).then(|| EventType::parse(&kind));
    let before = params
        .get("before")
        .and_then(|b| uuid::Uuid::parse_str(b).ok());
    let filters = (
        parsed_user.transpose().map_err(|_| ()),
        parsed_kind.map_or(Ok(None), |k| k.map(Some).ok_or(())),
        time(&since),
        time(&until),
    );
    let mut view = AuditPage {
        t: admin.ctx.text,
        a: admin.a,
        notice: None,
        error: None,
        kinds: EventType::ALL.iter().map(|k| k.as_str()).collect(),
        events: Vec::new(),
        next: None,
        user: user.clone(),
        kind: kind.clone(),
        since: since.clone(),
        until: until.clone(),
    };
    let (Ok(user_id), Ok(kind_filter), Ok(since_at), Ok(until_at)) = filters else {
        view.error = Some(admin.a.bad_filter);
        return Ok(page(
            &admin.ctx,
            StatusCode::UNPROCESSABLE_ENTITY,
            view.render(),
        ));
    };
    let events = state
        .audit
        .list(&AuditQuery {
            user: user_id,
            kind: kind_filter,
            since: since_at,
            until: until_at,
            before,
            limit: PAGE,
        })
        .await
        .or_unavailable(&admin.ctx)?;
    view.next = (events.len() == PAGE as usize)
        .then(|| events.last())
        .flatten()
        .map(|last| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("user", &user)
                .append_pair("type", &kind)
                .append_pair("since", &since)
                .append_pair("until", &until)
                .append_pair("before", &last.id.to_string())
                .finish()
        });
    view.events = events
        .into_iter()
        .map(|e| EventRow {
            at: when(e.at),
            kind: e.kind.as_str(),
            actor: e.actor.unwrap_or_default(),
            user: e.user_id.map(|u| u.to_string()),
            client: e.client_id.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                String::new()
            } else {
                e.detail.to_string()
            },
        })
        .collect();
    Ok(page(&admin.ctx, StatusCode::OK, view.render()))
}
