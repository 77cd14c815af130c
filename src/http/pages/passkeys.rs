//! Passkeys on the pages: the calls `static/passkeys.js` makes — sign in with a passkey
//! (alone, or as the second step after a password) and add one on the account page —
//! each a form post carrying the page's CSRF token, answered in JSON. Removing one is a
//! plain form.

use poem::http::StatusCode;
use poem::http::header::SET_COOKIE;
use poem::web::Data;
use poem::{IntoResponse, Request, Response, handler};
use serde_json::{Value, json};

use super::account::AccountForm;
use super::browser::{self, PageContext};
use super::form::CsrfForm;
use super::login::{BROWSER_SCOPE, hand_over_session, return_to};
use super::render::{PageError, Stop, redirect};
use crate::auth::mfa::passkeys::{Ceremony, Proof};
use crate::auth::{Answer, LoginOutcome, MfaError, PasskeySignInRequest, SecondStepRequest};
use crate::http::{AppState, request_context};
use crate::oauth::BROWSER_CLIENT_ID;

fn answer(status: StatusCode, body: Value) -> Response {
    poem::web::Json(body).with_status(status).into_response()
}

fn ceremony(begun: Ceremony) -> Response {
    answer(
        StatusCode::OK,
        json!({"ceremony": begun.id.expose(), "options": begun.options}),
    )
}

/// A failure the script shows next to its button, in the page's language.
fn failed(status: StatusCode, message: &str) -> Response {
    answer(status, json!({"error": message}))
}

/// A passkey use case's error: what the person can act on, or an outage.
fn mfa_failure(ctx: &PageContext, e: MfaError) -> Response {
    let t = ctx.text;
    match e {
        MfaError::WrongPassword => failed(StatusCode::UNPROCESSABLE_ENTITY, t.wrong_password),
        MfaError::WrongCode | MfaError::NotEnrolled => {
            failed(StatusCode::UNPROCESSABLE_ENTITY, t.wrong_code)
        }
        MfaError::BadPasskeyName => {
            failed(StatusCode::UNPROCESSABLE_ENTITY, t.passkey_name_invalid)
        }
        MfaError::PasskeyTaken => failed(StatusCode::CONFLICT, t.passkey_taken),
        MfaError::PasskeysOff => failed(StatusCode::NOT_FOUND, t.passkey_failed),
        MfaError::UnknownCeremony | MfaError::PasskeyRefused(_) => {
            failed(StatusCode::UNPROCESSABLE_ENTITY, t.passkey_failed)
        }
        MfaError::Limited(limited) => {
            let mut response = failed(StatusCode::TOO_MANY_REQUESTS, t.too_many);
            if let Ok(value) = limited.retry_after.to_string().parse() {
                response.headers_mut().insert("retry-after", value);
            }
            response
        }
        other => {
            tracing::warn!(error = %other, "a passkey call could not be served");
            failed(StatusCode::SERVICE_UNAVAILABLE, t.unavailable)
        }
    }
}

/// The answer to a sign-in's outcome, for the script: where to go (with the session's
/// cookie), or why not.
async fn signed_in_or_not(
    state: &AppState,
    req: &Request,
    ctx: &PageContext,
    outcome: LoginOutcome,
    return_to: &str,
) -> Response {
    let t = ctx.text;
    match outcome {
        LoginOutcome::SignedIn(signed_in) => {
            let mut response = answer(StatusCode::OK, json!({"redirect": return_to}));
            hand_over_session(state, req, &signed_in.refresh_token, &mut response).await;
            response
                .headers_mut()
                .append(SET_COOKIE, browser::clear_mfa_cookie(state));
            response
        }
        LoginOutcome::Limited(limited) => mfa_failure(ctx, MfaError::Limited(limited)),
        LoginOutcome::Refused(crate::auth::Refusal::AccountDisabled) => {
            failed(StatusCode::FORBIDDEN, t.account_disabled)
        }
        LoginOutcome::Refused(crate::auth::Refusal::EmailNotVerified) => {
            failed(StatusCode::FORBIDDEN, t.email_unverified)
        }
        LoginOutcome::Refused(crate::auth::Refusal::UnknownMfaToken) => {
            failed(StatusCode::UNPROCESSABLE_ENTITY, t.second_factor_expired)
        }
        _ => failed(StatusCode::UNPROCESSABLE_ENTITY, t.passkey_failed),
    }
}

/// `POST /login/passkey`: begins a sign-in with a passkey alone (`conditional=true`: for
/// the address field's autofill).
#[handler]
pub async fn passkey_sign_in_start(state: Data<&AppState>, form: CsrfForm) -> Response {
    let conditional = form.fields.get("conditional") == Some("true");
    match state
        .second_factors
        .start_passkey_sign_in(conditional)
        .await
    {
        Ok(begun) => ceremony(begun),
        Err(e) => mfa_failure(&form.ctx, e),
    }
}

/// `POST /login/passkey/finish`: the authenticator's answer; the session starts when it
/// holds.
#[handler]
pub async fn passkey_sign_in_finish(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Response {
    let CsrfForm { ctx, fields } = form;
    let outcome = state
        .login
        .passkey_sign_in(PasskeySignInRequest {
            ceremony: fields.get("ceremony").unwrap_or(""),
            credential: fields.get("credential").unwrap_or(""),
            client_id: BROWSER_CLIENT_ID,
            scope: BROWSER_SCOPE,
            context: &request_context(req),
        })
        .await;
    let return_to = return_to(fields.get("return_to"));
    match outcome {
        Ok(outcome) => signed_in_or_not(&state, req, &ctx, outcome, &return_to).await,
        Err(e) => mfa_failure(&ctx, MfaError::Auth(e)),
    }
}

/// `POST /login/passkey/step`: the person's passkeys offered as the second step of the
/// sign-in this browser holds.
#[handler]
pub async fn passkey_step_start(state: Data<&AppState>, req: &Request, form: CsrfForm) -> Response {
    let Some(mfa_token) = browser::mfa_token(&state, req) else {
        return failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            form.ctx.text.second_factor_expired,
        );
    };
    match state
        .login
        .passkey_step_options(&mfa_token, BROWSER_CLIENT_ID)
        .await
    {
        Ok(Some(options)) => answer(StatusCode::OK, json!({"options": options})),
        Ok(None) => failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            form.ctx.text.second_factor_expired,
        ),
        Err(e) => mfa_failure(&form.ctx, MfaError::Auth(e)),
    }
}

/// `POST /login/passkey/step/finish`: the passkey's answer to the second step.
#[handler]
pub async fn passkey_step_finish(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Response {
    let CsrfForm { ctx, fields } = form;
    let Some(mfa_token) = browser::mfa_token(&state, req) else {
        return failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            ctx.text.second_factor_expired,
        );
    };
    let outcome = state
        .login
        .second_step(SecondStepRequest {
            mfa_token: &mfa_token,
            answer: Answer::Passkey(fields.get("credential").unwrap_or("")),
            client_id: BROWSER_CLIENT_ID,
            context: &request_context(req),
        })
        .await;
    let return_to = return_to(fields.get("return_to"));
    match outcome {
        Ok(outcome) => signed_in_or_not(&state, req, &ctx, outcome, &return_to).await,
        Err(e) => mfa_failure(&ctx, MfaError::Auth(e)),
    }
}

/// `POST /account/passkeys`: begins adding a passkey named `name`, proven by `password`
/// (or `code`, a second factor's).
#[handler]
pub async fn account_passkey_start(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Response {
    let fields = &form.fields;
    let proof = match (fields.get("password"), fields.get("code")) {
        (Some(password), _) if !password.is_empty() => Proof::Password(password),
        (_, Some(code)) if !code.is_empty() => Proof::Code(code),
        _ => Proof::Password(""),
    };
    let name = fields.get("name").unwrap_or("");
    let started = state
        .second_factors
        .start_passkey_registration(&form.user, name, proof, &request_context(req))
        .await;
    match started {
        Ok(begun) => ceremony(begun),
        Err(e) => mfa_failure(&form.ctx, e),
    }
}

/// `POST /account/passkeys/finish`: the authenticator's answer; the passkey is added.
#[handler]
pub async fn account_passkey_finish(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Response {
    let finished = state
        .second_factors
        .finish_passkey_registration(
            &form.user,
            form.fields.get("ceremony").unwrap_or(""),
            form.fields.get("credential").unwrap_or(""),
            &request_context(req),
        )
        .await;
    match finished {
        Ok(_) => answer(
            StatusCode::OK,
            json!({"redirect": "/account?done=passkey_added"}),
        ),
        Err(e) => mfa_failure(&form.ctx, e),
    }
}

/// `POST /account/passkeys/remove`: removes the passkey `id` (a plain form).
#[handler]
pub async fn account_passkey_remove(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let id = form
        .fields
        .get("id")
        .and_then(|id| uuid::Uuid::parse_str(id).ok());
    let Some(id) = id else {
        return Err(PageError::new(&form.ctx, Stop::BadForm));
    };
    let removed = state
        .second_factors
        .remove_passkey(&form.user, id, &request_context(req))
        .await;
    match removed {
        Ok(()) => Ok(redirect("/account?done=passkey_removed")),
        Err(MfaError::NoSuchPasskey) => Ok(redirect("/account")),
        Err(MfaError::RequiredByRole) => {
            let t = form.ctx.text;
            form.refused(&state, |v| v.mfa_error = Some(t.mfa_required_by_role))
                .await
        }
        Err(e) => {
            tracing::warn!(error = %e, "a page could not be served");
            Err(PageError::unavailable(&form.ctx))
        }
    }
}
