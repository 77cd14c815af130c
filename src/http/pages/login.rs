//! Signing in on the pages (`/login`), and handing the browser its new session.

use askama::Template;
use poem::http::StatusCode;
use poem::http::header::SET_COOKIE;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::browser::{self, PageContext, safe_return_to, signed_in};
use super::form::CsrfForm;
use super::render::{OrUnavailable, PageError, Stop, encode, page, query, redirect};
use super::second_factor::{EnrollmentView, enrollment_view};
use super::text::Text;
use crate::auth::{
    Answer, Enrollment, LoginOutcome, LoginRequest, Method, Refusal, SecondStepRequest,
};
use crate::domain::{EndCause, Secret, User};
use crate::http::{AppState, request_context};
use crate::oauth::BROWSER_CLIENT_ID;

/// The scope of a browser session: it is never used to call APIs.
pub(super) const BROWSER_SCOPE: &str = "openid profile email";

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
    /// The client asked for a second factor (`second_factor=required`).
    second_factor_asked: bool,
    /// Offer "Sign in with a passkey".
    passkeys_on: bool,
}

/// The sign-in form, where `form` says how it was asked for.
fn login_page(
    ctx: &PageContext,
    status: StatusCode,
    form: &SignInForm,
    email: &str,
    error: Option<&str>,
) -> Response {
    let html = LoginPage {
        t: ctx.text,
        csrf: &ctx.csrf,
        email,
        error,
        unverified: error == Some(ctx.text.email_unverified),
        return_to: &form.return_to,
        return_to_encoded: encode(&form.return_to),
        second_factor_asked: form.second_factor_asked,
        passkeys_on: ctx.passkeys_on,
    }
    .render();
    page(ctx, status, html)
}

/// The second step of a sign-in: a code, or setting up a second factor and its first
/// code; then, after setting one up, the recovery codes.
#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage<'a> {
    t: &'static Text,
    csrf: &'a str,
    error: Option<&'a str>,
    return_to: &'a str,
    enrollment: Option<EnrollmentView>,
    recovery_codes: Vec<String>,
    /// Offer a passkey in place of a code.
    passkey: bool,
}

fn code_page(
    ctx: &PageContext,
    status: StatusCode,
    error: Option<&str>,
    return_to: &str,
    enrollment: Option<&Enrollment>,
    passkey: bool,
) -> Response {
    let html = CodePage {
        t: ctx.text,
        csrf: &ctx.csrf,
        error,
        return_to,
        enrollment: enrollment.map(enrollment_view),
        recovery_codes: Vec::new(),
        passkey,
    }
    .render();
    page(ctx, status, html)
}

/// How the sign-in form was asked for: where to go after it, and whether the client
/// asked for a second factor.
struct SignInForm {
    return_to: String,
    second_factor_asked: bool,
}

impl SignInForm {
    fn read(get: impl Fn(&str) -> Option<String>) -> Self {
        Self {
            return_to: return_to(get("return_to").as_deref()),
            second_factor_asked: get(SECOND_FACTOR).as_deref() == Some(REQUIRED),
        }
    }
}

/// The login page's parameter (and hidden field) by which a client's request for a second
/// factor (`acr_values`) reaches the sign-in: `second_factor=required`.
pub const SECOND_FACTOR: &str = "second_factor";
pub const REQUIRED: &str = "required";

/// Where to go after signing in: a path on this server, else the account page.
pub fn return_to(value: Option<&str>) -> String {
    safe_return_to(value).unwrap_or_else(|| "/account".into())
}

/// `GET /login`
#[handler]
pub async fn login_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let query = query(req);
    let form = SignInForm::read(|name| query.get(name).cloned());
    login_page(&ctx, StatusCode::OK, &form, "", None)
}

/// `POST /login`: the password, or — when the account has a second factor — its code,
/// answering the sign-in this browser holds in its `gatehouse_mfa` cookie.
#[handler]
pub async fn login_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    let CsrfForm { ctx, fields } = form;
    let form = SignInForm::read(|name| fields.get(name).map(str::to_string));
    let context = request_context(req);
    if fields.get("code").is_some() {
        let Some(mfa_token) = browser::mfa_token(&state, req) else {
            let message = ctx.text.second_factor_expired;
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return Ok(login_page(&ctx, status, &form, "", Some(message)));
        };
        let code = fields.text("code");
        let outcome = state
            .login
            .second_step(SecondStepRequest {
                mfa_token: &mfa_token,
                answer: Answer::Code(&code),
                client_id: BROWSER_CLIENT_ID,
                context: &context,
            })
            .await
            .or_unavailable(&ctx)?;
        return answer(&state, req, &ctx, outcome, &form, "").await;
    }
    let email = fields.text("email");
    let password = Secret::new(fields.text("password"));
    let outcome = state
        .login
        .login(LoginRequest {
            email: &email,
            password: &password,
            client_id: BROWSER_CLIENT_ID,
            scope: BROWSER_SCOPE,
            method: Method::LoginPage,
            second_factor_asked: form.second_factor_asked,
            context: &context,
        })
        .await
        .or_unavailable(&ctx)?;
    answer(&state, req, &ctx, outcome, &form, &email).await
}

/// The page that answers a sign-in's outcome (a step of it).
async fn answer(
    state: &AppState,
    req: &Request,
    ctx: &PageContext,
    outcome: LoginOutcome,
    form: &SignInForm,
    email: &str,
) -> Result<Response, PageError> {
    let return_to = form.return_to.as_str();
    let (status, message) = match outcome {
        LoginOutcome::SignedIn(signed_in) => {
            let mut response = if signed_in.recovery_codes.is_empty() {
                redirect(return_to)
            } else {
                // A second factor was set up on the way: its recovery codes, this once.
                let html = CodePage {
                    t: ctx.text,
                    csrf: &ctx.csrf,
                    error: None,
                    return_to,
                    enrollment: None,
                    recovery_codes: signed_in.recovery_codes,
                    passkey: false,
                }
                .render();
                page(ctx, StatusCode::OK, html)
            };
            hand_over_session(state, req, &signed_in.refresh_token, &mut response).await;
            response
                .headers_mut()
                .append(SET_COOKIE, browser::clear_mfa_cookie(state));
            return Ok(response);
        }
        LoginOutcome::NeedsSecondFactor(step) => {
            let enrollment = step.enrollment.as_ref();
            let passkey = step.passkeys;
            let mut response = code_page(ctx, StatusCode::OK, None, return_to, enrollment, passkey);
            response.headers_mut().append(
                SET_COOKIE,
                browser::mfa_cookie(state, step.mfa_token.expose()),
            );
            return Ok(response);
        }
        LoginOutcome::Limited(limited) => return Err(PageError::new(ctx, Stop::TooMany(limited))),
        LoginOutcome::WrongCode(enrollment) => {
            // The person may have passkeys: offered whenever the server has them on.
            let passkey = enrollment.is_none() && ctx.passkeys_on;
            return Ok(code_page(
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(ctx.text.wrong_code),
                return_to,
                enrollment.as_deref(),
                passkey,
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
        LoginOutcome::Refused(Refusal::NoCodeFactor) => {
            return Ok(code_page(
                ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(ctx.text.use_passkey_instead),
                return_to,
                None,
                ctx.passkeys_on,
            ));
        }
        // The pages set a second factor up on the way; this is the password grant's. Old
        // tokens are exchanged at the token endpoint only.
        LoginOutcome::Refused(
            Refusal::InvalidCredentials
            | Refusal::SecondFactorNotSetUp
            | Refusal::PasskeyRefused
            | Refusal::LegacyTokenRefused,
        ) => (StatusCode::UNPROCESSABLE_ENTITY, ctx.text.bad_credentials),
    };
    Ok(login_page(ctx, status, form, email, Some(message)))
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
            crate::auth::mfa::amr(Method::LoginPage.first_factor(), None),
            &request_context(req),
        )
        .await
        .or_unavailable(&PageContext::new(state, req, Some(user)))?;
    let mut response = redirect(return_to);
    hand_over_session(state, req, &token, &mut response).await;
    Ok(response)
}

/// Gives the browser its new session's cookie with `response`. Whatever session it had
/// ends: the id changes at sign-in.
pub(super) async fn hand_over_session(
    state: &AppState,
    req: &Request,
    token: &crate::token::RefreshToken,
    response: &mut Response,
) {
    if let Ok(Some((old, _))) = signed_in(state, req).await {
        let _ = state.sessions.end(&old.id, EndCause::Logout).await;
    }
    response
        .headers_mut()
        .append(SET_COOKIE, browser::session_cookie(state, token));
}
