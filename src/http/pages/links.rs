//! The pages of mailed links: asking for one (`/forgot-password`, `/verify-email`) and
//! following one (`/verify-email?token=…`, `/reset-password`).

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::browser::PageContext;
use super::form::CsrfForm;
use super::render::{OrUnavailable, PageError, Stop, notice_page, page, query};
use super::text::Text;
use crate::auth::{EmailVerification, LinkRequested, PasswordReset};
use crate::domain::{Email, Password};
use crate::http::{AppState, request_context};
use crate::store::EmailPurpose;

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

/// `GET /verify-email?token=…`: the link of the verification mail.
#[handler]
pub async fn verify_email(state: Data<&AppState>, req: &Request) -> Result<Response, PageError> {
    let ctx = PageContext::new(&state, req, None);
    let Some(token) = query(req).remove("token") else {
        // No link followed: the form that asks for a new one.
        let view = request_link_page(&ctx, EmailPurpose::Verify, "");
        return Ok(page(&ctx, StatusCode::OK, view.render()));
    };
    let verified = state
        .links
        .verify_email(&token, &request_context(req))
        .await
        .or_unavailable(&ctx)?;
    match verified {
        EmailVerification::Verified(_) => Ok(notice_page(
            &ctx,
            ctx.text.email_verified_title,
            ctx.text.email_verified,
        )),
        EmailVerification::LinkInvalid => Err(link_invalid(&ctx, ctx.text.verify_link_invalid)),
    }
}

fn link_invalid(ctx: &PageContext, message: &'static str) -> PageError {
    PageError::new(ctx, Stop::Message(StatusCode::BAD_REQUEST, message))
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
pub async fn forgot_password_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    request_link_submit(&state, req, form, EmailPurpose::Reset).await
}

/// `POST /verify-email`: a new verification link.
#[handler]
pub async fn verify_email_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    request_link_submit(&state, req, form, EmailPurpose::Verify).await
}

/// Asks for a mailed link: the same answer whether or not an account has the address.
async fn request_link_submit(
    state: &AppState,
    req: &Request,
    form: CsrfForm,
    purpose: EmailPurpose,
) -> Result<Response, PageError> {
    let CsrfForm { ctx, fields: form } = form;
    let typed = form.text("email");
    let mut view = request_link_page(&ctx, purpose, &typed);
    let Ok(email) = Email::parse(&typed) else {
        view.error = Some(ctx.text.bad_form);
        return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render()));
    };
    let requested = state
        .links
        .request(email, purpose, request_context(req).ip)
        .await
        .or_unavailable(&ctx)?;
    if let LinkRequested::Limited(limited) = requested {
        return Err(PageError::new(&ctx, Stop::TooMany(limited)));
    }
    view.notice = Some(match purpose {
        EmailPurpose::Reset => ctx.text.reset_requested,
        EmailPurpose::Verify => ctx.text.resend_requested,
    });
    view.email = "";
    Ok(page(&ctx, StatusCode::OK, view.render()))
}

#[derive(Template)]
#[template(path = "reset_password.html")]
struct ResetPasswordPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    token: &'a str,
    error: Option<String>,
}

impl<'a> ResetPasswordPage<'a> {
    fn new(ctx: &'a PageContext, token: &'a str) -> Self {
        Self {
            t: ctx.text,
            csrf: &ctx.csrf,
            token,
            error: None,
        }
    }
}

/// `GET /reset-password?token=…`: the form, if the link is live. Showing it spends nothing
/// (mail scanners open links).
#[handler]
pub async fn reset_password_form(
    state: Data<&AppState>,
    req: &Request,
) -> Result<Response, PageError> {
    let ctx = PageContext::new(&state, req, None);
    let token = query(req).remove("token").unwrap_or_default();
    if !state
        .links
        .reset_link_is_live(&token)
        .await
        .or_unavailable(&ctx)?
    {
        return Err(link_invalid(&ctx, ctx.text.reset_link_invalid));
    }
    let view = ResetPasswordPage::new(&ctx, &token);
    Ok(page(&ctx, StatusCode::OK, view.render()))
}

/// `POST /reset-password`: sets the new password, ends every session, spends the link.
#[handler]
pub async fn reset_password_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    let CsrfForm { ctx, fields: form } = form;
    let token = form.text("token");
    let password = form.get("password").unwrap_or("");
    let mut view = ResetPasswordPage::new(&ctx, &token);
    let new = match Password::parse(password) {
        Ok(new) if form.get("password_confirm") == Some(password) => new,
        Ok(_) => {
            view.error = Some(ctx.text.passwords_differ.to_string());
            return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render()));
        }
        Err(e) => {
            view.error = Some(e.to_string());
            return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render()));
        }
    };
    // The password is checked first, so a typo does not spend the link.
    let reset = state
        .links
        .reset_password(&token, &new, &request_context(req))
        .await
        .or_unavailable(&ctx)?;
    match reset {
        PasswordReset::Done(_) => Ok(notice_page(&ctx, ctx.text.reset_title, ctx.text.reset_done)),
        PasswordReset::LinkInvalid => Err(link_invalid(&ctx, ctx.text.reset_link_invalid)),
    }
}
