//! Creating an account on the pages (`/register`): the person is signed in at once.

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Request, Response, handler};

use super::browser::PageContext;
use super::form::CsrfForm;
use super::login::{return_to, start_browser_session};
use super::render::{OrUnavailable, PageError, Stop, encode, page, query};
use super::text::Text;
use crate::auth::{AuthError, Registration, Via};
use crate::domain::{Email, Password, Profile, UserName};
use crate::http::{AppState, request_context};

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
    let return_to = return_to(query(req).get("return_to").map(String::as_str));
    page(
        &ctx,
        StatusCode::OK,
        RegisterPage::new(&ctx, &return_to).render(),
    )
}

/// `POST /register`: creates the account and signs the person in.
#[handler]
pub async fn register_submit(
    state: Data<&AppState>,
    req: &Request,
    form: CsrfForm,
) -> Result<Response, PageError> {
    let CsrfForm { ctx, fields: form } = form;
    let return_to = return_to(form.get("return_to"));
    let context = request_context(req);
    if let Err(limited) = state.signup.admit(&context).await.or_unavailable(&ctx)? {
        return Err(PageError::new(&ctx, Stop::TooMany(limited)));
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
        return Ok(page(&ctx, StatusCode::UNPROCESSABLE_ENTITY, view.render()));
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
    let user = match state
        .signup
        .register(registration, Via::RegisterPage, &context)
        .await
    {
        Ok(user) => user,
        Err(AuthError::EmailTaken) => {
            view.email_error = Some(ctx.text.email_taken.to_string());
            return Ok(page(&ctx, StatusCode::CONFLICT, view.render()));
        }
        Err(e) => return Err(e).or_unavailable(&ctx),
    };
    start_browser_session(&state, req, &user, &return_to).await
}
