//! The resource owner password credentials grant (RFC 6749 §4.3), for first-party apps.

use super::super::token_endpoint::{TokenEndpoint, TokenParams, TokenResponse};
use super::super::{Client, ErrorCode, OAuthError, Scopes};
use crate::audit::{Event, EventType};
use crate::auth::{AuthError, HashError, RequestContext};
use crate::limits::{LimitKind, Limited};
use crate::store::StoreError;

pub async fn grant(
    endpoint: &TokenEndpoint,
    client: &Client,
    params: &TokenParams,
    context: &RequestContext,
) -> Result<TokenResponse, OAuthError> {
    if !endpoint.password_grant_enabled() {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the password grant is turned off on this server",
        ));
    }
    let username = params
        .username
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("username is required"))?;
    let password = params
        .password
        .as_ref()
        .ok_or_else(|| OAuthError::invalid_request("password is required"))?;
    let scope = requested_scope(client, params.scope.as_deref())?;

    let limiter = &endpoint.limiter;
    within(
        limiter
            .attempt_from(LimitKind::LoginPerIp, context.ip)
            .await,
    )?;
    within(limiter.account_waiting(username).await)?;
    let attempt = endpoint.accounts.sign_in(username, password.expose()).await;
    let signed_in = attempt.result;
    if let Some(reason) = signed_in.as_ref().err().and_then(AuthError::refusal) {
        endpoint
            .audit
            .record(
                Event::new(EventType::LoginFailed)
                    .account(attempt.account)
                    .client(&client.id)
                    .from(context)
                    .detail(serde_json::json!({"username": username, "reason": reason})),
            )
            .await;
    }
    match &signed_in {
        Ok(_) => limiter.succeeded_sign_in(username).await,
        Err(AuthError::InvalidCredentials) => limiter.failed_sign_in(username).await,
        Err(_) => Ok(()),
    }
    .map_err(|e| OAuthError::from_store(&e))?;
    let user = signed_in.map_err(|e| match e {
        AuthError::InvalidCredentials | AuthError::UnknownUser => {
            OAuthError::new(ErrorCode::InvalidGrant, "invalid username or password")
        }
        AuthError::Hash(HashError::Busy) => OAuthError::unavailable(),
        AuthError::AccountDisabled => {
            OAuthError::new(ErrorCode::InvalidGrant, "the account is disabled")
        }
        AuthError::EmailNotVerified => OAuthError::new(
            ErrorCode::InvalidGrant,
            "the email address is not verified: open the link mailed to it, or ask for a \
             new one (POST /api/v1/auth/verify-email or the page /verify-email)",
        ),
        AuthError::Store(e @ (StoreError::Unavailable(_) | StoreError::Rejected(_))) => {
            OAuthError::from_store(&e)
        }
        other => {
            tracing::error!(error = %other, "password grant failed");
            OAuthError::server_error()
        }
    })?;
    let (session, refresh_token) = endpoint
        .sessions
        .start(user.id, &client.id, &scope.to_string(), context)
        .await
        .map_err(|e| OAuthError::from_store(&e))?;
    endpoint
        .audit
        .record(
            Event::new(EventType::LoginSucceeded)
                .actor(format!("user:{}", user.id))
                .user(user.id)
                .client(&client.id)
                .session(&session.id)
                .from(context)
                .detail(serde_json::json!({"method": "password_grant"})),
        )
        .await;
    let refresh_token = client
        .allows(super::super::GrantType::RefreshToken)
        .then_some(refresh_token);
    endpoint.issue(&user, client, &session, scope, refresh_token)
}

/// Passes when under the limit; a limit reached is 429 `slow_down`, an outage 503.
pub(crate) fn within(
    verdict: Result<Result<(), Limited>, crate::store::StoreError>,
) -> Result<(), OAuthError> {
    match verdict {
        Ok(Ok(())) => Ok(()),
        Ok(Err(limited)) => Err(OAuthError::slow_down(limited)),
        Err(e) => Err(OAuthError::from_store(&e)),
    }
}

/// The scope asked for, checked against what the client may have; when none is asked
/// for, everything the client may have.
pub(crate) fn requested_scope(client: &Client, scope: Option<&str>) -> Result<Scopes, OAuthError> {
    let Some(text) = scope else {
        return Ok(client.scopes.clone());
    };
    let scopes = Scopes::parse(text).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e))?;
    if scopes.is_empty() {
        return Ok(client.scopes.clone());
    }
    if let Some(unknown) = scopes.not_in(&client.scopes).next() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            format!("this client may not ask for the scope `{unknown}`"),
        ));
    }
    Ok(scopes)
}
