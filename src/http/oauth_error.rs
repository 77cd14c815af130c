//! RFC 6749 §5.2 error answers of the OAuth endpoints (`/oauth2/token`,
//! `/oauth2/introspect`, `/oauth2/revoke`, `/api/v1/auth/token`): the one place that turns
//! an [`OAuthError`] — or an error raised before a handler ran — into status, headers and
//! JSON body.

use poem::Response;
use poem::http::StatusCode;
use poem_openapi::Object;
use poem_openapi::payload::Json;
use poem_openapi::types::ToJSON;

use crate::oauth::{ErrorCode, OAuthError};

/// RFC 6749 §5.2: the challenge that answers a failed HTTP Basic client authentication.
const BASIC_CHALLENGE: &str = r#"Basic realm="gatehouse", charset="UTF-8""#;

/// Seconds a client is told to wait when a dependency is down.
const UNAVAILABLE_RETRY_AFTER: u64 = 5;

/// An error of the token endpoint (RFC 6749 §5.2).
#[derive(Object)]
#[oai(rename = "OAuthError")]
pub struct OAuthErrorBody {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `temporarily_unavailable`, …
    pub error: String,
    /// Human-readable; for developers, not for end users.
    #[oai(skip_serializing_if_is_none)]
    pub error_description: Option<String>,
    /// With `mfa_required` (403): the single-use token to send with the second factor's
    /// code (`grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp`), good for 5 minutes.
    #[oai(skip_serializing_if_is_none)]
    pub mfa_token: Option<String>,
}

/// How an [`OAuthError`] is answered: the status, with the header that goes with it,
/// and the body. Each endpoint's documented response type is made from it.
pub enum OAuthFailure {
    /// 400: the request, grant or scope is not acceptable.
    BadRequest(Json<OAuthErrorBody>),
    /// 401, with a Basic challenge when the client tried HTTP Basic.
    InvalidClient(Json<OAuthErrorBody>, Option<String>),
    /// 403 `mfa_required` or `mfa_enrollment_required`: the password was right, a second
    /// factor is needed (or must be set up first).
    Forbidden(Json<OAuthErrorBody>),
    /// 429 with `Retry-After`.
    TooManyRequests(Json<OAuthErrorBody>, u64),
    /// 500; the description says nothing about the cause.
    ServerError(Json<OAuthErrorBody>),
    /// 503 with `Retry-After`.
    Unavailable(Json<OAuthErrorBody>, u64),
}

impl OAuthFailure {
    /// `basic_attempted`: whether the request carried an `Authorization: Basic` header.
    pub fn new(error: OAuthError, basic_attempted: bool) -> Self {
        let retry_after = error.retry_after;
        let code = error.code;
        let mut body = Json(OAuthErrorBody::new(code, error.description.into_owned()));
        body.0.mfa_token = error.mfa_token.map(|t| t.into_inner());
        match code {
            ErrorCode::MfaRequired | ErrorCode::MfaEnrollmentRequired => Self::Forbidden(body),
            ErrorCode::InvalidClient => {
                Self::InvalidClient(body, basic_attempted.then(|| BASIC_CHALLENGE.to_string()))
            }
            ErrorCode::SlowDown => Self::TooManyRequests(body, retry_after.unwrap_or(60)),
            ErrorCode::TemporarilyUnavailable => Self::Unavailable(body, UNAVAILABLE_RETRY_AFTER),
            ErrorCode::ServerError => Self::ServerError(body),
            ErrorCode::InvalidRequest
            | ErrorCode::InvalidGrant
            | ErrorCode::UnauthorizedClient
            | ErrorCode::UnsupportedGrantType
            | ErrorCode::InvalidScope => Self::BadRequest(body),
        }
    }
}

impl OAuthErrorBody {
    fn new(code: ErrorCode, description: String) -> Self {
        Self {
            error: code.as_str().to_string(),
            error_description: Some(description),
            mfa_token: None,
        }
    }
}

/// The answer at an OAuth path to an error raised before its handler ran (a wrong
/// method, a body too large, a timeout, a refused header): the code that fits the
/// status, and a status the client can act on. No `Retry-After` is promised here.
pub fn before_handler(status: StatusCode, detail: &str) -> Response {
    let (code, status) = match status {
        StatusCode::SERVICE_UNAVAILABLE => (ErrorCode::TemporarilyUnavailable, status),
        s if s.is_server_error() => (ErrorCode::ServerError, s),
        StatusCode::PAYLOAD_TOO_LARGE => (ErrorCode::InvalidRequest, status),
        StatusCode::UNAUTHORIZED => (ErrorCode::InvalidClient, status),
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => {
            (ErrorCode::InvalidRequest, status)
        }
        _ => (ErrorCode::InvalidRequest, StatusCode::BAD_REQUEST),
    };
    let body = OAuthErrorBody::new(code, detail.to_string());
    Response::builder()
        .status(status)
        .content_type("application/json")
        .body(body.to_json_string())
}
