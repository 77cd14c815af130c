//! The account use cases: register, sign in with a password, read and change a profile.

use std::sync::Arc;

use super::caches::Caches;
use crate::clock::Clock;
use crate::domain::{
    Email, EndCause, NewUser, Password, Profile, ProfilePatch, Role, Secret, SessionId, User,
    UserId, UserName,
};
use crate::store::{StoreError, UserStore};

use super::password::{HashError, PasswordHasher, Verification};
use super::sessions::Sessions;

/// Why an account operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown email or wrong password: deliberately one case.
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("the account is disabled")]
    AccountDisabled,
    /// Only with `GATEHOUSE_REQUIRE_VERIFIED_EMAIL`, and only after the right password.
    #[error("the email address is not verified")]
    EmailNotVerified,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("no such user")]
    UnknownUser,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
}

/// The outcome of a sign-in, with the account the address names when there is one: the
/// audit log attributes a refused attempt to it, while the answer to the client stays the
/// one for an unknown address.
#[derive(Debug)]
pub struct SignInAttempt {
    pub account: Option<UserId>,
    pub result: Result<User, AuthError>,
}

/// What importing one account did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Imported {
    Created,
    /// An account has the address already: left as it was.
    Present,
    /// An account has the address already, and had no old id: it has the line's now.
    LegacyIdRecorded,
    /// The line's old id belongs to another account, or the account has another one.
    Refused(String),
}

/// A validated registration.
#[derive(Clone, Debug)]
pub struct Registration {
    pub email: Email,
    pub name: UserName,
    pub password: Password,
    pub profile: Profile,
}

/// Account use cases over a user store and the password hasher.
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    hasher: PasswordHasher,
    clock: Arc<dyn Clock>,
    require_verified_email: bool,
    /// Accounts this instance remembers (see [`Caches`]).
    caches: Caches,
}

impl Accounts {
    pub fn new(users: Arc<dyn UserStore>, hasher: PasswordHasher, clock: Arc<dyn Clock>) -> Self {
        Self {
            users,
            hasher,
            clock,
            require_verified_email: false,
            caches: Caches::new(None),
        }
    }

    /// The same use cases, remembering accounts in `caches`.
    pub fn with_caches(mut self, caches: Caches) -> Self {
        self.caches = caches;
        self
    }

    /// Forgets what this instance remembers of account `id` (changed elsewhere in it).
    pub fn forget(&self, id: UserId) {
        self.caches.forget_user(id);
    }

    /// Remembers `user` as just changed by this instance.
    fn changed(&self, user: User) -> User {
        self.caches.remember_user(&user);
        user
    }

    /// Sign-in refuses accounts whose address is not verified (after the right password).
    pub fn requiring_verified_email(mut self, required: bool) -> Self {
        self.require_verified_email = required;
        self
    }

    /// Creates an account with no roles; roles are only ever given by an administrator.
    pub async fn register(&self, registration: Registration) -> Result<User, AuthError> {
        self.create(registration, Vec::new()).await
    }

    /// Creates an imported account as it is (its hash kept until the next sign-in). An
    /// account already there keeps everything, and gets the line's old id when it has none.
    pub async fn import(&self, user: &NewUser) -> Result<Imported, AuthError> {
        let Some(legacy_id) = user.legacy_id else {
            return match self.users.create_user(user).await {
                Ok(_) => Ok(Imported::Created),
                Err(StoreError::Conflict(_)) => Ok(Imported::Present),
                Err(e) => Err(e.into()),
            };
        };
        let taken = || {
            Imported::Refused(format!(
                "legacy_id: another account has {legacy_id} already"
            ))
        };
        let holder = self.users.find_user_by_legacy_id(legacy_id).await?;
        let existing = self.users.find_credentials(&user.email).await?;
        match (existing.map(|c| c.user.id), holder.map(|h| h.id)) {
            (Some(account), Some(holder)) if account == holder => Ok(Imported::Present),
            (_, Some(_)) => Ok(taken()),
            (Some(account), None) => match self.users.set_legacy_id(account, legacy_id).await {
                Ok(true) => Ok(Imported::LegacyIdRecorded),
                Ok(false) => Ok(Imported::Refused(format!(
                    "legacy_id: the account of this email has an old id other than {legacy_id}"
                ))),
                Err(StoreError::Conflict(_)) => Ok(taken()),
                Err(e) => Err(e.into()),
            },
            (None, None) => match self.users.create_user(user).await {
                Ok(_) => Ok(Imported::Created),
                Err(StoreError::Conflict("users_legacy_id")) => Ok(taken()),
                Err(StoreError::Conflict(_)) => Ok(Imported::Present),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// The account the old service knew by `legacy_id`, whatever its state.
    pub async fn by_legacy_id(&self, legacy_id: i64) -> Result<Option<User>, AuthError> {
        Ok(self.users.find_user_by_legacy_id(legacy_id).await?)
    }

    /// Creates an account with the given roles (the `user create` command).
    pub async fn create(
        &self,
        registration: Registration,
        roles: Vec<crate::domain::Role>,
    ) -> Result<User, AuthError> {
        let password_hash = self.hasher.hash(&registration.password).await?;
        let user = NewUser {
            id: UserId::generate(),
            email: registration.email,
            name: registration.name,
            password_hash,
            roles,
            email_verified: false,
            profile: registration.profile,
            created_at: self.clock.now(),
            legacy_id: None,
        };
        self.users.create_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(_) => AuthError::EmailTaken,
            other => other.into(),
        })
    }

    /// Checks an email and password. Unknown email and wrong password take the same path
    /// through one argon2 verification and give the same error; the account's state is
    /// revealed only to someone who knows the password.
    pub async fn sign_in(&self, email: &str, password: &str) -> SignInAttempt {
        let mut account = None;
        let result = self.check_password(email, password, &mut account).await;
        let label = match &result {
            Ok(_) => "success",
            Err(AuthError::InvalidCredentials) => "invalid_credentials",
            Err(AuthError::AccountDisabled) => "disabled",
            Err(AuthError::EmailNotVerified) => "unverified",
            Err(_) => "error",
        };
        metrics::counter!("gatehouse_logins_total", "result" => label).increment(1);
        SignInAttempt { account, result }
    }

    async fn check_password(
        &self,
        email: &str,
        password: &str,
        account: &mut Option<UserId>,
    ) -> Result<User, AuthError> {
        let password = Password::for_verification(password);
        let credentials = match Email::parse(email) {
            Ok(email) => self.users.find_credentials(&email).await?,
            Err(_) => None,
        };
        *account = credentials.as_ref().map(|c| c.user.id);
        let verification = self
            .hasher
            .verify(&password, credentials.as_ref().map(|c| &c.password_hash))
            .await?;
        let (Verification::Match { rehash }, Some(credentials)) = (verification, credentials)
        else {
            return Err(AuthError::InvalidCredentials);
        };
        self.admits(&credentials.user)?;
        if rehash {
            self.upgrade_hash(&credentials.user, &credentials.password_hash, &password)
                .await;
        }
        Ok(credentials.user)
    }

    /// Whether `user`, whose first factor held, may sign in: not disabled, and verified when
    /// this server requires it.
    pub fn admits(&self, user: &User) -> Result<(), AuthError> {
        if user.disabled {
            return Err(AuthError::AccountDisabled);
        }
        if self.require_verified_email && !user.email_verified {
            return Err(AuthError::EmailNotVerified);
        }
        Ok(())
    }

    /// Replaces an outdated hash; a failure here must not fail the sign-in.
    async fn upgrade_hash(&self, user: &User, old: &Secret<String>, password: &Password) {
        let result = async {
            let new_hash = self.hasher.hash(password).await?;
            let replaced = self
                .users
                .replace_password_hash(user.id, old, &new_hash, self.clock.now())
                .await?;
            Ok::<_, AuthError>(replaced)
        }
        .await;
        match result {
            Ok(true) => {
                tracing::info!(user_id = %user.id, "password hash upgraded to current argon2id")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(user_id = %user.id, error = %e, "could not upgrade password hash")
            }
        }
    }

    /// Tells the hasher the slowest bcrypt hash still stored, so that refused sign-ins
    /// take as long for every account and for unknown addresses. Run at start and from
    /// time to time (a `user import` may add hashes; sign-ins replace them).
    pub async fn refresh_refusal_cost(&self) -> Result<(), AuthError> {
        let cost = self.users.slowest_bcrypt_cost().await?;
        self.hasher.expect_bcrypt_cost(cost);
        Ok(())
    }

    /// Whether the account still holds the old service's hash after signing in: its
    /// password is longer than bcrypt reads, and its owner should choose a new one.
    pub async fn needs_new_password(&self, id: UserId) -> Result<bool, AuthError> {
        let stored = self.users.password_hash(id).await?;
        Ok(stored.as_ref().is_some_and(PasswordHasher::is_legacy))
    }

    /// The user behind a token: must exist and be enabled.
    pub async fn active_user(&self, id: UserId) -> Result<User, AuthError> {
        let user = match self.caches.user(id, self.clock.now()) {
            Some(user) => Some(User::clone(&user)),
            None => {
                let found = self.users.find_user(id).await?;
                if let Some(user) = &found {
                    self.caches.remember_user(user);
                }
                found
            }
        };
        match user {
            Some(user) if user.disabled => Err(AuthError::AccountDisabled),
            Some(user) => Ok(user),
            None => Err(AuthError::UnknownUser),
        }
    }

    /// Accounts changed since `since` (inclusive), as their `updated_at` says.
    pub async fn changed_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        self.users.users_changed_since(since).await
    }

    /// An enabled account and its stored password hash.
    async fn active_with_hash(&self, id: UserId) -> Result<(User, Secret<String>), AuthError> {
        let user = self.active_user(id).await?;
        let stored = self
            .users
            .password_hash(id)
            .await?
            .ok_or(AuthError::UnknownUser)?;
        Ok((user, stored))
    }

    /// Checks `password` against an active account's (`InvalidCredentials` when wrong).
    pub async fn confirm_password(&self, id: UserId, password: &str) -> Result<(), AuthError> {
        self.checked_password(id, password).await.map(|_| ())
    }

    async fn checked_password(
        &self,
        id: UserId,
        password: &str,
    ) -> Result<(User, Secret<String>), AuthError> {
        let (user, stored) = self.active_with_hash(id).await?;
        let verification = self
            .hasher
            .verify(&Password::for_verification(password), Some(&stored))
            .await?;
        if verification == Verification::Mismatch {
            return Err(AuthError::InvalidCredentials);
        }
        Ok((user, stored))
    }

    pub async fn update_profile(
        &self,
        id: UserId,
        name: Option<UserName>,
        patch: ProfilePatch,
    ) -> Result<User, AuthError> {
        self.active_user(id).await?;
        let user = self
            .users
            .update_user_profile(id, name.as_ref(), &patch, self.clock.now())
            .await?
            .ok_or(AuthError::UnknownUser)?;
        Ok(self.changed(user))
    }

    pub async fn find_user(&self, id: UserId) -> Result<Option<User>, AuthError> {
        Ok(self.users.find_user(id).await?)
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, AuthError> {
        Ok(self.users.find_credentials(email).await?.map(|c| c.user))
    }

    /// Changes the password after checking the current one, and ends every other
    /// session of the account.
    pub async fn change_password(
        &self,
        sessions: &Sessions,
        id: UserId,
        current: &str,
        new: &Password,
        keep: Option<&SessionId>,
    ) -> Result<(), AuthError> {
        let (user, stored) = self.checked_password(id, current).await?;
        self.replace_password(sessions, id, &stored, new, keep)
            .await?;
        tracing::info!(user_id = %user.id, "password changed");
        Ok(())
    }

    /// Sets a new password without the old one (a password-reset link was followed) and
    /// ends every session of the account.
    pub async fn reset_password(
        &self,
        sessions: &Sessions,
        id: UserId,
        new: &Password,
    ) -> Result<(), AuthError> {
        let (user, stored) = self.active_with_hash(id).await?;
        self.replace_password(sessions, id, &stored, new, None)
            .await?;
        tracing::info!(user_id = %user.id, "password reset");
        Ok(())
    }

    /// Replaces the hash `stored` with one of `new` and ends every session but `keep`. If
    /// the password changed meanwhile (another change or reset won the race), nothing is
    /// overwritten: a password this request did not see is not replaced.
    async fn replace_password(
        &self,
        sessions: &Sessions,
        id: UserId,
        stored: &Secret<String>,
        new: &Password,
        keep: Option<&SessionId>,
    ) -> Result<(), AuthError> {
        let new_hash = self.hasher.hash(new).await?;
        if !self
            .users
            .replace_password_hash(id, stored, &new_hash, self.clock.now())
            .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        sessions
            .end_all(id, keep, EndCause::PasswordChanged)
            .await?;
        Ok(())
    }

    /// Disables or enables an account; disabling ends all its sessions at once.
    pub async fn set_disabled(
        &self,
        sessions: &Sessions,
        id: UserId,
        disabled: bool,
    ) -> Result<User, AuthError> {
        let user = self
            .users
            .set_user_disabled(id, disabled, self.clock.now())
            .await?
            .ok_or(AuthError::UnknownUser)?;
        let user = self.changed(user);
        if disabled {
            sessions.end_all(id, None, EndCause::UserDisabled).await?;
        }
        tracing::info!(user_id = %id, disabled, "account {}", if disabled { "disabled" } else { "enabled" });
        Ok(user)
    }

    pub async fn set_roles(&self, id: UserId, roles: &[Role]) -> Result<User, AuthError> {
        let mut roles = roles.to_vec();
        roles.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        roles.dedup();
        let user = self
            .users
            .set_user_roles(id, &roles, self.clock.now())
            .await?
            .ok_or(AuthError::UnknownUser)?;
        let user = self.changed(user);
        let names: Vec<&str> = roles.iter().map(Role::as_str).collect();
        tracing::info!(user_id = %id, roles = ?names, "roles changed");
        Ok(user)
    }

    pub async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<UserId>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<User>, AuthError> {
        Ok(self.users.list_users(query, after, offset, limit).await?)
    }

    /// How many accounts there are.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.users.count_users().await
    }
}
