//! RFC 9457 problem details for `/api/v1` errors, and the one place where core errors
//! become HTTP statuses.

use poem::http::StatusCode;
use poem_openapi::{ApiResponse, Object, payload::Json};

use crate::auth::AuthError;
use crate::store::StoreError;

/// A field that failed validation.
#[derive(Clone, Debug, Object)]
pub struct FieldError {
    /// The JSON path of the field, such as `email` or `profile.country`.
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details.
#[derive(Clone, Debug, Object)]
pub struct Problem {
    /// Always `about:blank` (RFC 9457 §4.2.1): the status is the kind of problem,
    /// `title` its phrase, `detail` what went wrong.
    #[oai(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// Each invalid field, for validation problems.
    #[oai(skip_serializing_if_is_none)]
    pub errors: Option<Vec<FieldError>>,
    /// The request id (also the `X-Request-Id` header), to find the request and its
    /// cause in the server's log. Every problem carries it.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<Option<String>>) -> Self {
        Self {
            // RFC 9457 §4.2.1: the status says what kind of problem it is; `title` is its
            // phrase and `detail` the specifics.
            kind: "about:blank".to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
            request_id: None,
        }
    }

    /// The problem as an `application/problem+json` response, for errors that no operation
    /// answered (poem's, the pipeline's).
    pub fn response(&self) -> poem::Response {
        use poem_openapi::types::ToJSON;
        poem::Response::builder()
            .status(StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .content_type("application/problem+json")
            .body(self.to_json_string())
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self {
            errors: Some(errors),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("the request has invalid fields".to_string()),
            )
        }
    }
}

/// The challenge of a route whose clients authenticate with HTTP Basic (RFC 6749 §2.3.1).
pub const BASIC_CHALLENGE: &str = r#"Basic realm="gatehouse", charset="UTF-8""#;

/// The errors every `/api/v1` operation may answer with.
#[derive(Debug, ApiResponse)]
pub enum ApiError {
    /// The request is malformed.
    #[oai(status = 400, content_type = "application/problem+json")]
    BadRequest(Json<Problem>),
    /// Missing or invalid bearer token.
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// The token is valid but does not allow this.
    #[oai(status = 403, content_type = "application/problem+json")]
    Forbidden(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Nothing at this path, such as an unknown user or session.
    #[oai(status = 404, content_type = "application/problem+json")]
    NotFound(Json<Problem>),
    /// The body did not arrive within `GATEHOUSE_REQUEST_TIMEOUT`.
    #[oai(status = 408, content_type = "application/problem+json")]
    RequestTimeout(Json<Problem>),
    /// Conflicts with existing data, such as an email that is taken.
    #[oai(status = 409, content_type = "application/problem+json")]
    Conflict(Json<Problem>),
    /// The body is larger than the server accepts.
    #[oai(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Json<Problem>),
    /// The body is not JSON (`Content-Type` missing or another type).
    #[oai(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Json<Problem>),
    /// One or more fields are invalid; `errors` names each.
    #[oai(status = 422, content_type = "application/problem+json")]
    Unprocessable(Json<Problem>),
    /// A rate limit was reached; retry after the given seconds.
    #[oai(status = 429, content_type = "application/problem+json")]
    TooManyRequests(Json<Problem>, #[oai(header = "Retry-After")] u64),
    /// An unexpected failure; the body names only the request id.
    #[oai(status = 500, content_type = "application/problem+json")]
    Internal(Json<Problem>),
    /// A dependency (database, Redis) is unavailable; retry later.
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::BadRequest(said(StatusCode::BAD_REQUEST, detail))
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::Unprocessable(Json(Problem::validation(errors)))
    }

    /// RFC 6750 §3.1: an invalid token names `invalid_token` in the challenge.
    pub fn invalid_token(detail: &str) -> Self {
        Self::Unauthorized(
            said(StatusCode::UNAUTHORIZED, detail),
            format!(r#"Bearer error="invalid_token", error_description="{detail}""#),
        )
    }

    /// RFC 9470 §3: the person signed in, but not strongly enough for this: sign in
    /// again with a second factor (`acr_values` says how strongly).
    pub fn insufficient_user_authentication() -> Self {
        let detail = "this needs a sign-in with a second factor";
        Self::Unauthorized(
            said(StatusCode::UNAUTHORIZED, detail),
            format!(
                r#"Bearer error="insufficient_user_authentication", error_description="{detail}", acr_values="{}""#,
                crate::domain::Acr::SecondFactor.as_str()
            ),
        )
    }

    /// RFC 6750 §3.1: the token lacks the privilege (here: the `admin` role).
    pub fn insufficient_scope(detail: &str) -> Self {
        Self::Forbidden(
            said(StatusCode::FORBIDDEN, detail),
            format!(r#"Bearer error="insufficient_scope", error_description="{detail}""#),
        )
    }

    /// 401 for a client whose HTTP Basic credentials are refused.
    pub fn client_refused(detail: &str) -> Self {
        Self::Unauthorized(
            said(StatusCode::UNAUTHORIZED, detail),
            BASIC_CHALLENGE.to_string(),
        )
    }

    /// 403 for a client that authenticated but may not do this.
    pub fn client_forbidden(detail: &str) -> Self {
        Self::Forbidden(
            said(StatusCode::FORBIDDEN, detail),
            BASIC_CHALLENGE.to_string(),
        )
    }

    /// A client authentication that failed: 503 or 500 when the check itself could not
    /// be made, else 401.
    pub fn client_authentication(error: &crate::oauth::OAuthError) -> Self {
        use crate::oauth::ErrorCode;
        match error.code {
            ErrorCode::TemporarilyUnavailable => Self::unavailable(),
            ErrorCode::ServerError => Self::internal(error),
            _ => Self::client_refused("client authentication failed"),
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound(said(StatusCode::NOT_FOUND, detail))
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict(said(StatusCode::CONFLICT, detail))
    }

    /// 429: a rate limit was reached.
    pub fn too_many(limited: crate::limits::Limited) -> Self {
        Self::TooManyRequests(
            said(
                StatusCode::TOO_MANY_REQUESTS,
                "too many attempts; wait before trying again",
            ),
            limited.retry_after,
        )
    }

    pub fn unavailable() -> Self {
        Self::Unavailable(
            said(
                StatusCode::SERVICE_UNAVAILABLE,
                "a dependency is unavailable; try again shortly",
            ),
            5,
        )
    }

    /// A 500 whose body says nothing about the cause; the cause goes to the log.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::Internal(said(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the server could not handle the request",
        ))
    }
}

/// A problem body of `status` saying `detail`.
fn said(status: StatusCode, detail: impl Into<String>) -> Json<Problem> {
    Json(Problem::new(status, Some(detail.into())))
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e.logged() {
            StoreError::Unavailable(_) => Self::unavailable(),
            StoreError::Rejected(_) => {
                Self::bad_request("the request holds a value that cannot be stored")
            }
            StoreError::Conflict(rule) => {
                Self::conflict(format!("conflicts with existing data ({rule})"))
            }
            other => Self::internal(&other),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::EmailTaken => Self::conflict("an account with this email already exists"),
            // A token for an account that is gone or disabled is no longer good.
            AuthError::UnknownUser => Self::invalid_token("the account no longer exists"),
            AuthError::AccountDisabled => Self::invalid_token("the account is disabled"),
            AuthError::InvalidCredentials => Self::bad_request("invalid email or password"),
            AuthError::EmailNotVerified => Self::bad_request("the email address is not verified"),
            AuthError::Store(e) => e.into(),
            AuthError::Hash(crate::auth::HashError::Busy) => Self::unavailable(),
            AuthError::Hash(e) => Self::internal(&e),
        }
    }
}

impl From<crate::auth::MfaError> for ApiError {
    fn from(e: crate::auth::MfaError) -> Self {
        use crate::auth::MfaError;
        let field = |field: &str, message: &str| {
            Self::validation(vec![FieldError {
                field: field.into(),
                message: message.into(),
            }])
        };
        match e {
            MfaError::WrongPassword => field("password", "is not the current password"),
            MfaError::WrongCode | MfaError::WrongFirstCode(_) => {
                field("code", "is not right, or has been used already")
            }
            MfaError::AlreadyEnrolled
            | MfaError::NotEnrolling
            | MfaError::NotEnrolled
            | MfaError::RequiredByRole
            | MfaError::PasskeyTaken => Self::conflict(e.to_string()),
            MfaError::BadPasskeyName => field("name", &e.to_string()),
            MfaError::UnknownCeremony => field("ceremony_id", &e.to_string()),
            MfaError::PasskeyRefused(_) => field("credential", &e.to_string()),
            MfaError::NoSuchPasskey | MfaError::PasskeysOff => Self::not_found(e.to_string()),
            MfaError::Limited(limited) => Self::too_many(limited),
            MfaError::Unreadable => Self::internal(&e),
            MfaError::Auth(e) => e.into(),
        }
    }
}

impl From<crate::oauth::AccessError> for ApiError {
    fn from(e: crate::oauth::AccessError) -> Self {
        match e {
            crate::oauth::AccessError::Store(e) => e.into(),
            // RFC 6750 §3.1: a token that is not good (any more) names the reason.
            e => Self::invalid_token(&e.to_string()),
        }
    }
}
