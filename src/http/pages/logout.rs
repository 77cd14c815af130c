//! Signing out on the pages (`/logout`): asked first, done by a CSRF-checked form.

use askama::Template;
use poem::http::header::SET_COOKIE;
use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{Request, Response, handler};

use super::browser::{self, PageContext, signed_in};
use super::form::CsrfForm;
use super::render::{OrUnavailable, PageError, page};
use super::text::Text;
use crate::http::{AppState, request_context};
use crate::store::StoreError;

/// The question "sign out?" (with the parameters to carry), or the answer "signed out".
#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub t: &'static Text,
    pub csrf: &'a str,
    pub signed_out: bool,
    /// Where the form posts: `/logout`, or `/oauth2/logout` for a client's request.
    pub action: &'a str,
    pub params: Vec<(String, String)>,
}

impl<'a> LogoutPage<'a> {
    /// The form that asks before signing out, posting `params` to `action`.
    pub fn ask(ctx: &'a PageContext, action: &'a str, params: Vec<(String, String)>) -> Self {
        Self {
            t: ctx.text,
            csrf: &ctx.csrf,
            signed_out: false,
            action,
            params,
        }
    }

    /// The page that says the person is signed out.
    pub fn done(ctx: &'a PageContext, action: &'a str) -> Self {
        Self {
            signed_out: true,
            ..Self::ask(ctx, action, Vec::new())
        }
    }
}

/// `GET /logout`: asks before signing out (a link alone must not sign anyone out).
#[handler]
pub async fn logout_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let view = LogoutPage::ask(&ctx, "/logout", Vec::new());
    page(&ctx, StatusCode::OK, view.render())
}

/// Ends the browser's session, if it has one, and gives the header that clears its cookie.
pub async fn sign_out(state: &AppState, req: &Request) -> Result<HeaderValue, StoreError> {
    if let Some((session, _)) = signed_in(state, req).await? {
        state
            .self_service
            .sign_out(&session, &request_context(req))
            .await?;
    }
    Ok(browser::clear_session_cookie(state))
}

/// `POST /logout`
#[handler]
pub async fn logout_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    let ctx = form.ctx;
    let clear = sign_out(&state, req).await.or_unavailable(&ctx)?;
    let view = LogoutPage::done(&ctx, "/logout");
    let mut response = page(&ctx, StatusCode::OK, view.render());
    response.headers_mut().append(SET_COOKIE, clear);
    Ok(response)
}
