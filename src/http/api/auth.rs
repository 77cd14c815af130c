//! Registration and the signed-in user's own account.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use super::body::{Fields, JsonBody};
use super::security::BearerAuth;
use super::views::{
    RegisterRequest, UpdateMeRequest, UserView, parse_registration, parse_update_me,
};
use crate::auth::Via;
use crate::http::AppState;
use crate::http::problem::ApiError;
use crate::store::EmailPurpose;

#[derive(Default)]
pub struct AuthApi;

/// A request for a mailed link (password reset or address verification).
#[derive(Debug, Object)]
#[allow(dead_code)] // documents the body; it is read field by field (JsonBody)
#[oai(rename = "LinkRequest")]
pub struct LinkRequest {
    /// The address of the account.
    ///
    /// `local@domain`, at most 254 characters (64 before the `@`); international
    /// characters are allowed on both sides (RFC 6531), spaces and control characters
    /// are not; the domain has at least two labels of letters, digits and hyphens.
    /// Compared without regard to case.
    #[oai(validator(max_length = 254))]
    pub email: String,
}

/// What a request for a mailed link gets, whoever asks.
#[derive(Debug, Object)]
struct LinkRequested {
    message: String,
}

#[derive(ApiResponse)]
enum LinkAccepted {
    /// The same answer whether or not an account has this address.
    #[oai(status = 202)]
    Accepted(Json<LinkRequested>),
}

#[derive(ApiResponse)]
enum Registered {
    /// The account was created.
    #[oai(status = 201)]
    Created(Json<UserView>),
}

/// Both requests for a mailed link: validate the address, then the same answer for any.
async fn ask_for_link(
    state: &AppState,
    req: &poem::Request,
    body: &JsonBody<LinkRequest>,
    purpose: EmailPurpose,
) -> Result<LinkAccepted, ApiError> {
    let mut fields = Fields::new(&body.object);
    let email = fields.required_str("email").and_then(|v| {
        let parsed = crate::domain::Email::parse(v);
        fields.check("email", parsed)
    });
    let (Some(email), true) = (email, fields.errors.is_empty()) else {
        return Err(ApiError::validation(fields.errors));
    };
    let message = match purpose {
        EmailPurpose::Reset => {
            "If an account has this address, a link to reset its password is on its way."
        }
        EmailPurpose::Verify => {
            "If an account with this address still needs confirming, a new link is on its way."
        }
    };
    let ip = crate::http::request_context(req).ip;
    match state.links.request(email, purpose, ip).await? {
        crate::auth::LinkRequested::Accepted => Ok(LinkAccepted::Accepted(Json(LinkRequested {
            message: message.into(),
        }))),
        crate::auth::LinkRequested::Limited(limited) => Err(ApiError::too_many(limited)),
    }
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "ApiTags::Auth")]
impl AuthApi {
    /// Create an account.
    ///
    /// The account starts with no roles and an unverified email; a link that verifies it
    /// is mailed to the address (in the account's `preferred_language`, English or
    /// French). An email that differs from an existing one only in case is taken (409).
    #[oai(path = "/register", method = "post", operation_id = "register")]
    async fn register(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<RegisterRequest>,
    ) -> Result<Registered, ApiError> {
        let context = crate::http::request_context(req);
        if let Err(limited) = state.signup.admit(&context).await? {
            return Err(ApiError::too_many(limited));
        }
        let registration = parse_registration(&body.object).map_err(ApiError::validation)?;
        let user = state
            .signup
            .register(registration, Via::Api, &context)
            .await?;
        Ok(Registered::Created(Json(user.into())))
    }

    /// Ask for a password-reset link.
    ///
    /// Always 202 with the same body, whether or not an account has the address; only
    /// an account that has it (and is not disabled) gets the mail, a link to
    /// `/reset-password` that works once and expires after `GATEHOUSE_PASSWORD_RESET_TTL`.
    /// Limited per client IP and per address (429).
    #[oai(
        path = "/password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn password_reset(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<LinkRequest>,
    ) -> Result<LinkAccepted, ApiError> {
        ask_for_link(&state, req, &body, EmailPurpose::Reset).await
    }

    /// Ask for a new address-verification link.
    ///
    /// For people who cannot sign in yet (`GATEHOUSE_REQUIRE_VERIFIED_EMAIL`) as well as
    /// those who can. Always 202 with the same body; only an enabled account that has the
    /// address, still unverified, gets the mail. Limited per client IP and per address
    /// (429), together with password-reset requests.
    #[oai(
        path = "/verify-email",
        method = "post",
        operation_id = "requestVerificationEmail"
    )]
    async fn verify_email(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        body: JsonBody<LinkRequest>,
    ) -> Result<LinkAccepted, ApiError> {
        ask_for_link(&state, req, &body, EmailPurpose::Verify).await
    }

    /// The signed-in user.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn get_me(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<UserView>, ApiError> {
        let user = state
            .accounts
            .active_user(auth.own_user(&state).await?)
            .await?;
        Ok(Json(user.into()))
    }

    /// Change the signed-in user's name or profile.
    ///
    /// Each profile field given replaces the stored one; `null` clears it.
    #[oai(path = "/me", method = "patch", operation_id = "updateMe")]
    async fn update_me(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<UpdateMeRequest>,
    ) -> Result<Json<UserView>, ApiError> {
        let id = auth.own_user(&state).await?;
        let (name, patch) = parse_update_me(&body.object).map_err(ApiError::validation)?;
        let user = state.accounts.update_profile(id, name, patch).await?;
        Ok(Json(user.into()))
    }
}
