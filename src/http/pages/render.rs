//! Rendering: a template into a page with the headers every page gets, redirects, and
//! the pages that stop a request ([`PageError`]).

use std::collections::HashMap;
use std::fmt::Display;

use askama::Template;
use poem::http::header::{CONTENT_SECURITY_POLICY, LOCATION, SET_COOKIE};
use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Request, Response};

use super::browser::PageContext;
use super::text::Text;
use crate::limits::Limited;
use crate::oauth::Untrusted;

/// Renders a page with the headers every page gets.
pub fn page(
    ctx: &PageContext,
    status: StatusCode,
    html: Result<String, askama::Error>,
) -> Response {
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
    // Pages load only their own stylesheet and script (passkeys), call only this server,
    // and are never framed.
    response.headers_mut().insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; \
             connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    if let Some(cookie) = ctx.csrf_cookie() {
        response.headers_mut().append(SET_COOKIE, cookie.clone());
    }
    response
}

pub fn redirect(to: &str) -> Response {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(LOCATION, to)
        .finish()
}

/// `value` as a query-string component.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The parameters of the request's query string (the last value of a name wins).
pub fn query(req: &Request) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    t: &'static Text,
    message: &'a str,
}

pub fn error_page(ctx: &PageContext, status: StatusCode, message: &str) -> Response {
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

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    t: &'static Text,
    title: &'a str,
    message: &'a str,
}

/// A page that tells the person something happened: a title and a sentence.
pub fn notice_page(ctx: &PageContext, title: &str, message: &str) -> Response {
    let view = NoticePage {
        t: ctx.text,
        title,
        message,
    };
    page(ctx, StatusCode::OK, view.render())
}

/// Why a page request stops, and the page that says so.
#[derive(Debug)]
pub enum Stop {
    /// A dependency is down: 503, try again shortly.
    Unavailable,
    /// A rate limit was reached: 429 with its `Retry-After`.
    TooMany(Limited),
    /// A form without this browser's CSRF token: 403.
    BadForm,
    /// An error page with this status and sentence (from the texts).
    Message(StatusCode, &'static str),
    /// An authorization request that cannot be answered to its client: 400.
    Untrusted(Untrusted),
    /// The person must sign in first, then come back to this path.
    SignInFirst(String),
    /// The browser goes elsewhere: an authorization request's client hears of an error.
    Redirect(String),
}

/// A request stopped: the page that says why, in the browser's language. Handlers return
/// `Result<Response, PageError>` and stop with `?`.
pub struct PageError {
    ctx: PageContext,
    stop: Stop,
}

impl PageError {
    pub fn new(ctx: &PageContext, stop: Stop) -> Self {
        Self {
            ctx: ctx.clone(),
            stop,
        }
    }

    pub fn unavailable(ctx: &PageContext) -> Self {
        Self::new(ctx, Stop::Unavailable)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let ctx = &self.ctx;
        let t = ctx.text;
        match self.stop {
            Stop::Unavailable => {
                let mut response = error_page(ctx, StatusCode::SERVICE_UNAVAILABLE, t.unavailable);
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("5"));
                response
            }
            Stop::TooMany(limited) => {
                let mut response = error_page(ctx, StatusCode::TOO_MANY_REQUESTS, t.too_many);
                if let Ok(value) = HeaderValue::from_str(&limited.retry_after.to_string()) {
                    response.headers_mut().insert("retry-after", value);
                }
                response
            }
            Stop::BadForm => error_page(ctx, StatusCode::FORBIDDEN, t.bad_form),
            Stop::Message(status, message) => error_page(ctx, status, message),
            Stop::Untrusted(why) => error_page(ctx, StatusCode::BAD_REQUEST, &t.untrusted(why)),
            Stop::SignInFirst(back_to) => {
                redirect(&format!("/login?return_to={}", encode(&back_to)))
            }
            Stop::Redirect(to) => redirect(&to),
        }
    }
}

/// Poem takes a handler's error as a `poem::Error`; one built from a response is sent
/// as it is.
impl From<PageError> for poem::Error {
    fn from(error: PageError) -> Self {
        poem::Error::from_response(error.into_response())
    }
}

/// `?` on a dependency's result: its failure is logged and answered as an outage page.
pub trait OrUnavailable<T> {
    fn or_unavailable(self, ctx: &PageContext) -> Result<T, PageError>;
}

impl<T, E: Display> OrUnavailable<T> for Result<T, E> {
    fn or_unavailable(self, ctx: &PageContext) -> Result<T, PageError> {
        self.map_err(|e| {
            tracing::warn!(error = %e, "a page could not be served");
            PageError::unavailable(ctx)
        })
    }
}
