//! The signed-in person's passkeys: registering one (WebAuthn's two calls: the options,
//! then the authenticator's answer), listing and removing them.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::body::{Fields, JsonBody};
use super::mfa::signed_in;
use super::security::BearerAuth;
use super::views::Done;
use crate::auth::mfa::passkeys::Proof;
use crate::http::problem::ApiError;
use crate::http::{AppState, request_context};
use crate::store::StoredPasskey;

/// A passkey: a WebAuthn credential that signs the person in without a password, or as
/// the second step after it.
#[derive(Debug, Object)]
#[oai(rename = "Passkey")]
pub struct PasskeyView {
    pub id: String,
    /// The name the person gave it.
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Absent until it is first used to sign in.
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<&StoredPasskey> for PasskeyView {
    fn from(p: &StoredPasskey) -> Self {
        Self {
            id: p.id.to_string(),
            name: p.name.clone(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// The person's passkeys, oldest first.
#[derive(Debug, Object)]
#[oai(rename = "PasskeyList")]
pub struct PasskeyList {
    pub items: Vec<PasskeyView>,
}

/// Starts registering a passkey: its name, and the current `password` — or `code`, a TOTP
/// or recovery code — as proof.
#[derive(Debug, Object)]
#[allow(dead_code)] // documents the body; it is read field by field (JsonBody)
#[oai(rename = "StartPasskeyRequest")]
pub struct StartPasskeyRequest {
    /// 1 to 64 characters, e.g. "Work laptop".
    #[oai(validator(min_length = 1, max_length = 64))]
    pub name: String,
    #[oai(skip_serializing_if_is_none)]
    pub password: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub code: Option<String>,
}

/// A registration begun: send `public_key` to `navigator.credentials.create` (it is
/// `PublicKeyCredentialCreationOptions` in WebAuthn's JSON encoding, binary fields in
/// base64url), then the answer with `ceremony_id` within five minutes.
#[derive(Debug, Object)]
#[oai(rename = "PasskeyCeremony")]
pub struct PasskeyCeremony {
    pub ceremony_id: String,
    /// `{"publicKey": PublicKeyCredentialCreationOptions}` as JSON.
    pub public_key: serde_json::Value,
}

/// Finishes a registration: the ceremony and the browser's `PublicKeyCredential` as JSON
/// (`credential.toJSON()`, or the same fields in base64url).
#[derive(Debug, Object)]
#[allow(dead_code)] // documents the body; it is read field by field (JsonBody)
#[oai(rename = "FinishPasskeyRequest")]
pub struct FinishPasskeyRequest {
    pub ceremony_id: String,
    pub credential: std::collections::HashMap<String, serde_json::Value>,
}

#[derive(Default)]
pub struct PasskeysApi;

#[OpenApi(prefix_path = "/api/v1/auth/passkeys", tag = "ApiTags::Auth")]
impl PasskeysApi {
    /// The signed-in person's passkeys.
    #[oai(path = "/", method = "get", operation_id = "listMyPasskeys")]
    async fn list(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<PasskeyList>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let passkeys = state.second_factors.passkeys(&user).await?;
        Ok(Json(PasskeyList {
            items: passkeys.iter().map(PasskeyView::from).collect(),
        }))
    }

    /// Start registering a passkey, with the current password (or a second factor's code)
    /// as proof. The options ask for a discoverable credential and user verification.
    #[oai(
        path = "/registration",
        method = "post",
        operation_id = "startPasskeyRegistration"
    )]
    async fn start(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<StartPasskeyRequest>,
    ) -> Result<Json<PasskeyCeremony>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let mut fields = Fields::new(&body.object);
        let name = fields.required_str("name");
        let password = fields.optional_str("password").flatten();
        let code = fields.optional_str("code").flatten();
        let (Some(name), true) = (name, fields.errors.is_empty()) else {
            return Err(ApiError::validation(fields.errors));
        };
        let proof = match (password, code) {
            (Some(password), None) => Proof::Password(password),
            (None, Some(code)) => Proof::Code(code),
            _ => {
                fields.error("password", "send the current password, or a code instead");
                return Err(ApiError::validation(fields.errors));
            }
        };
        let begun = state
            .second_factors
            .start_passkey_registration(&user, name, proof, &request_context(req))
            .await?;
        Ok(Json(PasskeyCeremony {
            ceremony_id: begun.id.expose().clone(),
            public_key: begun.options,
        }))
    }

    /// Finish registering a passkey with the authenticator's answer; the passkey is
    /// added (and the person told by mail). A refused answer (another origin, a spent or
    /// expired ceremony, a bad signature, no user verification) is 422.
    #[oai(
        path = "/registration/finish",
        method = "post",
        operation_id = "finishPasskeyRegistration"
    )]
    async fn finish(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        body: JsonBody<FinishPasskeyRequest>,
    ) -> Result<Json<PasskeyView>, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let mut fields = Fields::new(&body.object);
        let ceremony = fields.required_str("ceremony_id");
        let credential = body.object.get("credential").filter(|c| c.is_object());
        if credential.is_none() {
            fields.error(
                "credential",
                "is required: the browser's PublicKeyCredential",
            );
        }
        let (Some(ceremony), Some(credential), true) =
            (ceremony, credential, fields.errors.is_empty())
        else {
            return Err(ApiError::validation(fields.errors));
        };
        let added = state
            .second_factors
            .finish_passkey_registration(
                &user,
                ceremony,
                &credential.to_string(),
                &request_context(req),
            )
            .await?;
        Ok(Json(PasskeyView::from(&added)))
    }

    /// Remove one of the signed-in person's passkeys. Another person's, or one that does
    /// not exist, is 404; the last second factor of a person whose role requires one is
    /// 409.
    #[oai(path = "/:id", method = "delete", operation_id = "removeMyPasskey")]
    async fn remove(
        &self,
        state: poem::web::Data<&AppState>,
        req: &poem::Request,
        auth: BearerAuth,
        #[oai(validator(pattern = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"))] id: Path<String>,
    ) -> Result<Done, ApiError> {
        let user = signed_in(&state, &auth).await?;
        let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::not_found("no such passkey"))?;
        state
            .second_factors
            .remove_passkey(&user, id, &request_context(req))
            .await?;
        Ok(Done::NoContent)
    }
}
