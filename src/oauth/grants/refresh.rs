//! The refresh token grant (RFC 6749 §6), with rotation and replay detection
//! (RFC 9700 §4.14.2).

use super::{GrantContext, TokenParams, TokenResponse};
use crate::audit::{Event, EventType};
use crate::auth::{AuthError, Refresh};
use crate::domain::EndCause;
use crate::domain::Scopes;
use crate::oauth::client::Client;
use crate::oauth::error::{ErrorCode, OAuthError};
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
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidGrant,
            "the refresh token is invalid, expired or revoked",
        )
    };
    let presented = RefreshToken::parse(presented.expose()).ok_or_else(invalid)?;
    // RFC 6749 §6: a refresh may narrow the scope, never widen it.
    let asked = match params.scope.as_deref() {
        Some(text) => {
            let scopes =
                Scopes::parse(text).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
            (!scopes.is_empty()).then_some(scopes)
        }
        None => None,
    };
    // The account is checked before the token is rotated: were the database down after
    // rotating, the client would keep its old token (503 says so) and its retry, past the
    // grace window, would look like a replay and end the session.
    let Some(owner) = cx.sessions.owner(presented.session()).await? else {
        return Err(invalid());
    };
    let user = {
        match cx.accounts.active_user(owner).await {
            Ok(user) => user,
            Err(AuthError::AccountDisabled | AuthError::UnknownUser) => {
                cx.sessions
                    .end(presented.session(), EndCause::UserDisabled)
                    .await?;
                return Err(invalid());
            }
            Err(e) => return Err(e.into()),
        }
    };
    let refresh = cx
        .sessions
        .refresh(&presented, &client.id, asked.as_ref())
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
            return Err(invalid());
        }
        Refresh::Invalid => return Err(invalid()),
    };
    let scope = asked.unwrap_or_else(|| session.scope.clone());
    let access = cx.issuer.for_user(&user, client, &session, &scope)?;
    Ok(TokenResponse::new(access, scope, Some(successor)))
}
