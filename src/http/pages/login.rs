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
use crate::auth::{LoginOutcome, LoginRequest, Refusal, SecondStepRequest};
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

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage<'a> {
    t: &'static Text,
    csrf: &'a str,
    error: Option<&'a str>,
    return_to: &'a str,
}

fn code_page(
    ctx: &PageContext,
    status: StatusCode,
    error: Option<&str>,
    return_to: &str,
) -> Response {
    let html = CodePage {
        t: ctx.text,
        csrf: &ctx.csrf,
        error,
        return_to,
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

/// `POST /login`: the password, or — when the account has a second factor — its code,
/// answering the sign-in this browser holds in its `gatehouse_mfa` cookie.
#[handler]
pub async fn login_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    let CsrfForm { ctx, fields: form } = form;
    let return_to = return_to(form.get("return_to"));
    let context = request_context(req);
    if form.get("code").is_some() {
        let Some(mfa_token) = browser::mfa_token(&state, req) else {
            let message = ctx.text.second_factor_expired;
            return Ok(login_page(
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                "",
                Some(message),
                &return_to,
            ));
        };
        let code = form.text("code");
        let outcome = state
            .login
            .second_step(SecondStepRequest {
                mfa_token: &mfa_token,
                code: &code,
                client_id: BROWSER_CLIENT_ID,
                context: &context,
            })
            .await
            .or_unavailable(&ctx)?;
        return answer(&state, req, &ctx, outcome, "", &return_to).await;
    }
    let email = form.text("email");
    let password = Secret::new(form.text("password"));
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
    answer(&state, req, &ctx, outcome, &email, &return_to).await
}

/// The page that answers a sign-in's outcome (a step of it).
async fn answer(
    state: &AppState,
    req: &Request,
    ctx: &PageContext,
    outcome: LoginOutcome,
    email: &str,
    return_to: &str,
) -> Result<Response, PageError> {
    let (status, message) = match outcome {
        LoginOutcome::SignedIn(signed_in) => {
            let mut response =
                hand_over_session(state, req, &signed_in.refresh_token, return_to).await;
            response
                .headers_mut()
                .append(SET_COOKIE, browser::clear_mfa_cookie(state));
            return Ok(response);
        }
        LoginOutcome::NeedsSecondFactor(step) => {
            let mut response = code_page(ctx, StatusCode::OK, None, return_to);
            response.headers_mut().append(
                SET_COOKIE,
                browser::mfa_cookie(state, step.mfa_token.expose()),
            );
            return Ok(response);
        }
        LoginOutcome::Limited(limited) => return Err(PageError::new(ctx, Stop::TooMany(limited))),
        LoginOutcome::Refused(Refusal::WrongCode) => {
            return Ok(code_page(
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(ctx.text.wrong_code),
                return_to,
            ));
        }
        LoginOutcome::Refused(Refusal::UnknownMfaToken) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.text.second_factor_expired,
        ),
        LoginOutcome::Refused(Refusal::AccountDisabled) => {
            (StatusCode::FORBIDDEN, ctx.text.account_disabled)
        }
        LoginOutcome::Refused(Refusal::EmailNotVerified) => {
            (StatusCode::FORBIDDEN, ctx.text.email_unverified)
        }
        LoginOutcome::Refused(Refusal::InvalidCredentials) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ctx.text.bad_credentials)
        }
    };
    Ok(login_page(ctx, status, email, Some(message), return_to))
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
            crate::auth::mfa::amr(None),
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
