//! What a signed-in person does to their own account: change the password, end their
//! sessions, sign out. Each change is recorded in the audit log.

use super::by_the_person;
use super::{Accounts, AuthError, RequestContext, Sessions};
use crate::audit::{Audit, EventType};
use crate::domain::{EndCause, Password, Session, SessionId, UserId};
use crate::limits::{Limited, Limiter};
use crate::store::StoreError;

/// What became of ending one of one's own sessions.
#[derive(Debug, PartialEq, Eq)]
pub enum OwnSessionEnd {
    Ended,
    /// No such session, or another person's: callers answer both the same way.
    NotFound,
}

/// A password change asked for by the signed-in person.
pub struct PasswordChangeRequest<'a> {
    pub user: UserId,
    pub current: &'a str,
    pub new: &'a Password,
    /// The session that stays signed in (the one asking), if any.
    pub keep: Option<&'a SessionId>,
}

/// What became of a password change. Outages and other refusals are the `Err`.
#[derive(Debug)]
pub enum PasswordChange {
    /// Changed; every session but the kept one ended.
    Changed,
    /// `current` is not the account's password.
    WrongPassword,
    /// The account must wait before the next attempt; nothing was checked.
    Limited(Limited),
}

/// The self-service use cases over accounts, sessions, the limiter and the audit log.
#[derive(Clone)]
pub struct SelfService {
    accounts: Accounts,
    sessions: Sessions,
    limiter: Limiter,
    audit: Audit,
}

impl SelfService {
    pub fn new(accounts: Accounts, sessions: Sessions, limiter: Limiter, audit: Audit) -> Self {
        Self {
            accounts,
            sessions,
            limiter,
            audit,
        }
    }

    /// Ends one of `user`'s own sessions and records it.
    pub async fn end_session(
        &self,
        user: UserId,
        sid: &SessionId,
        context: &RequestContext,
    ) -> Result<OwnSessionEnd, StoreError> {
        let session = match self.sessions.find(sid).await? {
            Some(session) if session.user_id == user => session,
            _ => return Ok(OwnSessionEnd::NotFound),
        };
        self.sessions.end(sid, EndCause::SelfService).await?;
        self.audit
            .record(
                by_the_person(EventType::SessionEnded, user, context)
                    .client(&session.client_id)
                    .session(sid)
                    .detail(serde_json::json!({"cause": "self_service"})),
            )
            .await;
        Ok(OwnSessionEnd::Ended)
    }

    /// Ends every session of `user` but `keep` and records it; the number ended.
    pub async fn end_other_sessions(
        &self,
        user: UserId,
        keep: &SessionId,
        context: &RequestContext,
    ) -> Result<u64, StoreError> {
        let count = self
            .sessions
            .end_all(user, Some(keep), EndCause::SelfService)
            .await?;
        self.audit
            .record(
                by_the_person(EventType::SessionEnded, user, context)
                    .detail(serde_json::json!({"cause": "self_service", "count": count})),
            )
            .await;
        Ok(count)
    }

    /// Signs the browser session `session` out and records it.
    pub async fn sign_out(
        &self,
        session: &Session,
        context: &RequestContext,
    ) -> Result<(), StoreError> {
        self.sessions.end(&session.id, EndCause::Logout).await?;
        self.audit
            .record(
                by_the_person(EventType::SessionEnded, session.user_id, context)
                    .client(&session.client_id)
                    .session(&session.id)
                    .detail(serde_json::json!({"cause": "logout"})),
            )
            .await;
        Ok(())
    }

    /// Changes the signed-in person's password and records it; every session but `keep`
    /// ends. Attempts are throttled like sign-ins, so that a stolen token or cookie cannot
    /// be used to guess the current password.
    pub async fn change_password(
        &self,
        request: PasswordChangeRequest<'_>,
        context: &RequestContext,
    ) -> Result<PasswordChange, AuthError> {
        let PasswordChangeRequest {
            user,
            current,
            new,
            keep,
        } = request;
        let account = format!("user:{user}");
        if let Err(limited) = self.limiter.account_waiting(&account).await? {
            return Ok(PasswordChange::Limited(limited));
        }
        let changed = self
            .accounts
            .change_password(&self.sessions, user, current, new, keep)
            .await;
        match changed {
            Ok(()) => self.limiter.succeeded_sign_in(&account).await?,
            Err(AuthError::InvalidCredentials) => {
                self.limiter.failed_sign_in(&account).await?;
                return Ok(PasswordChange::WrongPassword);
            }
            Err(e) => return Err(e),
        }
        self.audit
            .record(
                by_the_person(EventType::PasswordChanged, user, context)
                    .detail(serde_json::json!({"other_sessions_ended": true})),
            )
            .await;
        Ok(PasswordChange::Changed)
    }
}
