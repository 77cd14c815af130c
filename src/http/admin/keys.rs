//! `/admin/keys`: every signing key with its state, algorithm, size and planned times;
//! rotating now, and revoking a key after a confirmation that says what revoking does to
//! resource servers that only check signatures.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use super::text::AdminText;
use super::{Admin, AdminForm, done, outage, when};
use crate::http::pages::render::{PageError, encode, error_page, page, query};
use crate::http::pages::text::Text;
use crate::http::{AppState, request_context};
use crate::token::{KeyError, RotateOutcome};

struct KeyRow {
    kid: String,
    state: &'static str,
    algorithm: &'static str,
    size: String,
    created: String,
    signs_from: String,
    retires: String,
    leaves: String,
    revoked: String,
    problem: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/keys.html")]
struct KeysPage<'a> {
    t: &'static Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    csrf: &'a str,
    keys: Vec<KeyRow>,
}

/// `GET /admin/keys`
#[handler]
pub async fn admin_keys(
    state: Data<&AppState>,
    req: &Request,
    admin: Admin,
) -> Result<Response, PageError> {
    let a = admin.a;
    let notice = match query(req).get("done").map(String::as_str) {
        Some("rotated") => Some(a.done_key_rotated),
        Some("pending") => Some(a.done_rotation_pending),
        Some("revoked") => Some(a.done_key_revoked),
        _ => None,
    };
    let keys = state
        .signing_keys
        .list()
        .await
        .map_err(|e| outage(&admin.ctx, e))?;
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(when).unwrap_or_default();
    let view = KeysPage {
        t: admin.ctx.text,
        a,
        notice,
        csrf: &admin.ctx.csrf,
        keys: keys
            .into_iter()
            .map(|k| KeyRow {
                size: k.bits.map(|b| b.to_string()).unwrap_or_default(),
                created: when(k.created_at),
                signs_from: when(k.activate_at),
                retires: time(k.retire_at),
                leaves: time(k.remove_at),
                revoked: time(k.revoked_at),
                kid: k.kid,
                state: k.state,
                algorithm: k.algorithm,
                problem: k.problem,
            })
            .collect(),
    };
    Ok(page(&admin.ctx, StatusCode::OK, view.render()))
}

/// `POST /admin/keys/rotate`: a new key, published now.
#[handler]
pub async fn admin_key_rotate(
    state: Data<&AppState>,
    req: &Request,
    form: AdminForm,
) -> Result<Response, PageError> {
    let context = request_context(req);
    let by = form.admin.acting(&context);
    match state.signing_keys.rotate(None, &by).await {
        Ok(RotateOutcome::Rotated { .. }) => Ok(done("/admin/keys", "rotated")),
        Ok(_) => Ok(done("/admin/keys", "pending")),
        Err(e) => Err(outage(&form.admin.ctx, e)),
    }
}

/// `POST /admin/keys/{kid}/revoke`, after a confirmation.
#[handler]
pub async fn admin_key_revoke(
    state: Data<&AppState>,
    req: &Request,
    Path(kid): Path<String>,
    form: AdminForm,
) -> Result<Response, PageError> {
    let admin = &form.admin;
    if !form.confirmed() {
        let action = format!("/admin/keys/{}/revoke", encode(&kid));
        return Ok(super::confirm_page(
            admin,
            admin.a.confirm_revoke_key,
            &action,
            Vec::new(),
            "/admin/keys",
        ));
    }
    let context = request_context(req);
    let by = admin.acting(&context);
    match state.signing_keys.revoke(&kid, &by).await {
        Ok(_) => Ok(done("/admin/keys", "revoked")),
        Err(e @ KeyError::UnknownKid(_)) => Ok(error_page(
            &admin.ctx,
            StatusCode::NOT_FOUND,
            &e.to_string(),
        )),
        Err(KeyError::Refused(reason)) => Ok(error_page(&admin.ctx, StatusCode::CONFLICT, &reason)),
        Err(e) => Err(outage(&admin.ctx, e)),
    }
}
