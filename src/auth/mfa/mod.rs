//! Second factors: TOTP with recovery codes — enrolling, removing, and checking a code
//! when someone signs in — and passkeys (`passkeys.rs`). Wrong codes count against the
//! account's sign-in limit (keyed by its address, as passwords are) and are audited.

pub mod passkeys;
pub mod pending;
pub mod recovery;
pub mod sealed;
pub mod totp;

use std::sync::Arc;

use super::{Accounts, AuthError, RequestContext, by_the_person};
use crate::audit::{Audit, EventType};
use crate::clock::Clock;
use crate::domain::{Role, Secret, User};
use crate::limits::{Limited, Limiter};
use crate::store::{
    PasskeyStore, PendingKind, PendingStore, SecondFactorStore, StoreError, StoredTotp,
};
pub use pending::{CHALLENGE_TTL, MfaChallenge, NextStep};
use sealed::SealingKey;
use totp::TotpSecret;

/// A TOTP enrollment to show: the secret typed in, or the URI in a QR code.
#[derive(Debug)]
pub struct Enrollment {
    pub secret: Secret<String>,
    pub otpauth_uri: Secret<String>,
}

/// Which second factors a person has.
#[derive(Clone, Debug, PartialEq)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: u32,
    pub passkeys: Vec<crate::store::StoredPasskey>,
    /// A role of the person requires a second factor (`GATEHOUSE_MFA_REQUIRED_ROLES`).
    pub required: bool,
}

/// The second factor a sign-in used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorUsed {
    Totp,
    RecoveryCode,
    Passkey(passkeys::KeyKind),
}

/// The `amr` values (RFC 8176) of a sign-in with `first_factor` (`pwd`, or `legacy` for an
/// old service's token) and `second_factor`: the first alone, or then `otp` + `mfa` with a
/// TOTP or recovery code (a recovery code is a one-time password too), or `hwk`/`swk` +
/// `mfa` with a passkey.
pub fn amr(first_factor: &str, second_factor: Option<FactorUsed>) -> Vec<String> {
    let methods: &[&str] = match second_factor {
        None => &[first_factor],
        Some(FactorUsed::Totp | FactorUsed::RecoveryCode) => &[first_factor, "otp", "mfa"],
        Some(FactorUsed::Passkey(kind)) => &[first_factor, kind.amr(), "mfa"],
    };
    methods.iter().map(|m| m.to_string()).collect()
}

impl FactorUsed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey(_) => "passkey",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MfaError {
    #[error("the password is not right")]
    WrongPassword,
    #[error("a second factor is already on; remove it first")]
    AlreadyEnrolled,
    #[error("no TOTP enrollment has been started")]
    NotEnrolling,
    #[error("no second factor is on")]
    NotEnrolled,
    /// The person's role requires a second factor: the last one cannot be removed.
    #[error("a role of this account requires a second factor")]
    RequiredByRole,
    /// Passkeys are off on this server.
    #[error("passkeys are not offered by this server")]
    PasskeysOff,
    /// The ceremony is unknown, expired, spent, or another person's.
    #[error("this passkey request has expired or was used already; start again")]
    UnknownCeremony,
    /// The browser's answer did not hold (origin, challenge, signature, user verification,
    /// an unknown credential, a counter gone back…): the reason, safe to show.
    #[error("the passkey was refused: {0}")]
    PasskeyRefused(String),
    /// The credential is registered already (to this account or another).
    #[error("this passkey is registered already")]
    PasskeyTaken,
    #[error("no such passkey")]
    NoSuchPasskey,
    /// A passkey's name is empty, too long or holds control characters.
    #[error("a passkey's name is 1 to 64 characters, without control characters")]
    BadPasskeyName,
    #[error("the code is not right, or has been used already")]
    WrongCode,
    /// The first code of an enrollment was wrong: the enrollment, to show again.
    #[error("the code is not right")]
    WrongFirstCode(Box<Enrollment>),
    #[error("too many attempts")]
    Limited(Limited),
    /// A stored secret does not open with this server's key (another key configured?).
    #[error("the second factor cannot be read")]
    Unreadable,
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<StoreError> for MfaError {
    fn from(e: StoreError) -> Self {
        Self::Auth(e.into())
    }
}

/// A sign-in waiting for its second factor, found by its token.
#[derive(Debug)]
pub struct Pending {
    pub challenge: MfaChallenge,
    hash: [u8; 32],
}

/// Where second factors and the states around them are kept.
pub struct FactorStores {
    pub factors: Arc<dyn SecondFactorStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    /// Sign-ins waiting for their second step, passkey ceremonies.
    pub pending: Arc<dyn PendingStore>,
}

/// The second-factor use cases.
#[derive(Clone)]
pub struct SecondFactors {
    store: Arc<dyn SecondFactorStore>,
    passkeys: Arc<dyn PasskeyStore>,
    /// Where sign-ins waiting for their second step, and passkey ceremonies, are kept.
    pending: Arc<dyn PendingStore>,
    /// WebAuthn for this server's relying party; `None` when passkeys are off.
    webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    /// People with one of these roles must have a second factor
    /// (`GATEHOUSE_MFA_REQUIRED_ROLES`).
    required_roles: Arc<[Role]>,
    key: SealingKey,
    accounts: Accounts,
    limiter: Limiter,
    audit: Audit,
    clock: Arc<dyn Clock>,
    /// The issuer shown in authenticator apps: this server's host.
    label: String,
    /// Tells the person when a second factor is added or removed (the server has one; the
    /// command line does not).
    mailer: Option<crate::mail::Mailer>,
}

impl SecondFactors {
    pub fn new(
        stores: FactorStores,
        key: SealingKey,
        accounts: Accounts,
        limiter: Limiter,
        audit: Audit,
        clock: Arc<dyn Clock>,
        issuer: &str,
    ) -> Self {
        Self {
            store: stores.factors,
            passkeys: stores.passkeys,
            pending: stores.pending,
            webauthn: None,
            required_roles: Arc::new([]),
            key,
            accounts,
            limiter,
            audit,
            clock,
            label: url::Url::parse(issuer)
                .ok()
                .and_then(|url| url.host_str().map(str::to_string))
                .unwrap_or_else(|| "gatehouse".into()),
            mailer: None,
        }
    }

    /// The same use cases, requiring a second factor of people with one of `roles`.
    pub fn requiring_for(mut self, roles: &[Role]) -> Self {
        self.required_roles = roles.into();
        self
    }

    /// Whether `user`'s roles require a second factor.
    pub fn required_by_role(&self, user: &User) -> bool {
        user.roles.iter().any(|r| self.required_roles.contains(r))
    }

    /// The same use cases, telling people of changes to their second factors by mail.
    pub fn with_mailer(mut self, mailer: crate::mail::Mailer) -> Self {
        self.mailer = Some(mailer);
        self
    }

    /// Mails `user` that `notice` happened; a mail that cannot be built is logged, and
    /// delivery is retried by the mailer.
    fn tell(&self, user: &User, notice: crate::mail::messages::Notice) {
        let Some(mailer) = &self.mailer else {
            return;
        };
        match crate::mail::messages::notice_message(notice, user) {
            Ok(mail) => {
                mailer.send(mail);
            }
            Err(e) => {
                tracing::error!(error = %e, user_id = %user.id, "a notice mail could not be built")
            }
        }
    }

    pub async fn status(&self, user: &User) -> Result<MfaStatus, MfaError> {
        let totp = self.confirmed(user).await?.is_some();
        let recovery_codes_left = if totp {
            self.store.recovery_codes_left(user.id).await?
        } else {
            0
        };
        Ok(MfaStatus {
            totp,
            recovery_codes_left,
            passkeys: self.passkeys.passkeys(user.id).await?,
            required: self.required_by_role(user),
        })
    }

    /// Starts a TOTP enrollment after the current password; not in force until
    /// [`Self::confirm_totp`]. Starting again replaces an unconfirmed secret.
    pub async fn start_totp(
        &self,
        user: &User,
        password: &str,
        context: &RequestContext,
    ) -> Result<Enrollment, MfaError> {
        self.wait_turn(user).await?;
        match self.accounts.confirm_password(user.id, password).await {
            Ok(()) => {}
            Err(AuthError::InvalidCredentials) => {
                self.failed(user, "password", context).await?;
                return Err(MfaError::WrongPassword);
            }
            Err(e) => return Err(e.into()),
        }
        self.begin_totp(user).await
    }

    fn enrollment(&self, user: &User, secret: &TotpSecret) -> Enrollment {
        Enrollment {
            secret: Secret::new(secret.base32()),
            otpauth_uri: Secret::new(secret.otpauth_uri(user.email.as_str(), &self.label)),
        }
    }

    /// Puts the enrolled TOTP in force with its first code; the new recovery codes, to be
    /// shown once.
    pub async fn confirm_totp(
        &self,
        user: &User,
        code: &str,
        context: &RequestContext,
    ) -> Result<Vec<String>, MfaError> {
        self.wait_turn(user).await?;
        let stored = match self.store.totp(user.id).await? {
            None => return Err(MfaError::NotEnrolling),
            Some(stored) if stored.confirmed_at.is_some() => {
                return Err(MfaError::AlreadyEnrolled);
            }
            Some(stored) => stored,
        };
        let secret = self.open(user, &stored)?;
        let Some(step) = secret.check(code, self.clock.now(), None) else {
            self.failed(user, "totp", context).await?;
            return Err(MfaError::WrongFirstCode(Box::new(
                self.enrollment(user, &secret),
            )));
        };
        let (codes, hashes) = recovery::generate();
        if !self
            .store
            .confirm_totp(user.id, step, &hashes, self.clock.now())
            .await?
        {
            return Err(MfaError::NotEnrolling);
        }
        self.limiter.succeeded_sign_in(user.email.as_str()).await?;
        self.audited(
            EventType::MfaEnabled,
            user,
            context,
            serde_json::json!({"factor": "totp"}),
        )
        .await;
        self.tell(user, crate::mail::messages::Notice::SecondFactorAdded);
        Ok(codes)
    }

    /// Checks a TOTP or recovery code of a person with a second factor: each TOTP step
    /// and each recovery code is accepted once.
    pub async fn verify(
        &self,
        user: &User,
        code: &str,
        context: &RequestContext,
    ) -> Result<FactorUsed, MfaError> {
        self.wait_turn(user).await?;
        let stored = self.confirmed(user).await?.ok_or(MfaError::NotEnrolled)?;
        let used = if recovery::looks_like_one(code) {
            let hash = recovery::hash(code);
            let now = self.clock.now();
            (self.store.use_recovery_code(user.id, &hash, now).await?)
                .then_some(FactorUsed::RecoveryCode)
        } else {
            let secret = self.open(user, &stored)?;
            match secret.check(code, self.clock.now(), stored.last_step) {
                Some(step) => {
                    (self.store.accept_step(user.id, step).await?).then_some(FactorUsed::Totp)
                }
                None => None,
            }
        };
        let Some(used) = used else {
            self.failed(user, "code", context).await?;
            return Err(MfaError::WrongCode);
        };
        self.limiter.succeeded_sign_in(user.email.as_str()).await?;
        if used == FactorUsed::RecoveryCode {
            let left = self.store.recovery_codes_left(user.id).await?;
            self.audited(
                EventType::RecoveryCodeUsed,
                user,
                context,
                serde_json::json!({"left": left}),
            )
            .await;
        }
        Ok(used)
    }

    /// Removes the person's TOTP and recovery codes, after a current code.
    pub async fn remove_totp(
        &self,
        user: &User,
        code: &str,
        context: &RequestContext,
    ) -> Result<(), MfaError> {
        if self.required_by_role(user) && self.passkeys.passkeys(user.id).await?.is_empty() {
            return Err(MfaError::RequiredByRole);
        }
        self.verify(user, code, context).await?;
        self.store.remove_second_factors(user.id).await?;
        self.audited(
            EventType::MfaRemoved,
            user,
            context,
            serde_json::json!({"factor": "totp"}),
        )
        .await;
        self.tell(user, crate::mail::messages::Notice::SecondFactorRemoved);
        Ok(())
    }

    /// A new set of recovery codes after a current code; the old set stops working.
    pub async fn new_recovery_codes(
        &self,
        user: &User,
        code: &str,
        context: &RequestContext,
    ) -> Result<Vec<String>, MfaError> {
        self.verify(user, code, context).await?;
        let (codes, hashes) = recovery::generate();
        self.store.replace_recovery_codes(user.id, &hashes).await?;
        Ok(codes)
    }

    /// Removes every second factor of `id` (an administrator's reset after a lost
    /// phone) and tells the person; whether there was one.
    pub async fn reset(&self, id: crate::domain::UserId) -> Result<bool, StoreError> {
        let totp = self.store.remove_second_factors(id).await?;
        let passkeys = self.passkeys.remove_passkeys(id).await?;
        let removed = totp || passkeys > 0;
        if removed && self.mailer.is_some() {
            match self.accounts.find_user(id).await {
                Ok(Some(user)) => {
                    self.tell(&user, crate::mail::messages::Notice::SecondFactorReset)
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, user_id = %id, "no notice of the reset"),
            }
        }
        Ok(removed)
    }

    /// What signing in as `user` asks for after the password: a code of their second
    /// factor, setting one up (their role requires one, or the client asked for one:
    /// `second_factor_asked`), or nothing.
    pub async fn next_step(
        &self,
        user: &User,
        second_factor_asked: bool,
    ) -> Result<Option<NextStep>, MfaError> {
        if self.confirmed(user).await?.is_some()
            || !self.passkeys.passkeys(user.id).await?.is_empty()
        {
            return Ok(Some(NextStep::Code));
        }
        Ok((second_factor_asked || self.required_by_role(user)).then_some(NextStep::Enroll))
    }

    /// Holds a sign-in whose password was right until its second step: the token the
    /// client (or browser) answers with, single-use, for `CHALLENGE_TTL`.
    pub async fn challenge(
        &self,
        user: &User,
        client_id: &str,
        scope: &str,
        method: &str,
        step: NextStep,
    ) -> Result<Secret<String>, MfaError> {
        let (token, hash) = pending::new_token();
        let expires_at =
            self.clock.now() + chrono::Duration::from_std(CHALLENGE_TTL).unwrap_or_default();
        let challenge = MfaChallenge {
            user_id: user.id.as_uuid(),
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            method: method.to_string(),
            step,
            expires_at,
        };
        self.pending
            .put_pending(PendingKind::SignIn, &hash, &challenge.encode(), expires_at)
            .await?;
        Ok(token)
    }

    /// The sign-in `token` holds, if it is `client_id`'s, unexpired and unspent.
    pub async fn pending(&self, token: &str, client_id: &str) -> Result<Option<Pending>, MfaError> {
        let hash = pending::token_hash(token);
        let now = self.clock.now();
        let Some(found) = self
            .pending
            .find_pending(PendingKind::SignIn, &hash, now)
            .await?
        else {
            return Ok(None);
        };
        let challenge = MfaChallenge::decode(&found)?;
        Ok(
            (challenge.client_id == client_id && challenge.expires_at > now)
                .then_some(Pending { challenge, hash }),
        )
    }

    /// Spends a pending sign-in once its step is done; `false` if another answer did.
    pub async fn spend(&self, pending: &Pending) -> Result<bool, MfaError> {
        Ok(self
            .pending
            .take_pending(PendingKind::SignIn, &pending.hash)
            .await?)
    }

    /// Starts a TOTP enrollment without asking for the password: the caller has just
    /// checked it (a sign-in that requires a second factor, or [`Self::start_totp`]).
    pub async fn begin_totp(&self, user: &User) -> Result<Enrollment, MfaError> {
        let secret = TotpSecret::generate();
        let sealed = self.key.seal(user.id, secret.as_bytes());
        if !self
            .store
            .start_totp(user.id, &sealed, self.clock.now())
            .await?
        {
            return Err(MfaError::AlreadyEnrolled);
        }
        Ok(self.enrollment(user, &secret))
    }

    async fn confirmed(&self, user: &User) -> Result<Option<StoredTotp>, MfaError> {
        Ok(self
            .store
            .totp(user.id)
            .await?
            .filter(|stored| stored.confirmed_at.is_some()))
    }

    fn open(&self, user: &User, stored: &StoredTotp) -> Result<TotpSecret, MfaError> {
        self.key
            .open(user.id, &stored.sealed_secret)
            .map(TotpSecret::from_bytes)
            .map_err(|e| {
                tracing::error!(user_id = %user.id, "{e}");
                MfaError::Unreadable
            })
    }

    /// The account's sign-in limit: wrong codes make it wait as wrong passwords do.
    async fn wait_turn(&self, user: &User) -> Result<(), MfaError> {
        self.limiter
            .account_waiting(user.email.as_str())
            .await?
            .map_err(MfaError::Limited)
    }

    /// Records `kind`, done by `user` themselves, with `detail`.
    async fn audited(
        &self,
        kind: EventType,
        user: &User,
        context: &RequestContext,
        detail: serde_json::Value,
    ) {
        self.audit
            .record(by_the_person(kind, user.id, context).detail(detail))
            .await;
    }

    async fn failed(
        &self,
        user: &User,
        what: &str,
        context: &RequestContext,
    ) -> Result<(), MfaError> {
        self.audited(
            EventType::MfaFailed,
            user,
            context,
            serde_json::json!({"wrong": what}),
        )
        .await;
        self.limiter.failed_sign_in(user.email.as_str()).await?;
        Ok(())
    }
}
