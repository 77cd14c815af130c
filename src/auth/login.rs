//! The one sign-in sequence — per-address limit, account wait, password check, the outcome
//! told to the limiter, the audit record, a new session — for every way of signing in.

use super::legacy::LegacyTokens;
use super::mfa::{Enrollment, FactorUsed, MfaError, NextStep, SecondFactors};
use super::{Accounts, AuthError, RequestContext, Sessions, by_the_person};
use crate::audit::{Audit, Event, EventType};
use crate::domain::{Secret, Session, User};
use crate::limits::{LimitKind, Limited, Limiter};
use crate::store::StoreError;
use crate::token::RefreshToken;

/// A sign-in attempt: who, with what, into which client's session.
pub struct LoginRequest<'a> {
    pub email: &'a str,
    pub password: &'a Secret<String>,
    /// The client the session is for (`gatehouse:browser` for the pages).
    pub client_id: &'a str,
    pub scope: &'a str,
    pub method: Method,
    /// The client asked for a second factor (`acr_values`, RFC 9470): a person without
    /// one sets it up before the session starts.
    pub second_factor_asked: bool,
    pub context: &'a RequestContext,
}

/// How the person signs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// The login page (and so the authorization code flow): a person at a browser, who
    /// can set up a second factor on the way.
    LoginPage,
    /// The password grant of a first-party app.
    PasswordGrant,
    /// An old service's token exchanged at the token endpoint (see [`super::legacy`]).
    LegacyToken,
}

impl Method {
    /// As the audit log names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginPage => "login_page",
            Self::PasswordGrant => "password_grant",
            Self::LegacyToken => "legacy_token",
        }
    }

    fn from_stored(text: &str) -> Self {
        match text {
            "login_page" => Self::LoginPage,
            "legacy_token" => Self::LegacyToken,
            _ => Self::PasswordGrant,
        }
    }

    /// The first factor as `amr` names it (RFC 8176; `legacy` for the old service's token).
    pub fn first_factor(self) -> &'static str {
        match self {
            Self::LoginPage | Self::PasswordGrant => "pwd",
            Self::LegacyToken => "legacy",
        }
    }

    /// What the audit log records when a session starts this way.
    fn signed_in(self) -> EventType {
        match self {
            Self::LoginPage | Self::PasswordGrant => EventType::LoginSucceeded,
            Self::LegacyToken => EventType::LegacyExchanged,
        }
    }

    /// Whether a second factor can be set up in the middle of this sign-in.
    fn can_enroll(self) -> bool {
        self == Self::LoginPage
    }
}

/// What became of a sign-in. Storage and hashing failures are the `Err` of
/// [`Login::login`]: the caller answers them as outages, never as refusals.
#[derive(Debug)]
pub enum LoginOutcome {
    /// The person is signed in, with a new session and its first refresh token.
    SignedIn(Box<SignedIn>),
    /// The password was right and the account asks for a second factor (or for setting
    /// one up); no session yet.
    NeedsSecondFactor(Box<SecondStep>),
    /// The second step's code was wrong or used already; the token stays good. With the
    /// enrollment being confirmed, to show again.
    WrongCode(Option<Box<Enrollment>>),
    Refused(Refusal),
    /// A rate limit was reached; nothing was checked.
    Limited(Limited),
}

#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    pub refresh_token: RefreshToken,
    /// When a second factor was set up during this sign-in: its recovery codes, to be
    /// shown this once.
    pub recovery_codes: Vec<String>,
}

/// A sign-in waiting for its second factor: the token that stands for it (single-use,
/// for the client that signed in, a few minutes).
#[derive(Debug)]
pub struct SecondStep {
    pub user: User,
    pub mfa_token: Secret<String>,
    /// When the person must set up a second factor first: the enrollment to show.
    pub enrollment: Option<Enrollment>,
    /// Whether the person has passkeys that can answer instead of a code.
    pub passkeys: bool,
}

/// The answer to a [`SecondStep`].
pub struct SecondStepRequest<'a> {
    pub mfa_token: &'a str,
    pub answer: Answer<'a>,
    pub client_id: &'a str,
    pub context: &'a RequestContext,
}

/// What answers a second step.
#[derive(Clone, Copy, Debug)]
pub enum Answer<'a> {
    /// A TOTP code or a recovery code.
    Code(&'a str),
    /// A passkey's assertion (the browser's `PublicKeyCredential`, JSON).
    Passkey(&'a str),
}

/// A sign-in with a passkey alone: the ceremony begun, and the browser's answer.
pub struct PasskeySignInRequest<'a> {
    pub ceremony: &'a str,
    pub credential: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub context: &'a RequestContext,
}

/// Why a sign-in was refused. An unknown address and a wrong password are one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    InvalidCredentials,
    /// Told only to someone who knew the password.
    AccountDisabled,
    /// Only with `GATEHOUSE_REQUIRE_VERIFIED_EMAIL`, and only after the right password.
    EmailNotVerified,
    /// The second step's token is unknown, expired, spent or another client's.
    UnknownMfaToken,
    /// The right password, but the person must set up a second factor first, and this way
    /// of signing in cannot (the password grant): the pages can.
    SecondFactorNotSetUp,
    /// A passkey's answer did not hold, or its ceremony expired.
    PasskeyRefused,
    /// A code answered a second step, but the person's only second factors are passkeys.
    NoCodeFactor,
    /// An old service's token that cannot be exchanged, whatever the reason (the audit log
    /// has it).
    LegacyTokenRefused,
}

/// The sign-in use case over accounts, sessions, the limiter and the audit log.
#[derive(Clone)]
pub struct Login {
    pub(super) accounts: Accounts,
    sessions: Sessions,
    pub(super) limiter: Limiter,
    pub(super) audit: Audit,
    pub(super) second_factors: SecondFactors,
    /// The old service's tokens, when they may be exchanged.
    pub(super) legacy: Option<LegacyTokens>,
}

impl Login {
    pub fn new(
        accounts: Accounts,
        sessions: Sessions,
        limiter: Limiter,
        audit: Audit,
        second_factors: SecondFactors,
    ) -> Self {
        Self {
            accounts,
            sessions,
            limiter,
            audit,
            second_factors,
            legacy: None,
        }
    }

    /// The same sign-ins, and the old service's `tokens` exchanged for sessions.
    pub fn with_legacy_tokens(mut self, tokens: LegacyTokens) -> Self {
        self.legacy = Some(tokens);
        self
    }

    pub async fn login(&self, request: LoginRequest<'_>) -> Result<LoginOutcome, AuthError> {
        let LoginRequest {
            email,
            password,
            client_id,
            scope,
            method,
            second_factor_asked,
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
                let next = self.second_factors.next_step(&user, second_factor_asked);
                let step = next.await.map_err(auth_error)?;
                // With a second factor the account's failures are forgiven only once the
                // code is right too: the password alone must not reset the count of wrong
                // codes.
                if step.is_none() {
                    self.limiter.succeeded_sign_in(email).await?;
                }
                let after = self.after_first_factor(user, step, client_id, scope, method, context);
                match after.await? {
                    Ok(outcome) => return Ok(outcome),
                    Err(refusal) => refusal,
                }
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

    /// The second step of a sign-in: the session starts when the code is right. A wrong
    /// code leaves the token good (the account's sign-in limit bounds the guesses).
    pub async fn second_step(
        &self,
        request: SecondStepRequest<'_>,
    ) -> Result<LoginOutcome, AuthError> {
        let SecondStepRequest {
            mfa_token,
            answer,
            client_id,
            context,
        } = request;
        let refused = |refusal| Ok(LoginOutcome::Refused(refusal));
        let pending = self.second_factors.pending(mfa_token, client_id).await;
        let Some(pending) = pending.map_err(auth_error)? else {
            return refused(Refusal::UnknownMfaToken);
        };
        let user = match self.accounts.active_user(pending.challenge.user()).await {
            Ok(user) => user,
            Err(AuthError::AccountDisabled) => return refused(Refusal::AccountDisabled),
            Err(AuthError::UnknownUser) => return refused(Refusal::UnknownMfaToken),
            Err(e) => return Err(e),
        };
        let challenge = &pending.challenge;
        let mut recovery_codes = Vec::new();
        let factors = &self.second_factors;
        let done = match (challenge.step, answer) {
            (NextStep::Code, Answer::Code(code)) => {
                match factors.verify(&user, code, context).await {
                    // The person has passkeys only (a code answers nothing): say so.
                    Err(MfaError::NotEnrolled) => return refused(Refusal::NoCodeFactor),
                    done => done,
                }
            }
            (NextStep::Code, Answer::Passkey(credential)) => factors
                .finish_passkey_step(&pending, credential, context)
                .await
                .map(FactorUsed::Passkey),
            (NextStep::Enroll, Answer::Passkey(_)) => Err(MfaError::NotEnrolled),
            (NextStep::Enroll, Answer::Code(code)) => {
                let confirmed = self.second_factors.confirm_totp(&user, code, context).await;
                confirmed.map(|codes| {
                    recovery_codes = codes;
                    FactorUsed::Totp
                })
            }
        };
        let used = match done {
            Ok(used) => used,
            Err(MfaError::WrongCode) => return Ok(LoginOutcome::WrongCode(None)),
            Err(MfaError::WrongFirstCode(enrollment)) => {
                return Ok(LoginOutcome::WrongCode(Some(enrollment)));
            }
            Err(MfaError::Limited(limited)) => return Ok(LoginOutcome::Limited(limited)),
            Err(
                MfaError::PasskeyRefused(_) | MfaError::UnknownCeremony | MfaError::PasskeysOff,
            ) => return refused(Refusal::PasskeyRefused),
            // The factor was removed, or the enrollment replaced or finished, meanwhile:
            // this sign-in cannot finish.
            Err(MfaError::NotEnrolled | MfaError::NotEnrolling | MfaError::AlreadyEnrolled) => {
                return refused(Refusal::UnknownMfaToken);
            }
            Err(e) => return Err(auth_error(e)),
        };
        if !self
            .second_factors
            .spend(&pending)
            .await
            .map_err(auth_error)?
        {
            return refused(Refusal::UnknownMfaToken);
        }
        let challenge = pending.challenge;
        let outcome = self
            .start_session(
                user,
                &challenge.client_id,
                &challenge.scope,
                Method::from_stored(&challenge.method),
                Some(used),
                context,
            )
            .await?;
        Ok(match outcome {
            LoginOutcome::SignedIn(mut signed_in) => {
                signed_in.recovery_codes = recovery_codes;
                LoginOutcome::SignedIn(signed_in)
            }
            other => other,
        })
    }

    /// A sign-in with a passkey alone (user verification on the device, so two factors):
    /// the session starts when the passkey's answer holds.
    pub async fn passkey_sign_in(
        &self,
        request: PasskeySignInRequest<'_>,
    ) -> Result<LoginOutcome, AuthError> {
        let PasskeySignInRequest {
            ceremony,
            credential,
            client_id,
            scope,
            context,
        } = request;
        if let Err(limited) = self
            .limiter
            .attempt_from(LimitKind::LoginPerIp, context.ip)
            .await?
        {
            return Ok(LoginOutcome::Limited(limited));
        }
        let finished = self
            .second_factors
            .finish_passkey_sign_in(ceremony, credential, context)
            .await;
        let (account, refusal) = match finished {
            Ok((id, kind)) => match self.accounts.active_user(id).await {
                Ok(user) => {
                    let amr = super::mfa::passkeys::passwordless_amr(kind);
                    let detail = serde_json::json!({"method": "passkey", "amr": amr});
                    let kind = EventType::LoginSucceeded;
                    return self
                        .start_session_with(user, client_id, scope, amr, detail, kind, context)
                        .await;
                }
                Err(AuthError::AccountDisabled) => (Some(id), Refusal::AccountDisabled),
                Err(AuthError::EmailNotVerified) => (Some(id), Refusal::EmailNotVerified),
                Err(AuthError::UnknownUser) => (None, Refusal::PasskeyRefused),
                Err(e) => return Err(e),
            },
            Err(
                MfaError::PasskeyRefused(_) | MfaError::UnknownCeremony | MfaError::PasskeysOff,
            ) => (None, Refusal::PasskeyRefused),
            Err(e) => return Err(auth_error(e)),
        };
        self.audit
            .record(
                Event::new(EventType::LoginFailed)
                    .account(account)
                    .client(client_id)
                    .from(context)
                    .detail(serde_json::json!({"method": "passkey", "reason": refusal.as_str()})),
            )
            .await;
        Ok(LoginOutcome::Refused(refusal))
    }

    /// The options for offering the person's passkeys as the second step of the sign-in
    /// `mfa_token` holds; `None` when that sign-in is unknown or the person has none.
    pub async fn passkey_step_options(
        &self,
        mfa_token: &str,
        client_id: &str,
    ) -> Result<Option<serde_json::Value>, AuthError> {
        let pending = self.second_factors.pending(mfa_token, client_id).await;
        let Some(pending) = pending.map_err(auth_error)? else {
            return Ok(None);
        };
        if pending.challenge.step != NextStep::Code {
            return Ok(None);
        }
        match self.second_factors.start_passkey_step(&pending).await {
            Ok(options) => Ok(Some(options)),
            Err(MfaError::NotEnrolled | MfaError::PasskeysOff) => Ok(None),
            Err(e) => Err(auth_error(e)),
        }
    }

    /// What follows a first factor that held, given the second step the account asks for:
    /// the session, the wait for that step, or — when the person must set up a second
    /// factor and this way of signing in cannot — the refusal to tell.
    pub(super) async fn after_first_factor(
        &self,
        user: User,
        step: Option<NextStep>,
        client_id: &str,
        scope: &str,
        method: Method,
        context: &RequestContext,
    ) -> Result<Result<LoginOutcome, Refusal>, AuthError> {
        match step {
            None => self
                .start_session(user, client_id, scope, method, None, context)
                .await
                .map(Ok),
            Some(step) if step == NextStep::Code || method.can_enroll() => self
                .second_step_ahead(user, client_id, scope, method, step)
                .await
                .map(Ok),
            Some(_) => Ok(Err(Refusal::SecondFactorNotSetUp)),
        }
    }

    /// Holds a sign-in whose password was right until its second step; starts the
    /// enrollment when that step is setting up a second factor.
    async fn second_step_ahead(
        &self,
        user: User,
        client_id: &str,
        scope: &str,
        method: Method,
        step: NextStep,
    ) -> Result<LoginOutcome, AuthError> {
        let factors = &self.second_factors;
        let enrollment = match step {
            NextStep::Code => None,
            NextStep::Enroll => Some(factors.begin_totp(&user).await.map_err(auth_error)?),
        };
        let mfa_token = factors
            .challenge(&user, client_id, scope, method.as_str(), step)
            .await
            .map_err(auth_error)?;
        let passkeys = step == NextStep::Code
            && factors.passkeys_on()
            && !factors
                .passkeys(&user)
                .await
                .map_err(auth_error)?
                .is_empty();
        Ok(LoginOutcome::NeedsSecondFactor(Box::new(SecondStep {
            user,
            mfa_token,
            enrollment,
            passkeys,
        })))
    }

    async fn start_session(
        &self,
        user: User,
        client_id: &str,
        scope: &str,
        method: Method,
        second_factor: Option<FactorUsed>,
        context: &RequestContext,
    ) -> Result<LoginOutcome, AuthError> {
        let amr = super::mfa::amr(method.first_factor(), second_factor);
        let detail = serde_json::json!({
            "method": method.as_str(),
            "second_factor": second_factor.map(FactorUsed::as_str),
        });
        let started = self
            .start_session_with(
                user,
                client_id,
                scope,
                amr,
                detail,
                method.signed_in(),
                context,
            )
            .await;
        if method == Method::LegacyToken && started.is_ok() {
            metrics::counter!("gatehouse_legacy_exchanged_total").increment(1);
        }
        started
    }

    /// Starts the session of a sign-in that `amr` describes, and records it as `kind` with
    /// `detail`.
    #[allow(clippy::too_many_arguments)]
    async fn start_session_with(
        &self,
        user: User,
        client_id: &str,
        scope: &str,
        amr: Vec<String>,
        detail: serde_json::Value,
        kind: EventType,
        context: &RequestContext,
    ) -> Result<LoginOutcome, AuthError> {
        let (session, refresh_token) = self
            .sessions
            .start(user.id, client_id, scope, amr, context)
            .await?;
        self.audit
            .record(
                by_the_person(kind, user.id, context)
                    .client(client_id)
                    .session(&session.id)
                    .detail(detail),
            )
            .await;
        Ok(LoginOutcome::SignedIn(Box::new(SignedIn {
            user,
            session,
            refresh_token,
            recovery_codes: Vec::new(),
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
            Self::UnknownMfaToken => "unknown_mfa_token",
            Self::SecondFactorNotSetUp => "second_factor_not_set_up",
            Self::PasskeyRefused => "passkey_refused",
            Self::NoCodeFactor => "no_code_factor",
            Self::LegacyTokenRefused => "legacy_token_refused",
        }
    }
}

/// A second-factor failure that is no refusal: storage, or a secret that does not open.
pub(super) fn auth_error(e: MfaError) -> AuthError {
    match e {
        MfaError::Auth(e) => e,
        other => AuthError::Store(StoreError::Internal(Box::new(other))),
    }
}
