//! Signing in on the pages (`/login`), and handing the browser its new session.

use askama::Template;
use poem::http::StatusCode;
use poem::http::header::SET_COOKIE;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::browser::{self, PageContext, safe_return_to, signed_in};
use super::form::CsrfForm;
use super::render::{OrUnavailable, PageError, Stop, encode, page, query, redirect};
use super::text::Text;
use crate::auth::{LoginOutcome, LoginRequest, Refusal};
use crate::domain::{EndCause, Secret, User};
use crate::http::{AppState, request_context};
use crate::oauth::BROWSER_CLIENT_ID;

/// The scope of a browser session: it is never used to call APIs.
const BROWSER_SCOPE: &str = "openid profile email";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// Offer a new verification link.
    unverified: bool,
    return_to: &'a str,
    return_to_encoded: String,
}

fn login_page(
    ctx: &PageContext,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    return_to: &str,
) -> Response {
    let html = LoginPage {
        t: ctx.text,
        csrf: &ctx.csrf,
        email,
        error,
        unverified: error == Some(ctx.text.email_unverified),
        return_to,
        return_to_encoded: encode(return_to),
    }
    .render();
    page(ctx, status, html)
}

/// Where to go after signing in: a path on this server, else the account page.
pub fn return_to(value: Option<&str>) -> String {
    safe_return_to(value).unwrap_or_else(|| "/account".into())
}

/// `GET /login`
#[handler]
pub async fn login_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let return_to = return_to(query(req).get("return_to").map(String::as_str));
    login_page(&ctx, StatusCode::OK, "", None, &return_to)
}

/// `POST /login`
#[handler]
pub async fn login_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    let CsrfForm { ctx, fields: form } = form;
    let return_to = return_to(form.get("return_to"));
    let email = form.text("email");
    let password = Secret::new(form.text("password"));
    let context = request_context(req);
    let outcome = state
        .login
        .login(LoginRequest {
            email: &email,
            password: &password,
            client_id: BROWSER_CLIENT_ID,
            scope: BROWSER_SCOPE,
            method: "login_page",
            context: &context,
        })
        .await
        .or_unavailable(&ctx)?;
    let (status, message) = match outcome {
        LoginOutcome::SignedIn(signed_in) => {
            return Ok(hand_over_session(&state, req, &signed_in.refresh_token, &return_to).await);
        }
        LoginOutcome::Limited(limited) => return Err(PageError::new(&ctx, Stop::TooMany(limited))),
        LoginOutcome::Refused(Refusal::AccountDisabled) => {
            (StatusCode::FORBIDDEN, ctx.text.account_disabled)
        }
        LoginOutcome::Refused(Refusal::EmailNotVerified) => {
            (StatusCode::FORBIDDEN, ctx.text.email_unverified)
        }
        LoginOutcome::Refused(Refusal::InvalidCredentials) | LoginOutcome::NeedsSecondFactor(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ctx.text.bad_credentials)
        }
    };
    Ok(login_page(&ctx, status, &email, Some(message), &return_to))
}

/// Starts a browser session for `user` (a new account): a new session id at every sign-in.
pub async fn start_browser_session(
    state: &AppState,
    req: &Request,
    user: &User,
    return_to: &str,
) -> Result<Response, PageError> {
    let (_, token) = state
        .sessions
        .start(
            user.id,
            BROWSER_CLIENT_ID,
            BROWSER_SCOPE,
            &request_context(req),
        )
        .await
        .or_unavailable(&PageContext::new(state, req, Some(user)))?;
    Ok(hand_over_session(state, req, &token, return_to).await)
}

/// Gives the browser its new session's cookie. Whatever session it had ends: the id
/// changes at sign-in.
async fn hand_over_session(
    state: &AppState,
    req: &Request,
    token: &crate::token::RefreshToken,
    return_to: &str,
) -> Response {
    if let Ok(Some((old, _))) = signed_in(state, req).await {
        let _ = state.sessions.end(&old.id, EndCause::Logout).await;
    }
    let mut response = redirect(return_to);
    response
        .headers_mut()
        .append(SET_COOKIE, browser::session_cookie(state, token));
    response
}
