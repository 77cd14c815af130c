//! Passkeys (WebAuthn Level 3, through webauthn-rs): registering one on the account,
//! signing in with one alone (a discoverable credential, user verification required),
//! and one as the second step after a password. Every ceremony's state is kept on the
//! server, single-use, for a few minutes, where the waiting sign-ins are kept.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, WebauthnError,
};
use webauthn_rs_proto::ResidentKeyRequirement;

use super::pending::{new_token, token_hash};
use super::{CHALLENGE_TTL, MfaError, Pending, SecondFactors};
use crate::audit::EventType;
use crate::auth::{AuthError, RequestContext};
use crate::config::RelyingParty;
use crate::domain::{Secret, User, UserId};
use crate::mail::messages::Notice;
use crate::store::{PendingKind, StoreError, StoredPasskey};

/// How a passkey keeps its key, as the authenticator says (RFC 8176 `amr`): a key that
/// may be copied to other devices (backup eligible: a synced passkey) is software-held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Hardware,
    Software,
}

impl KeyKind {
    pub fn amr(self) -> &'static str {
        match self {
            Self::Hardware => "hwk",
            Self::Software => "swk",
        }
    }
}

/// `amr` of a sign-in with a passkey alone: the key, a user verified on the device
/// (RFC 8176 `user`), and so more than one factor.
pub fn passwordless_amr(kind: KeyKind) -> Vec<String> {
    [kind.amr(), "user", "mfa"].map(String::from).to_vec()
}

/// A WebAuthn ceremony begun: the token that finishes it, and the options for the
/// browser (`navigator.credentials.create` or `.get`, as JSON: `{"publicKey": {…}}`).
#[derive(Debug)]
pub struct Ceremony {
    pub id: Secret<String>,
    pub options: serde_json::Value,
}

/// What proves it is the person registering a passkey: the current password, or a code
/// of a second factor they have.
#[derive(Clone, Copy, Debug)]
pub enum Proof<'a> {
    Password(&'a str),
    Code(&'a str),
}

/// The longest passkey name.
const NAME_CHARS: usize = 64;

/// A registration begun, as kept until its answer.
#[derive(Serialize, Deserialize)]
struct Registering {
    user_id: Uuid,
    name: String,
    state: PasskeyRegistration,
    expires_at: DateTime<Utc>,
}

/// A passwordless sign-in begun.
#[derive(Serialize, Deserialize)]
struct SigningIn {
    state: DiscoverableAuthentication,
    expires_at: DateTime<Utc>,
}

/// A passkey offered as a waiting sign-in's second step.
#[derive(Serialize, Deserialize)]
struct Stepping {
    state: PasskeyAuthentication,
    expires_at: DateTime<Utc>,
}

/// The relying party's WebAuthn, or why there is none.
pub fn webauthn(party: &RelyingParty) -> Result<webauthn_rs::Webauthn, WebauthnError> {
    webauthn_rs::WebauthnBuilder::new(&party.id, &party.origin)?
        .rp_name(&party.name)
        .timeout(CHALLENGE_TTL)
        .build()
}

fn refused(e: WebauthnError) -> MfaError {
    MfaError::PasskeyRefused(e.to_string())
}

/// A state or credential as kept: JSON. Failing to write or read one is a server fault.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, MfaError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Internal(Box::new(e)).into())
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, MfaError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Internal(Box::new(e)).into())
}

/// The browser's answer, as JSON; one that is not a WebAuthn credential is refused.
fn credential<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, MfaError> {
    serde_json::from_str(json)
        .map_err(|_| MfaError::PasskeyRefused("the answer is not a WebAuthn credential".into()))
}

impl SecondFactors {
    /// The same use cases, with passkeys for `webauthn`'s relying party.
    pub fn with_passkeys(mut self, webauthn: webauthn_rs::Webauthn) -> Self {
        self.webauthn = Some(Arc::new(webauthn));
        self
    }

    /// Whether passkeys are offered.
    pub fn passkeys_on(&self) -> bool {
        self.webauthn.is_some()
    }

    fn relying_party(&self) -> Result<&webauthn_rs::Webauthn, MfaError> {
        self.webauthn.as_deref().ok_or(MfaError::PasskeysOff)
    }

    /// A person's passkeys, oldest first.
    pub async fn passkeys(&self, user: &User) -> Result<Vec<StoredPasskey>, MfaError> {
        Ok(self.passkeys.passkeys(user.id).await?)
    }

    /// Begins registering a passkey named `name` for `user`, after `proof`. The options ask
    /// for a discoverable credential (so that signing in needs no address) and user
    /// verification, and exclude the passkeys the person has.
    pub async fn start_passkey_registration(
        &self,
        user: &User,
        name: &str,
        proof: Proof<'_>,
        context: &RequestContext,
    ) -> Result<Ceremony, MfaError> {
        let webauthn = self.relying_party()?;
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > NAME_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(MfaError::BadPasskeyName);
        }
        match proof {
            Proof::Password(password) => {
                self.wait_turn(user).await?;
                match self.accounts.confirm_password(user.id, password).await {
                    Ok(()) => {}
                    Err(AuthError::InvalidCredentials) => {
                        self.failed(user, "password", context).await?;
                        return Err(MfaError::WrongPassword);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            Proof::Code(code) => {
                self.verify(user, code, context).await?;
            }
        }
        let existing = self.passkeys.passkeys(user.id).await?;
        let exclude = existing.iter().map(|p| p.credential_id.clone()).collect();
        let (mut options, state) = webauthn
            .start_passkey_registration(
                user.id.as_uuid(),
                user.email.as_str(),
                user.name.as_str(),
                Some(exclude),
            )
            .map_err(refused)?;
        // A discoverable credential: the authenticator keeps the account, so that
        // "Sign in with a passkey" needs no address typed first.
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        let registering = Registering {
            user_id: user.id.as_uuid(),
            name: name.to_string(),
            state,
            expires_at: self.expiry(),
        };
        self.begin(
            PendingKind::PasskeyRegistration,
            &registering,
            registering.expires_at,
            options,
        )
        .await
    }

    /// Finishes a registration with the browser's answer (`credential`, JSON): the passkey
    /// is added, audited (`passkey.added`) and the person told by mail.
    pub async fn finish_passkey_registration(
        &self,
        user: &User,
        ceremony: &str,
        credential_json: &str,
        context: &RequestContext,
    ) -> Result<StoredPasskey, MfaError> {
        let webauthn = self.relying_party()?;
        let registering: Registering = self
            .take(PendingKind::PasskeyRegistration, &token_hash(ceremony))
            .await?;
        if registering.user_id != user.id.as_uuid() || registering.expires_at <= self.clock.now() {
            return Err(MfaError::UnknownCeremony);
        }
        let answer: RegisterPublicKeyCredential = credential(credential_json)?;
        let passkey = webauthn
            .finish_passkey_registration(&answer, &registering.state)
            .map_err(refused)?;
        let stored = StoredPasskey {
            id: Uuid::now_v7(),
            user_id: user.id,
            credential_id: passkey.cred_id().to_vec(),
            name: registering.name,
            credential: encode(&passkey)?,
            created_at: self.clock.now(),
            last_used_at: None,
        };
        match self.passkeys.add_passkey(&stored).await {
            Ok(()) => {}
            Err(StoreError::Conflict(_)) => return Err(MfaError::PasskeyTaken),
            Err(e) => return Err(e.into()),
        }
        self.audited(
            EventType::PasskeyAdded,
            user,
            context,
            serde_json::json!({"passkey": stored.id, "name": stored.name}),
        )
        .await;
        self.tell(user, Notice::PasskeyAdded);
        Ok(stored)
    }

    /// Removes one of the person's passkeys, unless it is the last second factor of a
    /// person whose role requires one.
    pub async fn remove_passkey(
        &self,
        user: &User,
        id: Uuid,
        context: &RequestContext,
    ) -> Result<(), MfaError> {
        let passkeys = self.passkeys.passkeys(user.id).await?;
        let Some(passkey) = passkeys.iter().find(|p| p.id == id) else {
            return Err(MfaError::NoSuchPasskey);
        };
        let last = passkeys.len() == 1 && self.confirmed(user).await?.is_none();
        if last && self.required_by_role(user) {
            return Err(MfaError::RequiredByRole);
        }
        if !self.passkeys.remove_passkey(user.id, id).await? {
            return Err(MfaError::NoSuchPasskey);
        }
        self.audited(
            EventType::PasskeyRemoved,
            user,
            context,
            serde_json::json!({"passkey": id, "name": passkey.name}),
        )
        .await;
        self.tell(user, Notice::PasskeyRemoved);
        Ok(())
    }

    /// Begins a sign-in with a passkey alone: the authenticator offers the accounts it
    /// holds for this relying party. `conditional`: the browser offers them in the
    /// address field's autofill (conditional mediation) instead of a dialog.
    pub async fn start_passkey_sign_in(&self, conditional: bool) -> Result<Ceremony, MfaError> {
        let webauthn = self.relying_party()?;
        let (mut options, state) = webauthn
            .start_discoverable_authentication()
            .map_err(refused)?;
        if !conditional {
            options.mediation = None;
        }
        let signing_in = SigningIn {
            state,
            expires_at: self.expiry(),
        };
        self.begin(
            PendingKind::PasskeySignIn,
            &signing_in,
            signing_in.expires_at,
            options,
        )
        .await
    }

    /// Finishes a passwordless sign-in: the person whose passkey answered, and how it
    /// holds its key. The credential's user handle must be the account it is registered
    /// to; its signature counter must go forward (else `passkey.clone_warning` is audited
    /// and the sign-in refused).
    pub async fn finish_passkey_sign_in(
        &self,
        ceremony: &str,
        credential_json: &str,
        context: &RequestContext,
    ) -> Result<(UserId, KeyKind), MfaError> {
        let webauthn = self.relying_party()?;
        let signing_in: SigningIn = self
            .take(PendingKind::PasskeySignIn, &token_hash(ceremony))
            .await?;
        if signing_in.expires_at <= self.clock.now() {
            return Err(MfaError::UnknownCeremony);
        }
        let answer: PublicKeyCredential = credential(credential_json)?;
        let (handle, credential_id) = webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(refused)?;
        let unknown = || MfaError::PasskeyRefused("this passkey is not registered here".into());
        let stored = self
            .passkeys
            .passkey_by_credential_id(credential_id)
            .await?
            .ok_or_else(unknown)?;
        if stored.user_id.as_uuid() != handle {
            return Err(unknown());
        }
        let mut passkey: Passkey = decode(&stored.credential)?;
        let result =
            webauthn.finish_discoverable_authentication_v2(&answer, signing_in.state, &passkey);
        let kind = self.used(&stored, &mut passkey, result, context).await?;
        Ok((stored.user_id, kind))
    }

    /// Offers the person's passkeys as the second step of the sign-in `pending` holds; the
    /// options for the browser.
    pub async fn start_passkey_step(
        &self,
        pending: &Pending,
    ) -> Result<serde_json::Value, MfaError> {
        let webauthn = self.relying_party()?;
        let stored = self.passkeys.passkeys(pending.challenge.user()).await?;
        if stored.is_empty() {
            return Err(MfaError::NotEnrolled);
        }
        let passkeys = stored
            .iter()
            .map(|p| decode::<Passkey>(&p.credential))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(refused)?;
        let stepping = Stepping {
            state,
            expires_at: pending.challenge.expires_at,
        };
        self.pending
            .put_pending(
                PendingKind::PasskeyStep,
                &pending.hash,
                &encode(&stepping)?,
                stepping.expires_at,
            )
            .await?;
        serde_json::to_value(options).map_err(|e| StoreError::Internal(Box::new(e)).into())
    }

    /// Checks a passkey's answer to the second step of the sign-in `pending` holds.
    pub async fn finish_passkey_step(
        &self,
        pending: &Pending,
        credential_json: &str,
        context: &RequestContext,
    ) -> Result<KeyKind, MfaError> {
        let webauthn = self.relying_party()?;
        let stepping: Stepping = self.take(PendingKind::PasskeyStep, &pending.hash).await?;
        let answer: PublicKeyCredential = credential(credential_json)?;
        let user = pending.challenge.user();
        let stored = self
            .passkeys
            .passkey_by_credential_id(answer.get_credential_id())
            .await?
            .filter(|p| p.user_id == user)
            .ok_or_else(|| MfaError::PasskeyRefused("this passkey is not the account's".into()))?;
        let mut passkey: Passkey = decode(&stored.credential)?;
        let result = webauthn.finish_passkey_authentication(&answer, &stepping.state);
        self.used(&stored, &mut passkey, result, context).await
    }

    /// After an assertion: a counter gone back is a clone warning (audited, refused); a
    /// good one updates the stored credential and its last use.
    async fn used(
        &self,
        stored: &StoredPasskey,
        passkey: &mut Passkey,
        result: Result<webauthn_rs::prelude::AuthenticationResult, WebauthnError>,
        context: &RequestContext,
    ) -> Result<KeyKind, MfaError> {
        let result = match result {
            Ok(result) => result,
            Err(WebauthnError::CredentialPossibleCompromise) => {
                let user = self.accounts.find_user(stored.user_id).await?;
                let mut event = crate::audit::Event::new(EventType::PasskeyCloneWarning)
                    .from(context)
                    .user(stored.user_id)
                    .detail(serde_json::json!({"passkey": stored.id, "name": stored.name}));
                if let Some(user) = &user {
                    event = event.by(&crate::audit::Actor::User(user.id));
                }
                self.audit.record(event).await;
                tracing::warn!(user_id = %stored.user_id, passkey = %stored.id, "a passkey's signature counter went back: it may have been cloned");
                return Err(MfaError::PasskeyRefused(
                    "this passkey's counter went back, as a copied one's would".into(),
                ));
            }
            Err(e) => return Err(refused(e)),
        };
        if !result.user_verified() {
            return Err(MfaError::PasskeyRefused(
                "the authenticator did not verify the user".into(),
            ));
        }
        passkey.update_credential(&result);
        self.passkeys
            .passkey_used(stored.id, &encode(&*passkey)?, self.clock.now())
            .await?;
        Ok(if result.backup_eligible() {
            KeyKind::Software
        } else {
            KeyKind::Hardware
        })
    }

    fn expiry(&self) -> DateTime<Utc> {
        self.clock.now() + chrono::Duration::from_std(CHALLENGE_TTL).unwrap_or_default()
    }

    /// Keeps a ceremony's state under a new token; the ceremony for the browser.
    async fn begin<T: Serialize>(
        &self,
        kind: PendingKind,
        state: &T,
        expires_at: DateTime<Utc>,
        options: impl Serialize,
    ) -> Result<Ceremony, MfaError> {
        let (token, hash) = new_token();
        self.pending
            .put_pending(kind, &hash, &encode(state)?, expires_at)
            .await?;
        let options = serde_json::to_value(options)
            .map_err(|e| MfaError::from(StoreError::Internal(Box::new(e))))?;
        Ok(Ceremony { id: token, options })
    }

    /// Takes a ceremony's state: once, and only while it lasts.
    async fn take<T: for<'de> Deserialize<'de>>(
        &self,
        kind: PendingKind,
        hash: &[u8; 32],
    ) -> Result<T, MfaError> {
        let now = self.clock.now();
        let found = self.pending.find_pending(kind, hash, now).await?;
        let Some(found) = found else {
            return Err(MfaError::UnknownCeremony);
        };
        if !self.pending.take_pending(kind, hash).await? {
            return Err(MfaError::UnknownCeremony);
        }
        decode(&found)
    }
}
