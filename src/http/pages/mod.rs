//! HTML pages: sign-in, registration, account, consent and the browser side of the
//! authorization code flow. They work without JavaScript.

mod browser;
mod text;

use std::collections::HashMap;

use askama::Template;
use poem::http::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use poem::http::{HeaderValue, StatusCode};
use poem::web::Data;
use poem::{Body, IntoResponse, Request, Response, handler};

use self::browser::{PageContext, safe_return_to, signed_in};
use self::text::Text;
use super::AppState;
use super::{audit_event, change_own_password, end_own_session, request_context};
use crate::audit::EventType;
use crate::auth::{AuthError, LoginOutcome, LoginRequest, Refusal, Registration};
use crate::domain::{
    Email, EndCause, Password, Profile, ProfilePatch, Secret, SessionId, User, UserName,
};
use crate::limits::LimitKind;
use crate::oauth::{AuthorizeError, AuthorizeRequest, Authorized, BROWSER_CLIENT_ID};
use crate::store::EmailPurpose;

/// The scope of a browser session: it is never used to call APIs.
const BROWSER_SCOPE: &str = "openid profile email";

/// A form body, by field name (the last value wins).
struct FormFields(HashMap<String, String>);

impl FormFields {
    async fn read(body: Body) -> Self {
        let bytes = body.into_vec().await.unwrap_or_default();
        Self(url::form_urlencoded::parse(&bytes).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }
}

/// Renders a page with the headers every page gets.
fn page(ctx: &PageContext, status: StatusCode, html: Result<String, askama::Error>) -> Response {
    let html = match html {
        Ok(html) => html,
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .body(html);
    // Pages load only their own stylesheet and are never framed.
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'",
        ),
    );
    if let Some(cookie) = ctx.csrf_cookie() {
        response.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    response
}

fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, to)
        .finish()
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'static Text,
    message: &'a str,
}

fn error_page(ctx: &PageContext, status: StatusCode, message: &str) -> Response {
    page(
        ctx,
        status,
        ErrorPage {
            t: ctx.text,
            message,
        }
        .render(),
    )
}

fn unavailable(ctx: &PageContext) -> Response {
    let mut response = error_page(ctx, StatusCode::SERVICE_UNAVAILABLE, ctx.text.unavailable);
    response
        .headers_mut()
        .insert("retry-after", HeaderValue::from_static("5"));
    response
}

fn too_many(ctx: &PageContext, limited: crate::limits::Limited) -> Response {
    let mut response = error_page(ctx, StatusCode::TOO_MANY_REQUESTS, ctx.text.too_many);
    if let Ok(value) = HeaderValue::from_str(&limited.retry_after.to_string()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

fn refused_form(ctx: &PageContext) -> Response {
    error_page(ctx, StatusCode::FORBIDDEN, ctx.text.bad_form)
}

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

fn query(req: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// `GET /login`
#[handler]
pub async fn login_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let return_to = safe_return_to(query(req).get("return_to").map(String::as_str))
        .unwrap_or_else(|| "/account".into());
    login_page(&ctx, StatusCode::OK, "", None, &return_to)
}

/// Starts a browser session for `user` (a new account): a new session id at every sign-in.
async fn start_browser_session(
    state: &AppState,
    req: &Request,
    user: &User,
    return_to: &str,
) -> Response {
    match state
        .sessions
        .start(
            user.id,
            BROWSER_CLIENT_ID,
            BROWSER_SCOPE,
            &request_context(req),
        )
        .await
    {
        Ok((_, token)) => hand_over_session(state, req, &token, return_to).await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a browser session");
            unavailable(&PageContext::new(state, req, Some(user)))
        }
    }
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

/// `POST /login`
#[handler]
pub async fn login_submit(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let form = FormFields::read(body).await;
    if !ctx.csrf_matches(form.get("csrf")) {
        return refused_form(&ctx);
    }
    let return_to = safe_return_to(form.get("return_to")).unwrap_or_else(|| "/account".into());
    let email = form.text("email");
    let password = Secret::new(form.get("password").unwrap_or("").to_string());
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
        .await;
    let message = match outcome {
        Ok(LoginOutcome::SignedIn(signed_in)) => {
            return hand_over_session(&state, req, &signed_in.refresh_token, &return_to).await;
        }
        Ok(LoginOutcome::Limited(limited)) => return too_many(&ctx, limited),
        Ok(LoginOutcome::Refused(Refusal::AccountDisabled)) => {
            (StatusCode::FORBIDDEN, ctx.text.account_disabled)
        }
        Ok(LoginOutcome::Refused(Refusal::EmailNotVerified)) => {
            (StatusCode::FORBIDDEN, ctx.text.email_unverified)
        }
        Ok(LoginOutcome::Refused(Refusal::InvalidCredentials)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ctx.text.bad_credentials)
        }
        Ok(LoginOutcome::NeedsSecondFactor(_)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, ctx.text.bad_credentials)
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in failed");
            return unavailable(&ctx);
        }
    };
    login_page(&ctx, message.0, &email, Some(message.1), &return_to)
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    email: &'a str,
    name: &'a str,
    error: Option<&'a str>,
    email_error: Option<String>,
    name_error: Option<String>,
    password_error: Option<String>,
    confirm_error: Option<&'a str>,
    return_to: &'a str,
    return_to_encoded: String,
}

impl<'a> RegisterPage<'a> {
    fn new(ctx: &'a PageContext, return_to: &'a str) -> Self {
        Self {
            t: ctx.text,
            csrf: &ctx.csrf,
            email: "",
            name: "",
            error: None,
            email_error: None,
            name_error: None,
            password_error: None,
            confirm_error: None,
            return_to,
            return_to_encoded: encode(return_to),
        }
    }
}

/// `GET /register`
#[handler]
pub async fn register_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let return_to = safe_return_to(query(req).get("return_to").map(String::as_str))
        .unwrap_or_else(|| "/account".into());
    page(
        &ctx,
        StatusCode::OK,
        RegisterPage::new(&ctx, &return_to).render(),
    )
}

/// `POST /register`: creates the account and signs the person in.
#[handler]
pub async fn register_submit(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let form = FormFields::read(body).await;
    if !ctx.csrf_matches(form.get("csrf")) {
        return refused_form(&ctx);
    }
    let return_to = safe_return_to(form.get("return_to")).unwrap_or_else(|| "/account".into());
    match state
        .limiter
        .attempt_from(LimitKind::RegisterPerIp, request_context(req).ip)
        .await
    {
        Ok(Ok(())) => {}
        Ok(Err(limited)) => return too_many(&ctx, limited),
        Err(_) => return unavailable(&ctx),
    }
    let email_text = form.text("email");
    let name_text = form.text("name");
    let mut view = RegisterPage::new(&ctx, &return_to);
    view.email = &email_text;
    view.name = &name_text;
    let email = Email::parse(&email_text)
        .map_err(|e| view.email_error = Some(e.to_string()))
        .ok();
    let name = UserName::parse(&name_text)
        .map_err(|e| view.name_error = Some(e.to_string()))
        .ok();
    let password_text = form.text("password");
    let password = Password::parse(&password_text)
        .map_err(|e| view.password_error = Some(e.to_string()))
        .ok();
    if form
        .get("password_confirm")
        .is_some_and(|c| c != password_text)
    {
        view.confirm_error = Some(ctx.text.passwords_differ);
    }
    let (Some(email), Some(name), Some(password), None) =
        (email, name, password, view.confirm_error)
    else {
        return page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render());
    };
    let registration = Registration {
        email,
        name,
        password,
        // The language the page was shown in: the account's mail and pages keep it.
        profile: Profile {
            preferred_language: Some(ctx.text.lang.to_string()),
            ..Profile::default()
        },
    };
    match state.accounts.register(registration).await {
        Ok(user) => {
            state
                .audit
                .record(
                    audit_event(EventType::UserRegistered, req)
                        .actor(format!("user:{}", user.id))
                        .user(user.id)
                        .detail(serde_json::json!({"via": "register_page"})),
                )
                .await;
            crate::http::send_link(&state, &user, crate::store::EmailPurpose::Verify).await;
            start_browser_session(&state, req, &user, &return_to).await
        }
        Err(AuthError::EmailTaken) => {
            view.email_error = Some(ctx.text.email_taken.to_string());
            page(&ctx, StatusCode::CONFLICT, view.render())
        }
        Err(e) => {
            tracing::warn!(error = %e, "registration failed");
            unavailable(&ctx)
        }
    }
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    signed_out: bool,
    action: &'a str,
    params: Vec<(String, String)>,
}

/// `GET /logout`: asks before signing out (a link alone must not sign anyone out).
#[handler]
pub async fn logout_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let view = LogoutPage {
        t: ctx.text,
        csrf: &ctx.csrf,
        signed_out: false,
        action: "/logout",
        params: Vec::new(),
    };
    page(&ctx, StatusCode::OK, view.render())
}

/// Ends the browser's session and clears its cookie.
async fn sign_out(
    state: &AppState,
    req: &Request,
) -> Result<HeaderValue, crate::store::StoreError> {
    if let Some((session, _)) = signed_in(state, req).await? {
        state.sessions.end(&session.id, EndCause::Logout).await?;
        state
            .audit
            .record(
                audit_event(EventType::SessionEnded, req)
                    .actor(format!("user:{}", session.user_id))
                    .user(session.user_id)
                    .client(&session.client_id)
                    .session(&session.id)
                    .detail(serde_json::json!({"cause": "logout"})),
            )
            .await;
    }
    Ok(browser::clear_session_cookie(state))
}

/// `POST /logout`
#[handler]
pub async fn logout_submit(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let form = FormFields::read(body).await;
    if !ctx.csrf_matches(form.get("csrf")) {
        return refused_form(&ctx);
    }
    match sign_out(&state, req).await {
        Ok(clear) => {
            let view = LogoutPage {
                t: ctx.text,
                csrf: &ctx.csrf,
                signed_out: true,
                action: "/logout",
                params: Vec::new(),
            };
            let mut response = page(&ctx, StatusCode::OK, view.render());
            response.headers_mut().append(SET_COOKIE, clear);
            response
        }
        Err(_) => unavailable(&ctx),
    }
}

struct SessionRow {
    id: String,
    client: String,
    user_agent: String,
    ip: String,
    last_used: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    email: String,
    email_verified: bool,
    name: String,
    country: String,
    city: String,
    language: String,
    notice: Option<&'a str>,
    name_error: Option<String>,
    language_error: Option<String>,
    current_error: Option<&'a str>,
    password_error: Option<String>,
    confirm_error: Option<&'a str>,
    sessions: Vec<SessionRow>,
}

impl<'a> AccountPage<'a> {
    async fn new(
        state: &AppState,
        ctx: &'a PageContext,
        user: &User,
        current: &SessionId,
    ) -> Result<Self, crate::store::StoreError> {
        let sessions = state
            .sessions
            .list(user.id)
            .await?
            .into_iter()
            .map(|s| SessionRow {
                current: &s.id == current,
                id: s.id.to_string(),
                client: if s.client_id == BROWSER_CLIENT_ID {
                    ctx.text.browser.to_string()
                } else {
                    s.client_id
                },
                user_agent: s.user_agent.unwrap_or_default(),
                ip: s.ip.unwrap_or_default(),
                last_used: s.last_used_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            })
            .collect();
        Ok(Self {
            t: ctx.text,
            csrf: &ctx.csrf,
            email: user.email.to_string(),
            email_verified: user.email_verified,
            name: user.name.clone(),
            country: user.profile.country.clone().unwrap_or_default(),
            city: user.profile.city.clone().unwrap_or_default(),
            language: user.profile.preferred_language.clone().unwrap_or_default(),
            notice: None,
            name_error: None,
            language_error: None,
            current_error: None,
            password_error: None,
            confirm_error: None,
            sessions,
        })
    }
}

/// The signed-in person, or where to send them to sign in.
async fn require_sign_in(
    state: &AppState,
    req: &Request,
    back_to: &str,
) -> Result<(crate::domain::Session, User), Response> {
    match signed_in(state, req).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(redirect(&format!("/login?return_to={}", encode(back_to)))),
        Err(_) => Err(unavailable(&PageContext::new(state, req, None))),
    }
}

async fn account_page(
    state: &AppState,
    ctx: &PageContext,
    user: &User,
    current: &SessionId,
    status: StatusCode,
    adjust: impl FnOnce(&mut AccountPage<'_>),
) -> Response {
    match AccountPage::new(state, ctx, user, current).await {
        Ok(mut view) => {
            adjust(&mut view);
            page(ctx, status, view.render())
        }
        Err(_) => unavailable(ctx),
    }
}

/// A form posted from the account page: the signed-in person and the form, or the
/// response that stops it (sign in first, or a form without this browser's CSRF token).
async fn account_post(
    state: &AppState,
    req: &Request,
    body: Body,
) -> Result<(crate::domain::Session, User, PageContext, FormFields), Response> {
    let (session, user) = require_sign_in(state, req, "/account").await?;
    let ctx = PageContext::new(state, req, Some(&user));
    let form = FormFields::read(body).await;
    if !ctx.csrf_matches(form.get("csrf")) {
        return Err(refused_form(&ctx));
    }
    Ok((session, user, ctx, form))
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    t: &'static Text,
    title: &'a str,
    message: &'a str,
}

/// `GET /verify-email?token=…`: the link of the verification mail.
#[handler]
pub async fn verify_email(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let Some(token) = query(req).remove("token") else {
        // No link followed: the form that asks for a new one.
        let view = request_link_page(&ctx, EmailPurpose::Verify, "");
        return page(&ctx, StatusCode::OK, view.render());
    };
    match state.email_links.verify(&token).await {
        Ok(Some(user)) => {
            state
                .audit
                .record(
                    audit_event(EventType::EmailVerified, req)
                        .actor(format!("user:{user}"))
                        .user(user),
                )
                .await;
            tracing::info!(user_id = %user, "email address verified");
            page(
                &ctx,
                StatusCode::OK,
                NoticePage {
                    t: ctx.text,
                    title: ctx.text.email_verified_title,
                    message: ctx.text.email_verified,
                }
                .render(),
            )
        }
        Ok(None) => error_page(&ctx, StatusCode::BAD_REQUEST, ctx.text.verify_link_invalid),
        Err(e) => {
            tracing::warn!(error = %e, "verifying an email address failed");
            unavailable(&ctx)
        }
    }
}

#[derive(Template)]
#[template(path = "request_link.html")]
struct RequestLinkPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    title: &'static str,
    intro: &'static str,
    action: &'static str,
    email: &'a str,
    notice: Option<&'a str>,
    error: Option<&'a str>,
}

/// The form that asks for a mailed link of `purpose`.
fn request_link_page<'a>(
    ctx: &'a PageContext,
    purpose: EmailPurpose,
    email: &'a str,
) -> RequestLinkPage<'a> {
    let t = ctx.text;
    let (title, intro, action) = match purpose {
        EmailPurpose::Reset => (t.forgot_title, t.forgot_intro, "/forgot-password"),
        EmailPurpose::Verify => (t.resend_title, t.resend_intro, "/verify-email"),
    };
    RequestLinkPage {
        t,
        csrf: &ctx.csrf,
        title,
        intro,
        action,
        email,
        notice: None,
        error: None,
    }
}

/// `GET /forgot-password`
#[handler]
pub async fn forgot_password_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let view = request_link_page(&ctx, EmailPurpose::Reset, "");
    page(&ctx, StatusCode::OK, view.render())
}

/// `POST /forgot-password`
#[handler]
pub async fn forgot_password_submit(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    request_link_submit(&state, req, body, EmailPurpose::Reset).await
}

/// `POST /verify-email`: a new verification link.
#[handler]
pub async fn verify_email_submit(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    request_link_submit(&state, req, body, EmailPurpose::Verify).await
}

/// Asks for a mailed link: the same answer whether or not an account has the address.
async fn request_link_submit(
    state: &AppState,
    req: &Request,
    body: Body,
    purpose: EmailPurpose,
) -> Response {
    let ctx = PageContext::new(state, req, None);
    let form = FormFields::read(body).await;
    if !ctx.csrf_matches(form.get("csrf")) {
        return refused_form(&ctx);
    }
    let typed = form.text("email");
    let mut view = request_link_page(&ctx, purpose, &typed);
    let Ok(email) = Email::parse(&typed) else {
        view.error = Some(ctx.text.bad_form);
        return page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render());
    };
    match crate::http::request_link(state, req, email, purpose).await {
        Ok(Ok(())) => {
            view.notice = Some(match purpose {
                EmailPurpose::Reset => ctx.text.reset_requested,
                EmailPurpose::Verify => ctx.text.resend_requested,
            });
            view.email = "";
            page(&ctx, StatusCode::OK, view.render())
        }
        Ok(Err(limited)) => too_many(&ctx, limited),
        Err(_) => unavailable(&ctx),
    }
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPasswordPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    token: &'a str,
    error: Option<String>,
}

/// `GET /reset-password?token=…`: the form, if the link is live. Showing it spends nothing
/// (mail scanners open links).
#[handler]
pub async fn reset_password_form(state: Data<&AppState>, req: &Request) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let token = query(req).remove("token").unwrap_or_default();
    match state.email_links.peek_reset(&token).await {
        Ok(Some(_)) => {
            let view = ResetPasswordPage {
                t: ctx.text,
                csrf: &ctx.csrf,
                token: &token,
                error: None,
            };
            page(&ctx, StatusCode::OK, view.render())
        }
        Ok(None) => error_page(&ctx, StatusCode::BAD_REQUEST, ctx.text.reset_link_invalid),
        Err(_) => unavailable(&ctx),
    }
}

/// `POST /reset-password`: sets the new password, ends every session, spends the link.
#[handler]
pub async fn reset_password_submit(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let ctx = PageContext::new(&state, req, None);
    let form = FormFields::read(body).await;
    if !ctx.csrf_matches(form.get("csrf")) {
        return refused_form(&ctx);
    }
    let token = form.text("token");
    let password = form.get("password").unwrap_or("");
    let mut view = ResetPasswordPage {
        t: ctx.text,
        csrf: &ctx.csrf,
        token: &token,
        error: None,
    };
    let new = match Password::parse(password) {
        Ok(new) if form.get("password_confirm") == Some(password) => new,
        Ok(_) => {
            view.error = Some(ctx.text.passwords_differ.to_string());
            return page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render());
        }
        Err(e) => {
            view.error = Some(e.to_string());
            return page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render());
        }
    };
    // The password is checked first, so a typo does not spend the link.
    let redeemed = match state.email_links.redeem(&token, EmailPurpose::Reset).await {
        Ok(Some(redeemed)) => redeemed,
        Ok(None) => return error_page(&ctx, StatusCode::BAD_REQUEST, ctx.text.reset_link_invalid),
        Err(_) => return unavailable(&ctx),
    };
    let user = redeemed.user_id;
    match state
        .accounts
        .reset_password(&state.sessions, user, &new)
        .await
    {
        Ok(()) => {
            // The link reached the person at that address: it is theirs.
            if let Err(e) = state.email_links.mark_verified(user, &redeemed.email).await {
                tracing::warn!(error = %e, user_id = %user, "the address could not be marked verified");
            }
            state
                .audit
                .record(
                    audit_event(EventType::PasswordReset, req)
                        .actor(format!("user:{user}"))
                        .user(user),
                )
                .await;
            page(
                &ctx,
                StatusCode::OK,
                NoticePage {
                    t: ctx.text,
                    title: ctx.text.reset_title,
                    message: ctx.text.reset_done,
                }
                .render(),
            )
        }
        Err(AuthError::Store(_)) => unavailable(&ctx),
        Err(e) => {
            tracing::info!(error = %e, user_id = %user, "a password reset was refused");
            error_page(&ctx, StatusCode::BAD_REQUEST, ctx.text.reset_link_invalid)
        }
    }
}

/// `GET /account`
#[handler]
pub async fn account(state: Data<&AppState>, req: &Request) -> Response {
    let (session, user) = match require_sign_in(&state, req, "/account").await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let ctx = PageContext::new(&state, req, Some(&user));
    let notice = match query(req).get("done").map(String::as_str) {
        Some("saved") => Some(ctx.text.saved),
        Some("password") => Some(ctx.text.password_changed),
        Some("ended") => Some(ctx.text.sessions_ended),
        // Only a password bcrypt read in part keeps the old hash past a sign-in.
        _ => match state.accounts.needs_new_password(user.id).await {
            Ok(true) => Some(ctx.text.choose_new_password),
            Ok(false) => None,
            Err(_) => return unavailable(&ctx),
        },
    };
    account_page(&state, &ctx, &user, &session.id, StatusCode::OK, |v| {
        v.notice = notice
    })
    .await
}

/// `POST /account/profile`
#[handler]
pub async fn account_profile(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let (session, user, ctx, form) = match account_post(&state, req, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let name = UserName::parse(&form.text("name"));
    let text_field = |name: &str, parse: fn(&str) -> Result<String, crate::domain::Invalid>| {
        let value = form.text(name);
        if value.trim().is_empty() {
            Ok(None)
        } else {
            parse(&value).map(Some)
        }
    };
    let language = text_field("preferred_language", Profile::parse_language);
    let country = text_field("country", Profile::parse_country);
    let city = text_field("city", Profile::parse_city);
    match (name, language, country, city) {
        (Ok(name), Ok(language), Ok(country), Ok(city)) => {
            let patch = ProfilePatch {
                country: Some(country),
                city: Some(city),
                business_context: None,
                preferred_language: Some(language),
            };
            match state
                .accounts
                .update_profile(user.id, Some(name), patch)
                .await
            {
                Ok(_) => redirect("/account?done=saved"),
                Err(_) => unavailable(&ctx),
            }
        }
        (name, language, _, _) => {
            let name_error = name.err().map(|e| e.to_string());
            let language_error = language.err().map(|e| e.to_string());
            account_page(
                &state,
                &ctx,
                &user,
                &session.id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |v| {
                    v.name_error = name_error;
                    v.language_error = language_error;
                },
            )
            .await
        }
    }
}

/// `POST /account/password`: every other session ends.
#[handler]
pub async fn account_password(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let (session, user, ctx, form) = match account_post(&state, req, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let new_text = form.text("password");
    let new = Password::parse(&new_text);
    let differs = form.get("password_confirm").is_some_and(|c| c != new_text);
    let new = match (new, differs) {
        (Ok(new), false) => new,
        (new, differs) => {
            let password_error = new.err().map(|e| e.to_string());
            return account_page(
                &state,
                &ctx,
                &user,
                &session.id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |v| {
                    v.password_error = password_error;
                    v.confirm_error = differs.then_some(ctx.text.passwords_differ);
                },
            )
            .await;
        }
    };
    let current = form.get("current_password").unwrap_or("");
    match change_own_password(&state, req, user.id, current, &new, Some(&session.id)).await {
        Ok(Ok(())) => redirect("/account?done=password"),
        Ok(Err(limited)) => too_many(&ctx, limited),
        Err(AuthError::InvalidCredentials) => {
            account_page(
                &state,
                &ctx,
                &user,
                &session.id,
                StatusCode::UNPROCESSABLE_ENTITY,
                |v| {
                    v.current_error = Some(ctx.text.wrong_password);
                },
            )
            .await
        }
        Err(_) => unavailable(&ctx),
    }
}

/// `POST /account/sessions/end`: signs one of the person's own sessions out.
#[handler]
pub async fn account_end_session(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let (_, user, ctx, form) = match account_post(&state, req, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(sid) = SessionId::parse(form.get("sid").unwrap_or("")) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.text.bad_form);
    };
    match end_own_session(&state, req, user.id, &sid).await {
        Ok(true) => redirect("/account?done=ended"),
        Ok(false) => error_page(&ctx, StatusCode::NOT_FOUND, ctx.text.bad_form),
        Err(_) => unavailable(&ctx),
    }
}

/// `POST /account/sessions/end-others`
#[handler]
pub async fn account_end_others(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let (session, user, ctx, _) = match account_post(&state, req, body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match state
        .sessions
        .end_all(user.id, Some(&session.id), EndCause::SelfService)
        .await
    {
        Ok(count) => {
            state
                .audit
                .record(
                    audit_event(EventType::SessionEnded, req)
                        .actor(format!("user:{}", user.id))
                        .user(user.id)
                        .detail(serde_json::json!({"cause": "self_service", "count": count})),
                )
                .await;
            redirect("/account?done=ended")
        }
        Err(_) => unavailable(&ctx),
    }
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    client_id: &'a str,
    scopes: Vec<&'a str>,
    email: String,
    params: Vec<(String, String)>,
}

/// The request's parameters, to carry through the consent form.
fn authorize_params(fields: &HashMap<String, String>) -> Vec<(String, String)> {
    const NAMES: [&str; 11] = [
        "client_id",
        "redirect_uri",
        "response_type",
        "response_mode",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "nonce",
        "prompt",
        "max_age",
    ];
    NAMES
        .iter()
        .filter_map(|n| fields.get(*n).map(|v| (n.to_string(), v.clone())))
        .collect()
}

/// Names that occur more than once among the pairs of a query and a form body.
fn repeated_names(pairs: &[(String, String)]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut repeated: Vec<String> = Vec::new();
    for (name, _) in pairs {
        if !seen.insert(name.as_str()) && !repeated.contains(name) {
            repeated.push(name.clone());
        }
    }
    repeated
}

fn authorize_request(fields: &HashMap<String, String>) -> AuthorizeRequest {
    let get = |n: &str| fields.get(n).cloned();
    AuthorizeRequest {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        response_type: get("response_type"),
        response_mode: get("response_mode"),
        scope: get("scope"),
        state: get("state"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        nonce: get("nonce"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        request: get("request"),
        request_uri: get("request_uri"),
        repeated: Vec::new(),
    }
}

/// `GET|POST /oauth2/authorize`: the authorization code flow, in the browser.
#[handler]
pub async fn authorize(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let posted = req.method() == poem::http::Method::POST;
    let mut pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if posted {
        let bytes = body.into_vec().await.unwrap_or_default();
        pairs.extend(url::form_urlencoded::parse(&bytes).into_owned());
    }
    let repeated = repeated_names(&pairs);
    let fields: HashMap<String, String> = pairs.into_iter().collect();
    let browser = match signed_in(&state, req).await {
        Ok(found) => found,
        Err(_) => return unavailable(&PageContext::new(&state, req, None)),
    };
    let ctx = PageContext::new(&state, req, browser.as_ref().map(|(_, u)| u));
    let request = AuthorizeRequest {
        repeated,
        ..authorize_request(&fields)
    };
    let fail = |e: AuthorizeError| match e {
        AuthorizeError::Page(message) => error_page(&ctx, StatusCode::BAD_REQUEST, &message),
        AuthorizeError::Redirect(to) => redirect(&to),
        AuthorizeError::Unavailable => unavailable(&ctx),
    };
    let valid = match state.oauth.authorization.validate(&request).await {
        Ok(valid) => valid,
        Err(e) => return fail(e),
    };
    let issuer = state.config.issuer.as_str();
    // OpenID Connect Core 3.1.2.1: a client may POST the request itself. Only the consent
    // form's answer (the post carrying `decision`) changes anything, so only it needs
    // this browser's CSRF token.
    let decision = fields.get("decision").filter(|_| posted).cloned();
    if decision.is_some() && !ctx.csrf_matches(fields.get("csrf").map(String::as_str)) {
        return refused_form(&ctx);
    }
    if posted && decision.is_none() && browser.is_none() {
        // A cross-site POST carries no `SameSite=Lax` cookie; the same request by GET
        // (a top-level navigation) does, so a signed-in person is recognised there.
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(authorize_params(&fields))
            .finish();
        return redirect(&format!("/oauth2/authorize?{query}"));
    }
    let now = state.clock.now();
    let session_user = browser.filter(|(session, _)| !valid.needs_login(Some(session), now));
    let Some((session, user)) = session_user else {
        if valid.prompt.none {
            return fail(valid.error(issuer, "login_required", "the person is not signed in"));
        }
        // Sign in, then come back without `prompt=login` or `max_age`: the fresh sign-in
        // satisfies both (and a second boundary crossed on the way must not loop).
        let mut back: Vec<(String, String)> = authorize_params(&fields);
        back.retain(|(name, _)| name != "max_age");
        for (name, value) in back.iter_mut() {
            if name == "prompt" {
                *value = value
                    .split(' ')
                    .filter(|p| *p != "login")
                    .collect::<Vec<_>>()
                    .join(" ");
            }
        }
        let query: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(back)
            .finish();
        return redirect(&format!(
            "/login?return_to={}",
            encode(&format!("/oauth2/authorize?{query}"))
        ));
    };
    if decision.as_deref() == Some("deny") {
        return fail(valid.error(issuer, "access_denied", "the person refused"));
    }
    match state
        .oauth
        .authorization
        .authorize(
            &valid,
            &user,
            &session,
            decision.as_deref() == Some("allow"),
        )
        .await
    {
        Ok(Authorized::Redirect(to)) => redirect(&to),
        Ok(Authorized::NeedsConsent) => {
            let scope = valid.scope.to_string();
            let view = ConsentPage {
                t: ctx.text,
                csrf: &ctx.csrf,
                client_id: &valid.client.id,
                scopes: scope
                    .split(' ')
                    .map(|s| ctx.text.describe_scope(s))
                    .collect(),
                email: user.email.to_string(),
                params: authorize_params(&fields),
            };
            page(&ctx, StatusCode::OK, view.render())
        }
        Err(e) => fail(e),
    }
}

/// `GET|POST /oauth2/logout`: RP-initiated logout (OIDC RP-Initiated Logout 1.0).
#[handler]
pub async fn end_session(state: Data<&AppState>, req: &Request, body: Body) -> Response {
    let posted = req.method() == poem::http::Method::POST;
    let mut fields = query(req);
    if posted {
        fields.extend(FormFields::read(body).await.0);
    }
    let ctx = PageContext::new(&state, req, None);
    let hint = match fields.get("id_token_hint") {
        Some(token) => match state.oauth.introspection.id_token_hint(token) {
            Some(claims) => Some(claims),
            None => {
                return error_page(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    "The id_token_hint is not a valid ID token of this server.",
                );
            }
        },
        None => None,
    };
    let client_id = fields
        .get("client_id")
        .cloned()
        .or_else(|| hint.as_ref().map(|h| h.aud.clone()));
    if let (Some(hint), Some(client_id)) = (&hint, &client_id)
        && &hint.aud != client_id
    {
        return error_page(
            &ctx,
            StatusCode::BAD_REQUEST,
            "client_id does not match the id_token_hint.",
        );
    }
    // Only a registered post-logout URI of the client named by the hint is ever used.
    let return_to = match fields.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let Some(client_id) = &client_id else {
                return error_page(
                    &ctx,
                    StatusCode::BAD_REQUEST,
                    "post_logout_redirect_uri needs id_token_hint or client_id.",
                );
            };
            match state.oauth.clients.find(client_id).await {
                Ok(Some(client)) if client.accepts_post_logout_redirect_uri(uri) => {
                    let mut url = match url::Url::parse(uri) {
                        Ok(url) => url,
                        Err(_) => {
                            return error_page(
                                &ctx,
                                StatusCode::BAD_REQUEST,
                                "post_logout_redirect_uri is not registered.",
                            );
                        }
                    };
                    if let Some(state_param) = fields.get("state") {
                        url.query_pairs_mut().append_pair("state", state_param);
                    }
                    Some(url.to_string())
                }
                Ok(_) => {
                    return error_page(
                        &ctx,
                        StatusCode::BAD_REQUEST,
                        "post_logout_redirect_uri is not registered.",
                    );
                }
                Err(_) => return unavailable(&ctx),
            }
        }
    };
    // A plain link could sign anyone out: without a hint naming this browser's own user,
    // ask first, with a CSRF-checked form.
    let browser_user = match signed_in(&state, req).await {
        Ok(found) => found.map(|(_, user)| user.id.to_string()),
        Err(_) => return unavailable(&ctx),
    };
    let hint_is_this_browser = hint
        .as_ref()
        .is_some_and(|h| browser_user.as_deref().is_none_or(|u| u == h.sub));
    let confirmed = posted && ctx.csrf_matches(fields.get("csrf").map(String::as_str));
    if !hint_is_this_browser && !confirmed {
        let mut params: Vec<(String, String)> = Vec::new();
        for name in [
            "id_token_hint",
            "client_id",
            "post_logout_redirect_uri",
            "state",
        ] {
            if let Some(v) = fields.get(name) {
                params.push((name.to_string(), v.clone()));
            }
        }
        let view = LogoutPage {
            t: ctx.text,
            csrf: &ctx.csrf,
            signed_out: false,
            action: "/oauth2/logout",
            params,
        };
        return page(&ctx, StatusCode::OK, view.render());
    }
    let cleared = match sign_out(&state, req).await {
        Ok(cleared) => cleared,
        Err(_) => return unavailable(&ctx),
    };
    if let Some(sid) = hint.as_ref().and_then(|h| SessionId::parse(&h.sid).ok())
        && state.sessions.end(&sid, EndCause::Logout).await.is_err()
    {
        return unavailable(&ctx);
    }
    let mut response = match return_to {
        Some(to) => redirect(&to),
        None => {
            let view = LogoutPage {
                t: ctx.text,
                csrf: &ctx.csrf,
                signed_out: true,
                action: "/oauth2/logout",
                params: Vec::new(),
            };
            page(&ctx, StatusCode::OK, view.render())
        }
    };
    response.headers_mut().append(SET_COOKIE, cleared);
    response
}

/// `GET /static/gatehouse.css`, compiled into the binary.
#[handler]
pub fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header("cache-control", "public, max-age=3600")
        .body(include_str!("../../../static/gatehouse.css"))
}
