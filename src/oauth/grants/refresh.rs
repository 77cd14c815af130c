//! The refresh token grant (RFC 6749 §6), with rotation and replay detection
//! (RFC 9700 §4.14.2). oxide-auth orders it (`oauth::oxide`): the token's grant recovered,
//! bound to the client, the scope asked for checked against the session's, then rotated.

use async_trait::async_trait;
use oxide_auth::primitives::grant::Grant;

use super::{GrantContext, TokenParams, TokenResponse};
use crate::audit::{Event, EventType};
use crate::auth::{AuthError, Refresh};
use crate::domain::EndCause;
use crate::domain::Scopes;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
use crate::oauth::oxide::{self, RefreshRequest, RefreshSteps, refresh_refused};
use crate::token::RefreshToken;

pub async fn grant(
    cx: &GrantContext,
    client: &Client,
    params: &TokenParams,
) -> Result<TokenResponse, OAuthError> {
    let presented = params
        .refresh_token
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let token = RefreshToken::parse(presented.expose()).ok_or_else(refresh_refused)?;
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    let asked = match params.scope.as_deref() {
        Some(text) => {
            let scopes =
                Scopes::parse(text).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
            (!scopes.is_empty()).then_some(scopes)
        }
        None => None,
    };
    let mut steps = Steps {
        cx,
        client,
        presented: &token,
        asked: asked.as_ref(),
        user: None,
        response: None,
    };
    let request = RefreshRequest {
        token: presented.expose(),
        scope: asked.as_ref(),
    };
    oxide::refresh(client, request, &mut steps).await?;
    steps.response.ok_or_else(OAuthError::server_error)
}

/// One refresh's state between the flow's steps.
struct Steps<'a> {
    cx: &'a GrantContext,
    client: &'a Client,
    presented: &'a RefreshToken,
    asked: Option<&'a Scopes>,
    /// The session's owner, checked enabled before the rotation.
    user: Option<crate::domain::User>,
    response: Option<TokenResponse>,
}

#[async_trait]
impl RefreshSteps for Steps<'_> {
    async fn recover(&mut self) -> Result<Grant, OAuthError> {
        let cx = self.cx;
        let session = self.presented.session();
        let Some(granted) = cx.sessions.granted(session).await? else {
            return Err(refresh_refused());
        };
        // The account is checked before the token is rotated: were the database down
        // after rotating, the client would keep its old token (503 says so) and its retry,
        // past the grace window, would look like a replay and end the session.
        let user = match cx.accounts.active_user(granted.user).await {
            Ok(user) => user,
            Err(AuthError::AccountDisabled | AuthError::UnknownUser) => {
                cx.sessions.end(session, EndCause::UserDisabled).await?;
                return Err(refresh_refused());
            }
            Err(e) => return Err(e.into()),
        };
        let grant = oxide::session_grant(user.id.to_string(), &granted.client_id, &granted.scope)?;
        self.user = Some(user);
        Ok(grant)
    }

    async fn rotate(&mut self) -> Result<(), OAuthError> {
        let (cx, client) = (self.cx, self.client);
        let user = self.user.take().ok_or_else(OAuthError::server_error)?;
        let refresh = cx
            .sessions
            .refresh(self.presented, &client.id, self.asked)
            .await?;
        let (session, successor) = match refresh {
            Refresh::Renewed {
                session,
                refresh_token,
            } => (session, refresh_token),
            Refresh::ScopeWidened => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "a refresh cannot widen the scope of the session",
                ));
            }
            Refresh::Reused(session) => {
                cx.audit
                    .record(
                        Event::new(EventType::RefreshReused)
                            .by(&crate::audit::Actor::System)
                            .user(session.user_id)
                            .client(&session.client_id)
                            .session(&session.id)
                            .detail(serde_json::json!({"session_ended": true})),
                    )
                    .await;
                return Err(refresh_refused());
            }
            Refresh::Invalid => return Err(refresh_refused()),
        };
        let scope = self.asked.cloned().unwrap_or_else(|| session.scope.clone());
        let access = cx.issuer.for_user(&user, client, &session, &scope)?;
        self.response = Some(TokenResponse::new(access, scope, Some(successor)));
        Ok(())
    }
}
