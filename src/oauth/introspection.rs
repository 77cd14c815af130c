//! Token introspection (RFC 7662), and the liveness check every access token gets where
//! Gatehouse itself accepts it.

use std::sync::Arc;

use crate::auth::{Accounts, AuthError, Sessions};
use crate::clock::Clock;
use crate::domain::{Session, SessionId, User};
use crate::store::StoreError;
use crate::token::{AccessClaims, RefreshToken, TokenError, TokenVerifier};

use super::client::{Client, Permission};
use super::error::{ErrorCode, OAuthError};

/// Why an access token is not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Invalid(#[from] TokenError),
    #[error("the token has been revoked")]
    Revoked,
    #[error("the session has ended")]
    SessionEnded,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What introspection found.
#[derive(Debug)]
pub enum Introspection {
    Inactive,
    Access(Box<AccessClaims>),
    Refresh(Box<(Session, User)>),
}

/// The introspection endpoint's use case, and the access-token check behind Gatehouse's
/// own bearer authentication.
#[derive(Clone)]
pub struct IntrospectionEndpoint {
    accounts: Accounts,
    sessions: Sessions,
    verifier: TokenVerifier,
    clock: Arc<dyn Clock>,
}

impl IntrospectionEndpoint {
    pub fn new(
        accounts: Accounts,
        sessions: Sessions,
        verifier: TokenVerifier,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            accounts,
            sessions,
            verifier,
            clock,
        }
    }

    /// Verifies an access token and checks that it was not revoked and that its session
    /// still exists.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, AccessError> {
        let claims = self.verifier.verify(token, self.clock.now())?;
        let sid = match &claims.sid {
            Some(sid) => Some(SessionId::parse(sid).map_err(|_| AccessError::SessionEnded)?),
            None => None,
        };
        let (revoked, session) = self
            .sessions
            .access_token_state(&claims.jti, sid.as_ref())
            .await?;
        if revoked {
            return Err(AccessError::Revoked);
        }
        if sid.is_some() && session.is_none_or(|s| s.user_id.to_string() != claims.sub) {
            return Err(AccessError::SessionEnded);
        }
        Ok(claims)
    }

    /// The claims of an ID token this server signed (expired ones included), for
    /// RP-initiated logout's `id_token_hint`.
    pub fn id_token_hint(&self, token: &str) -> Option<crate::token::IdClaims> {
        self.verifier
            .verify_id_token_hint(token, self.clock.now())
            .ok()
    }

    /// RFC 7662 §2.2: anything not currently valid is simply inactive. So is a token
    /// issued to another client, unless `caller` may introspect those (RFC 7662 §4). Only
    /// a confidential client may ask (§2.1).
    pub async fn introspect(
        &self,
        caller: &Client,
        token: &str,
        hint: Option<&str>,
    ) -> Result<Introspection, OAuthError> {
        if caller.public {
            return Err(OAuthError::new(
                ErrorCode::InvalidClient,
                "introspection requires a confidential client",
            ));
        }
        let found = self.look_up(token, hint).await?;
        let issued_to = match &found {
            Introspection::Inactive => return Ok(found),
            Introspection::Access(claims) => &claims.client_id,
            Introspection::Refresh(session_and_user) => &session_and_user.0.client_id,
        };
        if *issued_to == caller.id || caller.may(Permission::Introspection) {
            Ok(found)
        } else {
            // Said in the log, so that an operator whose resource server is refused
            // finds why (clients made before the permission existed have none).
            tracing::warn!(
                caller = %caller.id,
                issued_to = %issued_to,
                "introspection answered inactive: the caller lacks the `introspection` \
                 permission (gatehouse client update ID --allow introspection)"
            );
            Ok(Introspection::Inactive)
        }
    }

    async fn look_up(&self, token: &str, hint: Option<&str>) -> Result<Introspection, OAuthError> {
        let refresh_first = hint == Some("refresh_token");
        if refresh_first && let Some(found) = self.introspect_refresh(token).await? {
            return Ok(found);
        }
        match self.verify_access_token(token).await {
            Ok(claims) => {
                if self.user_is_active(&claims.sub).await? {
                    return Ok(Introspection::Access(Box::new(claims)));
                }
                return Ok(Introspection::Inactive);
            }
            Err(AccessError::Store(e)) => return Err(e.into()),
            Err(_) => {}
        }
        if !refresh_first && let Some(found) = self.introspect_refresh(token).await? {
            return Ok(found);
        }
        Ok(Introspection::Inactive)
    }

    async fn introspect_refresh(&self, token: &str) -> Result<Option<Introspection>, OAuthError> {
        let Some(token) = RefreshToken::parse(token) else {
            return Ok(None);
        };
        let Some(session) = self.sessions.by_refresh_token(&token).await? else {
            return Ok(None);
        };
        match self.accounts.active_user(session.user_id).await {
            Ok(user) => Ok(Some(Introspection::Refresh(Box::new((session, user))))),
            Err(AuthError::Store(e)) => Err(e.into()),
            Err(_) => Ok(None),
        }
    }

    async fn user_is_active(&self, sub: &str) -> Result<bool, OAuthError> {
        // Client-credentials tokens have a client as subject; there is no user to check.
        let Ok(id) = crate::domain::UserId::parse(sub) else {
            return Ok(true);
        };
        match self.accounts.active_user(id).await {
            Ok(_) => Ok(true),
            Err(AuthError::Store(e)) => Err(e.into()),
            Err(_) => Ok(false),
        }
    }
}
