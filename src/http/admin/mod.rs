//! The admin console (`/admin…`): server-rendered pages for administrators — the
//! dashboard, people, clients, signing keys and the audit log — calling the same admin
//! use cases as the admin API and the command line. One file per area; this one decides
//! who may see the console ([`Admin`]) and posts to it ([`AdminForm`]).
//!
//! Only signed-in people with the `admin` role get in (others: a 403 page; signed-out
//! visitors: the login page and back); when `GATEHOUSE_MFA_REQUIRED_ROLES` names `admin`,
//! the browser session must have used a second factor (else the login page asks for one).
//! Every change is a POST carrying the CSRF field.

mod audit;
mod charts;
mod clients;
mod dashboard;
mod keys;
mod people;
mod text;

use poem::web::RequestBody;
use poem::{Body, FromRequest, Request, Response};

use super::pages::browser::{PageContext, signed_in};
use super::pages::form::{FormFields, app_state};
use super::pages::login::{REQUIRED, SECOND_FACTOR};
use super::pages::render::{OrUnavailable, PageError, Stop, encode, redirect};
use crate::domain::{Acr, Role, User};
use text::AdminText;

pub use audit::admin_audit;
pub use clients::{admin_client_create, admin_client_delete, admin_clients};
pub use dashboard::admin_dashboard;
pub use keys::{admin_key_revoke, admin_key_rotate, admin_keys};
pub use people::{admin_people, admin_person, admin_person_action};

/// An administrator looking at the console.
pub struct Admin {
    pub ctx: PageContext,
    /// The console's words, in the page's language.
    pub a: &'static AdminText,
    pub user: User,
}

impl Admin {
    /// This administrator as the audit log records them, acting through `context`.
    pub fn acting<'a>(&self, context: &'a crate::auth::RequestContext) -> crate::auth::Acting<'a> {
        crate::auth::Acting {
            actor: crate::domain::Actor::Admin(self.user.id),
            context,
        }
    }
}

/// Whether `user` may use the console with `session`, and where to go if not.
async fn admit(req: &Request, back_to: &str) -> Result<Admin, PageError> {
    let state = app_state(req);
    let found = signed_in(state, req)
        .await
        .or_unavailable(&PageContext::new(state, req, None))?;
    let Some((session, user)) = found else {
        let ctx = PageContext::new(state, req, None);
        return Err(PageError::new(&ctx, Stop::SignInFirst(back_to.to_string())));
    };
    let ctx = PageContext::new(state, req, Some(&user));
    let a = text::for_lang(ctx.text.lang);
    if !user.roles.iter().any(Role::is_admin) {
        return Err(PageError::new(
            &ctx,
            Stop::Message(poem::http::StatusCode::FORBIDDEN, a.forbidden),
        ));
    }
    if state.second_factors.required_by_role(&user) && Acr::of(&session.amr) < Acr::SecondFactor {
        // RFC 9470's step-up, on the pages: sign in again with a second factor.
        let to = format!(
            "/login?return_to={}&{SECOND_FACTOR}={REQUIRED}",
            encode(back_to)
        );
        return Err(PageError::new(&ctx, Stop::Redirect(to)));
    }
    Ok(Admin { ctx, a, user })
}

impl<'a> FromRequest<'a> for Admin {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let back_to = req
            .uri()
            .path_and_query()
            .map_or("/admin".to_string(), |p| p.as_str().to_string());
        Ok(admit(req, &back_to).await?)
    }
}

/// A form posted in the console: an administrator, and the form with this browser's CSRF
/// token (refused with 403 before the handler runs).
pub struct AdminForm {
    pub admin: Admin,
    pub fields: FormFields,
}

impl<'a> FromRequest<'a> for AdminForm {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let admin = admit(req, "/admin").await?;
        let body = body.take().unwrap_or_else(|_| Body::empty());
        let fields = FormFields::read_checked(&admin.ctx, body).await?;
        Ok(Self { admin, fields })
    }
}

impl AdminForm {
    /// Whether the administrator ticked the confirmation of an action that cannot be
    /// undone.
    pub fn confirmed(&self) -> bool {
        self.fields.get("confirm") == Some("yes")
    }
}

#[derive(askama::Template)]
#[template(path = "admin/confirm.html")]
struct ConfirmPage<'a> {
    t: &'static crate::http::pages::text::Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    csrf: &'a str,
    message: &'a str,
    action: &'a str,
    fields: Vec<(String, String)>,
    back: &'a str,
}

/// Asks the administrator to confirm an action that cannot be undone: the same form
/// posted again to `action` with `fields` and `confirm=yes`, or back to `back`.
pub fn confirm_page(
    admin: &Admin,
    message: &str,
    action: &str,
    fields: Vec<(String, String)>,
    back: &str,
) -> Response {
    use askama::Template;
    let view = ConfirmPage {
        t: admin.ctx.text,
        a: admin.a,
        notice: None,
        csrf: &admin.ctx.csrf,
        message,
        action,
        fields,
        back,
    };
    super::pages::render::page(&admin.ctx, poem::http::StatusCode::OK, view.render())
}

/// Back to `path` with the notice `done` (the pages show what happened).
pub fn done(path: &str, done: &str) -> Response {
    let separator = if path.contains('?') { '&' } else { '?' };
    redirect(&format!("{path}{separator}done={done}"))
}

/// A failure that is no wrong input: logged, and answered as an outage page.
pub fn outage(ctx: &PageContext, e: impl std::fmt::Display) -> PageError {
    tracing::warn!(error = %e, "a console page could not be served");
    PageError::unavailable(ctx)
}

/// The timestamp format of the console's tables.
pub fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
