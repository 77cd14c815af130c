//! RFC 6749 §5.2 error codes, with a description safe to show the client.

use std::borrow::Cow;

use crate::auth::{AuthError, HashError};
use crate::store::StoreError;

/// The `error` values the token endpoint answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// Too many attempts (not in RFC 6749; answered with 429).
    SlowDown,
    /// A dependency is down (RFC 6749 §4.1.2.1); clients keep their tokens and retry.
    TemporarilyUnavailable,
    ServerError,
    /// The password was right; the account asks for a second factor (403, with an
    /// `mfa_token` for the `mfa-otp` grant).
    MfaRequired,
    /// The password was right; the person's role requires a second factor and they have
    /// none: they set one up on the sign-in page first (403).
    MfaEnrollmentRequired,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::SlowDown => "slow_down",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::ServerError => "server_error",
            Self::MfaRequired => "mfa_required",
            Self::MfaEnrollmentRequired => "mfa_enrollment_required",
        }
    }
}

/// An error of the token endpoint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// Seconds to wait, for `slow_down`.
    pub retry_after: Option<u64>,
    /// For `mfa_required`: the token the `mfa-otp` grant answers with.
    pub mfa_token: Option<crate::domain::Secret<String>>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            retry_after: None,
            mfa_token: None,
        }
    }

    /// The password was right; the second step is the `mfa-otp` grant with `mfa_token`.
    pub fn mfa_required(mfa_token: crate::domain::Secret<String>) -> Self {
        Self {
            mfa_token: Some(mfa_token),
            ..Self::new(
                ErrorCode::MfaRequired,
                "this account has a second factor: send a code with the mfa-otp grant \
                 (grant_type=urn:gatehouse:params:oauth:grant-type:mfa-otp) and this mfa_token",
            )
        }
    }

    /// The person must set up a second factor, which the password grant cannot do.
    pub fn mfa_enrollment_required() -> Self {
        Self::new(
            ErrorCode::MfaEnrollmentRequired,
            "this account must have a second factor and has none: sign in once on the \
             server's /login page to set it up",
        )
    }

    /// Too many attempts (429 with `Retry-After`).
    pub fn slow_down(limited: crate::limits::Limited) -> Self {
        Self {
            retry_after: Some(limited.retry_after),
            ..Self::new(
                ErrorCode::SlowDown,
                "too many attempts; wait before trying again",
            )
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn unavailable() -> Self {
        Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the service is temporarily unavailable; try again shortly",
        )
    }

    pub fn server_error() -> Self {
        Self::new(
            ErrorCode::ServerError,
            "the server could not handle the request",
        )
    }
}

/// A storage failure: unavailable storage is `temporarily_unavailable`, so clients keep
/// their tokens; a value the store refused came from the request; anything else is a
/// server error.
impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e.logged() {
            StoreError::Unavailable(_) => Self::unavailable(),
            StoreError::Rejected(_) => {
                Self::invalid_request("the request holds a value that cannot be stored")
            }
            other => {
                tracing::error!(error = %other, "storage failed");
                Self::server_error()
            }
        }
    }
}

/// A failure of the sign-in core that the grant does not answer itself: storage as
/// above, a saturated password hasher as `temporarily_unavailable`, the rest a server
/// error.
impl From<AuthError> for OAuthError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Store(e) => e.into(),
            AuthError::Hash(HashError::Busy) => Self::unavailable(),
            other => {
                tracing::error!(error = %other, "the token request failed");
                Self::server_error()
            }
        }
    }
}
