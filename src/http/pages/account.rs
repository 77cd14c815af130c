//! The account page (`/account`) and its forms: profile, password, sessions.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, RequestBody};
use poem::{Body, FromRequest, Request, Response, handler};

use super::browser::{PageContext, signed_in};
use super::form::{FormFields, app_state};
use super::render::{OrUnavailable, PageError, Stop, page, query, redirect};
use super::text::Text;
use crate::auth::{OwnSessionEnd, PasswordChange, PasswordChangeRequest};
use crate::domain::{Password, Profile, ProfilePatch, Session, SessionId, User, UserName};
use crate::http::{AppState, request_context};
use crate::oauth::BROWSER_CLIENT_ID;

struct SessionRow {
    id: String,
    client: String,
    user_agent: String,
    ip: String,
    last_used: String,
    current: bool,
}

/// A passkey as the account page lists it.
pub(super) struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    last_used: Option<String>,
}

#[derive(Template)]
#[template(path = "account.html")]
pub(super) struct AccountPage<'a> {
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
    mfa_on: bool,
    /// A role requires a second factor and TOTP is the only one: it cannot be turned off.
    mfa_required: bool,
    recovery_codes_left: u32,
    /// Whether the server offers passkeys (the section and its script).
    passkeys_on: bool,
    passkeys: Vec<PasskeyRow>,
    /// Whether a passkey may be removed (not the last factor a role requires).
    passkey_removable: bool,
    pub(super) mfa_error: Option<&'a str>,
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
        let mfa = state
            .second_factors
            .status(user)
            .await
            .map_err(|e| crate::store::StoreError::Internal(Box::new(e)))?;
        let passkey_removable = !mfa.required || mfa.totp || mfa.passkeys.len() > 1;
        let passkeys = mfa
            .passkeys
            .iter()
            .map(|p| PasskeyRow {
                id: p.id.to_string(),
                name: p.name.clone(),
                created: p.created_at.format("%Y-%m-%d").to_string(),
                last_used: p
                    .last_used_at
                    .map(|at| at.format("%Y-%m-%d %H:%M UTC").to_string()),
            })
            .collect();
        Ok(Self {
            t: ctx.text,
            csrf: &ctx.csrf,
            email: user.email.to_string(),
            email_verified: user.email_verified,
            name: user.name.to_string(),
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
            mfa_on: mfa.totp,
            mfa_required: mfa.required && mfa.passkeys.is_empty(),
            passkeys_on: state.second_factors.passkeys_on(),
            passkeys,
            passkey_removable,
            recovery_codes_left: mfa.recovery_codes_left,
            mfa_error: None,
        })
    }
}

/// The account page as `adjust` leaves it (a notice, a form's errors).
async fn render_account(
    state: &AppState,
    ctx: &PageContext,
    user: &User,
    current: &SessionId,
    status: StatusCode,
    adjust: impl FnOnce(&mut AccountPage<'_>),
) -> Result<Response, PageError> {
    let mut view = AccountPage::new(state, ctx, user, current)
        .await
        .or_unavailable(ctx)?;
    adjust(&mut view);
    Ok(page(ctx, status, view.render()))
}

/// The signed-in person, or where to send them to sign in.
async fn require_signed_in(state: &AppState, req: &Request) -> Result<(Session, User), PageError> {
    signed_in(state, req)
        .await
        .or_unavailable(&PageContext::new(state, req, None))?
        .ok_or_else(|| {
            let ctx = PageContext::new(state, req, None);
            PageError::new(&ctx, Stop::SignInFirst("/account".into()))
        })
}

/// A form posted from the account page: the signed-in person and the form. Before the
/// handler runs, someone not signed in is sent to sign in, and a form without this
/// browser's CSRF token is refused.
pub(super) struct AccountForm {
    session: Session,
    pub(super) user: User,
    pub(super) ctx: PageContext,
    pub(super) fields: FormFields,
}

impl<'a> FromRequest<'a> for AccountForm {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let state = app_state(req);
        let (session, user) = require_signed_in(state, req).await?;
        let ctx = PageContext::new(state, req, Some(&user));
        let body = body.take().unwrap_or_else(|_| Body::empty());
        let fields = FormFields::read_checked(&ctx, body).await?;
        Ok(Self {
            session,
            user,
            ctx,
            fields,
        })
    }
}

impl AccountForm {
    /// The account page again, with what `adjust` says was wrong in the form (422).
    pub(super) async fn refused(
        &self,
        state: &AppState,
        adjust: impl FnOnce(&mut AccountPage<'_>),
    ) -> Result<Response, PageError> {
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        render_account(
            state,
            &self.ctx,
            &self.user,
            &self.session.id,
            status,
            adjust,
        )
        .await
    }
}

/// `GET /account`
#[handler]
pub async fn account_page(state: Data<&AppState>, req: &Request) -> Result<Response, PageError> {
    let (session, user) = require_signed_in(&state, req).await?;
    let ctx = PageContext::new(&state, req, Some(&user));
    let notice = match query(req).get("done").map(String::as_str) {
        Some("saved") => Some(ctx.text.saved),
        Some("password") => Some(ctx.text.password_changed),
        Some("ended") => Some(ctx.text.sessions_ended),
        Some("mfa_removed") => Some(ctx.text.mfa_removed),
        Some("passkey_added") => Some(ctx.text.passkey_added),
        Some("passkey_removed") => Some(ctx.text.passkey_removed),
        // Only a password bcrypt read in part keeps the old hash past a sign-in.
        _ => state
            .accounts
            .needs_new_password(user.id)
            .await
            .or_unavailable(&ctx)?
            .then_some(ctx.text.choose_new_password),
    };
    render_account(&state, &ctx, &user, &session.id, StatusCode::OK, |v| {
        v.notice = notice
    })
    .await
}

/// `POST /account/profile`
#[handler]
pub async fn account_profile(
    state: Data<&AppState>,
    form: AccountForm,
) -> Result<Response, PageError> {
    let fields = &form.fields;
    let name = UserName::parse(&fields.text("name"));
    let text_field = |name: &str, parse: fn(&str) -> Result<String, crate::domain::Invalid>| {
        let value = fields.text(name);
        if value.trim().is_empty() {
            Ok(None)
        } else {
            parse(&value).map(Some)
        }
    };
    let language = text_field("preferred_language", Profile::parse_language);
    let country = text_field("country", Profile::parse_country);
    let city = text_field("city", Profile::parse_city);
    let (name, language, country, city) = match (name, language, country, city) {
        (Ok(name), Ok(language), Ok(country), Ok(city)) => (name, language, country, city),
        (name, language, _, _) => {
            let name_error = name.err().map(|e| e.to_string());
            let language_error = language.err().map(|e| e.to_string());
            return form
                .refused(&state, |v| {
                    v.name_error = name_error;
                    v.language_error = language_error;
                })
                .await;
        }
    };
    let patch = ProfilePatch {
        country: Some(country),
        city: Some(city),
        business_context: None,
        preferred_language: Some(language),
    };
    state
        .accounts
        .update_profile(form.user.id, Some(name), patch)
        .await
        .or_unavailable(&form.ctx)?;
    Ok(redirect("/account?done=saved"))
}

/// `POST /account/password`: every other session ends.
#[handler]
pub async fn account_password(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let (fields, t) = (&form.fields, form.ctx.text);
    let new_text = fields.text("password");
    let new = Password::parse(&new_text);
    let differs = fields
        .get("password_confirm")
        .is_some_and(|c| c != new_text);
    let new = match (new, differs) {
        (Ok(new), false) => new,
        (new, differs) => {
            let password_error = new.err().map(|e| e.to_string());
            return form
                .refused(&state, |v| {
                    v.password_error = password_error;
                    v.confirm_error = differs.then_some(t.passwords_differ);
                })
                .await;
        }
    };
    let request = PasswordChangeRequest {
        user: form.user.id,
        current: fields.get("current_password").unwrap_or(""),
        new: &new,
        keep: Some(&form.session.id),
    };
    let changed = state
        .self_service
        .change_password(request, &request_context(req))
        .await
        .or_unavailable(&form.ctx)?;
    match changed {
        PasswordChange::Changed => Ok(redirect("/account?done=password")),
        PasswordChange::Limited(limited) => Err(PageError::new(&form.ctx, Stop::TooMany(limited))),
        PasswordChange::WrongPassword => {
            form.refused(&state, |v| v.current_error = Some(t.wrong_password))
                .await
        }
    }
}

/// `POST /account/sessions/end`: signs one of the person's own sessions out.
#[handler]
pub async fn account_end_session(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let AccountForm {
        user, ctx, fields, ..
    } = form;
    let not_found = || {
        PageError::new(
            &ctx,
            Stop::Message(StatusCode::NOT_FOUND, ctx.text.bad_form),
        )
    };
    let sid = SessionId::parse(fields.get("sid").unwrap_or("")).map_err(|_| not_found())?;
    let ended = state
        .self_service
        .end_session(user.id, &sid, &request_context(req))
        .await
        .or_unavailable(&ctx)?;
    match ended {
        OwnSessionEnd::Ended => Ok(redirect("/account?done=ended")),
        OwnSessionEnd::NotFound => Err(not_found()),
    }
}

/// `POST /account/sessions/end-others`
#[handler]
pub async fn account_end_others(
    state: Data<&AppState>,
    req: &Request,
    form: AccountForm,
) -> Result<Response, PageError> {
    let AccountForm {
        session, user, ctx, ..
    } = form;
    state
        .self_service
        .end_other_sessions(user.id, &session.id, &request_context(req))
        .await
        .or_unavailable(&ctx)?;
    Ok(redirect("/account?done=ended"))
}
