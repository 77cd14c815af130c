//! The account page's second factor: turning TOTP on (with a QR code, no script) and off,
//! and new recovery codes.

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::account::AccountForm;
use super::browser::PageContext;
use super::render::{PageError, Stop, page, redirect};
use super::text::Text;
use crate::auth::{Enrollment, MfaError};
use crate::http::{AppState, request_context};

/// A TOTP enrollment as a page shows it.
pub(super) struct EnrollmentView {
    pub(super) secret: String,
    pub(super) qr_svg: String,
}

#[derive(Template)]
#[template(path = "account_mfa.html")]
struct MfaPage<'a> {
    t: &'static Text,
    csrf: &'a str,
    error: Option<&'a str>,
    enrollment: Option<EnrollmentView>,
    recovery_codes: Vec<String>,
}

impl<'a> MfaPage<'a> {
    fn new(ctx: &'a PageContext) -> Self {
        Self {
            t: ctx.text,
            csrf: &ctx.csrf,
            error: None,
            enrollment: None,
            recovery_codes: Vec::new(),
        }
    }
}

/// The enrollment to show: the key as text, and the `otpauth://` URI as an SVG QR code
/// drawn on the server.
pub(super) fn enrollment_view(enrollment: &Enrollment) -> EnrollmentView {
    let qr_svg = super::qr::svg(enrollment.otpauth_uri.expose()).unwrap_or_default();
    EnrollmentView {
        secret: enrollment.secret.expose().clone(),
        qr_svg,
    }
}

/// A second-factor failure that is no wrong input: too many attempts, or an outage.
fn stopped(ctx: &PageContext, e: MfaError) -> PageError {
    match e {
        MfaError::Limited(limited) => PageError::new(ctx, Stop::TooMany(limited)),
        other => {
            tracing::warn!(error = %other, "a page could not be served");
            PageError::unavailable(ctx)
        }
    }
}

/// `POST /account/mfa/totp`: the current password starts an enrollment.
#[handler]
pub async fn account_totp_start(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let password = form.fields.get("password").unwrap_or("");
    let started = state
        .second_factors
        .start_totp(&form.user, password, &request_context(req))
        .await;
    match started {
        Ok(enrollment) => {
            let mut view = MfaPage::new(&form.ctx);
            view.enrollment = Some(enrollment_view(&enrollment));
            Ok(page(&form.ctx, StatusCode::OK, view.render()))
        }
        Err(MfaError::WrongPassword) => {
            let t = form.ctx.text;
            form.refused(&state, |v| v.mfa_error = Some(t.wrong_password))
                .await
        }
        Err(MfaError::AlreadyEnrolled) => Ok(redirect("/account")),
        Err(e) => Err(stopped(&form.ctx, e)),
    }
}

/// `POST /account/mfa/totp/confirm`: the first code turns TOTP on; the recovery codes are
/// shown this once.
#[handler]
pub async fn account_totp_confirm(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let code = form.fields.get("code").unwrap_or("");
    let confirmed = state
        .second_factors
        .confirm_totp(&form.user, code, &request_context(req))
        .await;
    let mut view = MfaPage::new(&form.ctx);
    match confirmed {
        Ok(codes) => {
            view.recovery_codes = codes;
            Ok(page(&form.ctx, StatusCode::OK, view.render()))
        }
        Err(MfaError::WrongFirstCode(enrollment)) => {
            view.error = Some(form.ctx.text.wrong_code);
            view.enrollment = Some(enrollment_view(&enrollment));
            Ok(page(
                &form.ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                view.render(),
            ))
        }
        Err(MfaError::NotEnrolling | MfaError::AlreadyEnrolled) => Ok(redirect("/account")),
        Err(e) => Err(stopped(&form.ctx, e)),
    }
}

/// `POST /account/mfa/totp/remove`: a current code (or a recovery code) turns TOTP off.
#[handler]
pub async fn account_totp_remove(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let code = form.fields.get("code").unwrap_or("");
    let removed = state
        .second_factors
        .remove_totp(&form.user, code, &request_context(req))
        .await;
    match removed {
        Ok(()) => Ok(redirect("/account?done=mfa_removed")),
        Err(e) => wrong_code_or_stop(&state, form, e).await,
    }
}

/// `POST /account/mfa/recovery-codes`: a current code gives a new set, shown once.
#[handler]
pub async fn account_recovery_codes(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let code = form.fields.get("code").unwrap_or("");
    let renewed = state
        .second_factors
        .new_recovery_codes(&form.user, code, &request_context(req))
        .await;
    match renewed {
        Ok(codes) => {
            let mut view = MfaPage::new(&form.ctx);
            view.recovery_codes = codes;
            Ok(page(&form.ctx, StatusCode::OK, view.render()))
        }
        Err(e) => wrong_code_or_stop(&state, form, e).await,
    }
}

async fn wrong_code_or_stop(
    state: &AppState,
    form: AccountForm,
    e: MfaError,
) -> Result<Response, PageError> {
    match e {
        MfaError::WrongCode => {
            let t = form.ctx.text;
            form.refused(state, |v| v.mfa_error = Some(t.wrong_code))
                .await
        }
        MfaError::NotEnrolled => Ok(redirect("/account")),
        MfaError::RequiredByRole => {
            let t = form.ctx.text;
            form.refused(state, |v| v.mfa_error = Some(t.mfa_required_by_role))
                .await
        }
        e => Err(stopped(&form.ctx, e)),
    }
}
