//! Second factors: TOTP with recovery codes — enrolling, removing, and checking a code
//! when someone signs in. Wrong codes count against the account's sign-in limit (keyed
//! by its address, as passwords are) and are audited.

pub mod recovery;
pub mod sealed;
pub mod totp;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::{Accounts, AuthError, RequestContext, by_the_person};
use crate::audit::{Audit, EventType};
use crate::clock::Clock;
use crate::domain::{Secret, User};
use crate::limits::{Limited, Limiter};
use crate::store::{MfaChallenge, SecondFactorStore, StoreError, StoredTotp};
use sealed::SealingKey;
use totp::TotpSecret;

/// A TOTP enrollment to show: the secret typed in, or the URI in a QR code.
#[derive(Debug)]
pub struct Enrollment {
    pub secret: Secret<String>,
    pub otpauth_uri: Secret<String>,
}

/// Which second factors a person has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: u32,
}

/// The factor a right code belonged to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FactorUsed {
    Totp,
    RecoveryCode,
}

/// The `amr` values (RFC 8176) of a sign-in with the password and `second_factor`:
/// `pwd`, and `otp` + `mfa` with a TOTP or recovery code (a recovery code is a
/// one-time password too).
pub fn amr(second_factor: Option<FactorUsed>) -> Vec<String> {
    let methods: &[&str] = match second_factor {
        None => &["pwd"],
        Some(_) => &["pwd", "otp", "mfa"],
    };
    methods.iter().map(|m| m.to_string()).collect()
}

impl FactorUsed {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
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
    #[error("the code is not right, or has been used already")]
    WrongCode,
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

/// How long a sign-in whose password was right waits for its second factor.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(300);

/// A sign-in waiting for its second factor, found by its token.
#[derive(Debug)]
pub struct Pending {
    pub challenge: MfaChallenge,
    hash: [u8; 32],
}

/// The second-factor use cases.
#[derive(Clone)]
pub struct SecondFactors {
    store: Arc<dyn SecondFactorStore>,
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
        store: Arc<dyn SecondFactorStore>,
        key: SealingKey,
        accounts: Accounts,
        limiter: Limiter,
        audit: Audit,
        clock: Arc<dyn Clock>,
        issuer: &str,
    ) -> Self {
        Self {
            store,
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

    /// The enrollment started and not confirmed yet, to show again (the account page
    /// after a wrong first code).
    pub async fn pending_enrollment(&self, user: &User) -> Result<Option<Enrollment>, MfaError> {
        let stored = match self.store.totp(user.id).await? {
            Some(stored) if stored.confirmed_at.is_none() => stored,
            _ => return Ok(None),
        };
        let secret = self.open(user, &stored)?;
        Ok(Some(self.enrollment(user, &secret)))
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
            return Err(MfaError::WrongCode);
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
    /// phone); whether there was one.
    pub async fn reset(&self, id: crate::domain::UserId) -> Result<bool, StoreError> {
        self.store.remove_second_factors(id).await
    }

    /// Whether signing in as `user` asks for a second factor.
    pub async fn required(&self, user: &User) -> Result<bool, MfaError> {
        Ok(self.confirmed(user).await?.is_some())
    }

    /// Holds a sign-in whose password was right until its second factor: the token the
    /// client (or browser) answers with, single-use, for `CHALLENGE_TTL`.
    pub async fn challenge(
        &self,
        user: &User,
        client_id: &str,
        scope: &str,
        method: &str,
    ) -> Result<Secret<String>, MfaError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let expires_at =
            self.clock.now() + chrono::Duration::from_std(CHALLENGE_TTL).unwrap_or_default();
        let challenge = MfaChallenge {
            user_id: user.id,
            client_id: client_id.to_string(),
            scope: scope.to_string(),
            method: method.to_string(),
            expires_at,
        };
        self.store
            .create_challenge(&challenge_hash(&token), &challenge)
            .await?;
        Ok(Secret::new(token))
    }

    /// The sign-in `token` holds, if it is `client_id`'s, unexpired and unspent.
    pub async fn pending(&self, token: &str, client_id: &str) -> Result<Option<Pending>, MfaError> {
        let hash = challenge_hash(token);
        let found = self.store.find_challenge(&hash, self.clock.now()).await?;
        Ok(found
            .filter(|challenge| challenge.client_id == client_id)
            .map(|challenge| Pending { challenge, hash }))
    }

    /// Spends a pending sign-in once its code was right; `false` if another answer did.
    pub async fn spend(&self, pending: &Pending) -> Result<bool, MfaError> {
        Ok(self.store.spend_challenge(&pending.hash).await?)
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

fn challenge_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
