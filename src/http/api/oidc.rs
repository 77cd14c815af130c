//! OpenID Connect: the UserInfo endpoint (OIDC Core §5.3).

use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::ApiTags;
use super::security::BearerAuth;
use crate::domain::User;
use crate::http::AppState;
use crate::http::problem::ApiError;

/// Claims about the signed-in person, by the scopes the token was granted
/// (`profile`: name, locale, updated_at; `email`: email, email_verified).
#[derive(Debug, Object, Default)]
#[oai(rename = "UserInfo")]
pub struct UserInfo {
    pub sub: String,
    #[oai(skip_serializing_if_is_none)]
    pub name: Option<String>,
    /// The preferred language, as a BCP 47 tag.
    #[oai(skip_serializing_if_is_none)]
    pub locale: Option<String>,
    /// Seconds since the epoch.
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub email_verified: Option<bool>,
}

impl UserInfo {
    fn new(user: User, scope: &str) -> Self {
        let has = |s: &str| scope.split(' ').any(|granted| granted == s);
        let mut info = Self {
            sub: user.id.to_string(),
            ..Self::default()
        };
        if has("profile") {
            info.name = Some(user.name.to_string());
            info.locale = user.profile.preferred_language;
            info.updated_at = Some(user.updated_at.timestamp());
        }
        if has("email") {
            info.email = Some(user.email.to_string());
            info.email_verified = Some(user.email_verified);
        }
        info
    }
}

#[derive(Default)]
pub struct OidcApi;

async fn userinfo(state: &AppState, auth: &BearerAuth) -> Result<Json<UserInfo>, ApiError> {
    if !auth.0.scope.split(' ').any(|s| s == "openid") {
        return Err(ApiError::insufficient_scope(
            "the token was not granted the openid scope",
        ));
    }
    let user = state.accounts.active_user(auth.user_id()?).await?;
    Ok(Json(UserInfo::new(user, &auth.0.scope)))
}

#[OpenApi(tag = "ApiTags::OAuth")]
impl OidcApi {
    /// Claims about the signed-in person (OpenID Connect UserInfo).
    ///
    /// Needs an access token granted `openid`; `profile` and `email` add their claims.
    #[oai(
        path = "/oauth2/userinfo",
        method = "get",
        operation_id = "getUserInfo"
    )]
    async fn get(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<UserInfo>, ApiError> {
        userinfo(&state, &auth).await
    }

    /// The same, by POST (OpenID Connect Core §5.3.1).
    #[oai(
        path = "/oauth2/userinfo",
        method = "post",
        operation_id = "postUserInfo"
    )]
    async fn post(
        &self,
        state: poem::web::Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<Json<UserInfo>, ApiError> {
        userinfo(&state, &auth).await
    }
}
