//! `GET|POST /oauth2/logout`: RP-initiated logout (OpenID Connect RP-Initiated Logout
//! 1.0): the client names the person with an ID token, and may name where to go after.

use std::collections::HashMap;

use askama::Template;
use poem::http::StatusCode;
use poem::http::header::SET_COOKIE;
use poem::web::Data;
use poem::{Body, Request, Response, handler};

use crate::domain::{EndCause, SessionId};
use crate::http::AppState;
use crate::http::pages::browser::{PageContext, signed_in};
use crate::http::pages::form::FormFields;
use crate::http::pages::logout::{LogoutPage, sign_out};
use crate::http::pages::render::{OrUnavailable, PageError, Stop, page, query, redirect};

/// The parameters carried through the question "sign out?".
const CARRIED: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

/// `GET|POST /oauth2/logout`: RP-initiated logout (OIDC RP-Initiated Logout 1.0).
#[handler]
pub async fn end_session_endpoint(
    state: Data<&AppState>,
    req: &Request,
    body: Body,
) -> Result<Response, PageError> {
    let posted = req.method() == poem::http::Method::POST;
    let mut fields = query(req);
    if posted {
        fields.extend(FormFields::read(body).await.0);
    }
    let ctx = PageContext::new(&state, req, None);
    let refuse = |message: &'static str| {
        PageError::new(&ctx, Stop::Message(StatusCode::BAD_REQUEST, message))
    };
    let t = ctx.text;
    let hint = match fields.get("id_token_hint") {
        Some(token) => Some(
            state
                .oauth
                .introspection
                .id_token_hint(token)
                .ok_or_else(|| refuse(t.logout_hint_invalid))?,
        ),
        None => None,
    };
    let client_id = fields
        .get("client_id")
        .cloned()
        .or_else(|| hint.as_ref().map(|h| h.aud.clone()));
    if let (Some(hint), Some(client_id)) = (&hint, &client_id)
        && &hint.aud != client_id
    {
        return Err(refuse(t.logout_client_mismatch));
    }
    // Only a registered post-logout URI of the client named by the hint is ever used.
    let return_to = match fields.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client_id = client_id
                .as_ref()
                .ok_or_else(|| refuse(t.logout_redirect_needs_client))?;
            let client = state
                .oauth
                .clients
                .find(client_id)
                .await
                .or_unavailable(&ctx)?
                .filter(|client| client.accepts_post_logout_redirect_uri(uri));
            let mut url = client
                .and_then(|_| url::Url::parse(uri).ok())
                .ok_or_else(|| refuse(t.logout_redirect_unregistered))?;
            if let Some(state_param) = fields.get("state") {
                url.query_pairs_mut().append_pair("state", state_param);
            }
            Some(url.to_string())
        }
    };
    // A plain link could sign anyone out: without a hint naming this browser's own user,
    // ask first, with a CSRF-checked form.
    let browser_user = signed_in(&state, req)
        .await
        .or_unavailable(&ctx)?
        .map(|(_, user)| user.id.to_string());
    let hint_is_this_browser = hint
        .as_ref()
        .is_some_and(|h| browser_user.as_deref().is_none_or(|u| u == h.sub));
    let confirmed = posted && ctx.csrf_matches(fields.get("csrf").map(String::as_str));
    if !hint_is_this_browser && !confirmed {
        let view = LogoutPage::ask(&ctx, "/oauth2/logout", carried(&fields));
        return Ok(page(&ctx, StatusCode::OK, view.render()));
    }
    let cleared = sign_out(&state, req).await.or_unavailable(&ctx)?;
    if let Some(sid) = hint.as_ref().and_then(|h| SessionId::parse(&h.sid).ok()) {
        state
            .sessions
            .end(&sid, EndCause::Logout)
            .await
            .or_unavailable(&ctx)?;
    }
    let mut response = match return_to {
        Some(to) => redirect(&to),
        None => {
            let view = LogoutPage::done(&ctx, "/oauth2/logout");
            page(&ctx, StatusCode::OK, view.render())
        }
    };
    response.headers_mut().append(SET_COOKIE, cleared);
    Ok(response)
}

/// The request's parameters to carry through the form, in a fixed order.
fn carried(fields: &HashMap<String, String>) -> Vec<(String, String)> {
    CARRIED
        .iter()
        .filter_map(|name| fields.get(*name).map(|v| (name.to_string(), v.clone())))
        .collect()
}
