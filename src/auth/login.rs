//! The one sign-in sequence — per-address limit, account wait, password check, the outcome
//! told to the limiter, the audit record, a new session — for every way of signing in.

use super::{Accounts, AuthError, RequestContext, Sessions, by_the_person};
use crate::audit::{Audit, Event, EventType};
use crate::domain::{Secret, Session, User};
use crate::limits::{LimitKind, Limited, Limiter};
use crate::token::RefreshToken;

/// A sign-in attempt: who, with what, into which client's session.
pub struct LoginRequest<'a> {
    pub email: &'a str,
    pub password: &'a Secret<String>,
    /// The client the session is for (`gatehouse:browser` for the pages).
    pub client_id: &'a str,
    pub scope: &'a str,
    /// How the person signed in, for the audit log: `login_page`, `password_grant`.
    pub method: &'static str,
    pub context: &'a RequestContext,
}

/// What became of a sign-in. Storage and hashing failures are the `Err` of
/// [`Login::login`]: the caller answers them as outages, never as refusals.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The person is signed in, with a new session and its first refresh token.
    SignedIn(Box<SignedIn>),
    /// The password was right and the account asks for a second factor; no session yet.
    /// Produced once second factors exist.
    NeedsSecondFactor(Box<User>),
    Refused(Refusal),
    /// A rate limit was reached; nothing was checked.
    Limited(Limited),
}

#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    pub refresh_token: RefreshToken,
}

/// Why a sign-in was refused. An unknown address and a wrong password are one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    InvalidCredentials,
    /// Told only to someone who knew the password.
    AccountDisabled,
    /// Only with `GATEHOUSE_REQUIRE_VERIFIED_EMAIL`, and only after the right password.
    EmailNotVerified,
}

/// The sign-in use case over accounts, sessions, the limiter and the audit log.
#[derive(Clone)]
pub struct Login {
    accounts: Accounts,
    sessions: Sessions,
    limiter: Limiter,
    audit: Audit,
}

impl Login {
    pub fn new(accounts: Accounts, sessions: Sessions, limiter: Limiter, audit: Audit) -> Self {
        Self {
            accounts,
            sessions,
            limiter,
            audit,
        }
    }

    pub async fn login(&self, request: LoginRequest<'_>) -> Result<LoginOutcome, AuthError> {
        let LoginRequest {
            email,
            password,
            client_id,
            scope,
            method,
            context,
        } = request;
        if let Err(limited) = self
            .limiter
            .attempt_from(LimitKind::LoginPerIp, context.ip)
            .await?
        {
            return Ok(LoginOutcome::Limited(limited));
        }
        if let Err(limited) = self.limiter.account_waiting(email).await? {
            return Ok(LoginOutcome::Limited(limited));
        }
        let attempt = self.accounts.sign_in(email, password.expose()).await;
        let refusal = match attempt.result {
            Ok(user) => {
                self.limiter.succeeded_sign_in(email).await?;
                return self
                    .start_session(user, client_id, scope, method, context)
                    .await;
            }
            Err(AuthError::InvalidCredentials | AuthError::UnknownUser) => {
                Refusal::InvalidCredentials
            }
            Err(AuthError::AccountDisabled) => Refusal::AccountDisabled,
            Err(AuthError::EmailNotVerified) => Refusal::EmailNotVerified,
            Err(other) => return Err(other),
        };
        self.audit
            .record(
                Event::new(EventType::LoginFailed)
                    .account(attempt.account)
                    .client(client_id)
                    .from(context)
                    .detail(serde_json::json!({"username": email, "reason": refusal.as_str()})),
            )
            .await;
        // Told after the audit record, so that a limiter outage loses no trace of it.
        if refusal == Refusal::InvalidCredentials {
            self.limiter.failed_sign_in(email).await?;
        }
        Ok(LoginOutcome::Refused(refusal))
    }

    async fn start_session(
        &self,
        user: User,
        client_id: &str,
        scope: &str,
        method: &'static str,
        context: &RequestContext,
    ) -> Result<LoginOutcome, AuthError> {
        let (session, refresh_token) = self
            .sessions
            .start(user.id, client_id, scope, context)
            .await?;
        self.audit
            .record(
                by_the_person(EventType::LoginSucceeded, user.id, context)
                    .client(client_id)
                    .session(&session.id)
                    .detail(serde_json::json!({"method": method})),
            )
            .await;
        Ok(LoginOutcome::SignedIn(Box::new(SignedIn {
            user,
            session,
            refresh_token,
        })))
    }
}

impl Refusal {
    /// The reason as the audit log names it (`login.failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "invalid_credentials",
            Self::AccountDisabled => "disabled",
            Self::EmailNotVerified => "unverified",
        }
    }
}
