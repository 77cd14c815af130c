//! The signed-in person's second factors: TOTP enrollment and removal, recovery codes.

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::body::{Fields, JsonBody};
use super::security::BearerAuth;
use super::views::Done;
use crate::domain::User;
use crate::http::problem::ApiError;
use crate::http::{AppState, request_context};

/// Which second factors the signed-in person has.
#[derive(Debug, Object)]
#[oai(rename = "SecondFactors")]
pub struct SecondFactorsView {
    /// Whether a TOTP authenticator is in force.
    pub totp: bool,
    /// Unused recovery codes (0 without TOTP).
    pub recovery_codes_left: u32,
    /// The person's passkeys (also at `/api/v1/auth/passkeys`).
    pub passkeys: Vec<super::passkeys::PasskeyView>,
    /// A role of the person requires a second factor (`GATEHOUSE_MFA_REQUIRED_ROLES`): the
    /// last one cannot be removed (409).
    pub required: bool,
}

/// The current password, to start an enrollment.
#[derive(Debug, Object)]
#[allow(dead_code)] // documents the body; it is read field by field (JsonBody)
#[oai(rename = "StartTotpRequest")]
pub struct StartTotpRequest {
    pub password: String,
}

/// A TOTP secret to put into an authenticator app, typed in or as a QR code of the URI.
/// Not in force until confirmed with a first code.
#[derive(Debug, Object)]
#[oai(rename = "TotpEnrollment")]
pub struct TotpEnrollment {
    /// Base32, no padding.
    pub secret: String,
    /// `otpauth://totp/ISSUER:EMAIL?secret=…&issuer=ISSUER`.
    pub otpauth_uri: String,
}

/// A code: six digits from the authenticator app, or (to remove the factor or renew the
/// recovery codes) a recovery code.
#[derive(Debug, Object)]
#[allow(dead_code)] // documents the body; it is read field by field (JsonBody)
#[oai(rename = "SecondFactorCode")]
pub struct CodeRequest {
    #[oai(validator(max_length = 64))]
    pub code: String,
}

/// Recovery codes, shown once: each signs in once in place of a TOTP code.
#[derive(Debug, Object)]
#[oai(rename = "RecoveryCodes")]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

#[derive(Default)]
pub struct MfaApi;

/// The one field a body must carry, or the validation problem saying so.
fn required<'a>(body: &'a JsonBody<impl Send + Sync>, field: &str) -> Result<&'a str, ApiError> {
    let mut fields = Fields::new(&body.object);
    match fields.required_str(field) {
        Some(value) if fields.errors.is_empty() => Ok(value),
        _ => Err(ApiError::validation(fields.errors)),
    }
}

/// The person a first-party token speaks for, if their account is active.
pub(super) async fn signed_in(state: &AppState, auth: &BearerAuth) -> Result<User, ApiError> {
    let id = auth.own_user(state).await?;
    Ok(state.accounts.active_user(id).await?)
}

#[OpenApi(prefix_path = "/api/v1/auth/mfa", tag = "ApiTags::Auth")]
impl MfaApi {
    /// The signed-in person's second factors.
    #[oai(path = "/", method = "get", operation_id = "getMySecondFactors")]
    async fn status(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<SecondFactorsView>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let status = state.second_factors.status(&user).await?;
        Ok(Json(SecondFactorsView {
            totp: status.totp,
            recovery_codes_left: status.recovery_codes_left,
            passkeys: status.passkeys.iter().map(Into::into).collect(),
            required: status.required,
        }))
    }

    /// Start TOTP enrollment with the current password. Starting again replaces a secret
    /// not confirmed yet; with TOTP already in force it is 409.
    #[oai(path = "/totp", method = "post", operation_id = "startTotpEnrollment")]
    async fn start(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<StartTotpRequest>,
    ) -> Result<Json<TotpEnrollment>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let password = required(&body, "password")?;
        let enrollment = state
            .second_factors
            .start_totp(&user, password, &request_context(req))
            .await?;
        Ok(Json(TotpEnrollment {
            secret: enrollment.secret.expose().clone(),
            otpauth_uri: enrollment.otpauth_uri.expose().clone(),
        }))
    }

    /// Confirm the enrollment with a first code: TOTP is in force, and the answer holds
    /// ten recovery codes, shown this once.
    #[oai(path = "/totp/confirm", method = "post", operation_id = "confirmTotp")]
    async fn confirm(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<CodeRequest>,
    ) -> Result<Json<RecoveryCodes>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let code = required(&body, "code")?;
        let recovery_codes = state
            .second_factors
            .confirm_totp(&user, code, &request_context(req))
            .await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }

    /// Remove TOTP (and the recovery codes) with a current TOTP code or a recovery code.
    #[oai(path = "/totp/remove", method = "post", operation_id = "removeTotp")]
    async fn remove(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<CodeRequest>,
    ) -> Result<Done, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let code = required(&body, "code")?;
        state
            .second_factors
            .remove_totp(&user, code, &request_context(req))
            .await?;
        Ok(Done::NoContent)
    }

    /// A new set of recovery codes, with a current code; the old set stops working.
    #[oai(
        path = "/recovery-codes",
        method = "post",
        operation_id = "renewRecoveryCodes"
    )]
    async fn renew(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<CodeRequest>,
    ) -> Result<Json<RecoveryCodes>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let code = required(&body, "code")?;
        let recovery_codes = state
            .second_factors
            .new_recovery_codes(&user, code, &request_context(req))
            .await?;
        Ok(Json(RecoveryCodes { recovery_codes }))
    }
}
