//! Posted forms: the fields of a body, and the extractor that accepts a form only with
//! this browser's CSRF token.

use std::collections::HashMap;

use poem::web::RequestBody;
use poem::{Body, FromRequest, Request};

use super::browser::PageContext;
use super::render::{PageError, Stop};
use crate::http::AppState;

/// A form body, by field name (the last value wins).
pub struct FormFields(pub HashMap<String, String>);

impl FormFields {
    /// Reads the body; one that cannot be read is an empty form.
    pub async fn read(body: Body) -> Self {
        let bytes = body.into_vec().await.unwrap_or_default();
        Self(url::form_urlencoded::parse(&bytes).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or("").to_string()
    }

    /// Reads the form posted with `ctx`'s page, refused unless it carries the browser's
    /// CSRF token (double submit).
    pub async fn read_checked(ctx: &PageContext, body: Body) -> Result<Self, PageError> {
        let form = Self::read(body).await;
        if ctx.csrf_matches(form.get("csrf")) {
            Ok(form)
        } else {
            Err(PageError::new(ctx, Stop::BadForm))
        }
    }
}

/// The state every extractor needs; `routes` adds it to every request.
pub fn app_state(req: &Request) -> &AppState {
    req.data::<AppState>()
        .expect("the routes give every request the AppState")
}

/// A form posted by someone not (necessarily) signed in, with this browser's CSRF token;
/// a form without it is answered 403 before the handler runs.
pub struct CsrfForm {
    pub ctx: PageContext,
    pub fields: FormFields,
}

impl<'a> FromRequest<'a> for CsrfForm {
    async fn from_request(req: &'a Request, body: &mut RequestBody) -> poem::Result<Self> {
        let ctx = PageContext::new(app_state(req), req, None);
        let body = body.take().unwrap_or_else(|_| Body::empty());
        let fields = FormFields::read_checked(&ctx, body).await?;
        Ok(Self { ctx, fields })
    }
}
