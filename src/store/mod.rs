//! Persistence: one trait per capability, implemented on SQL (SQLite and PostgreSQL).

mod audit;
mod counters;
mod error;
mod passkeys;
mod pending;
pub mod redis;
mod second_factor;
pub mod sql;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use audit::{AuditEvent, AuditQuery, AuditStore};
pub use counters::{LocalCounters, RateCounters};
pub use error::StoreError;
pub use passkeys::{PasskeyStore, StoredPasskey};
pub use pending::{PendingKind, PendingStore};
pub use second_factor::{SecondFactorStore, StoredTotp};
pub use sql::Database;

use crate::domain::{
    Email, NewUser, ProfilePatch, Role, Secret, Session, SessionId, User, UserId, UserName,
};
use crate::token::{SealedSuccessor, TokenHash};

/// A user together with their stored password hash, for sign-in only.
#[derive(Clone, Debug)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: Secret<String>,
}

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; [`StoreError::Conflict`] when the email is taken.
    async fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    async fn find_credentials(&self, email: &Email) -> Result<Option<UserCredentials>, StoreError>;

    /// Changes name and profile fields in one statement; `None` when the user is gone.
    async fn update_user_profile(
        &self,
        id: UserId,
        name: Option<&UserName>,
        patch: &ProfilePatch,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    /// Replaces the password hash, but only if it is still `expected`: a rehash after
    /// sign-in must not undo a password change that happened meanwhile.
    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &Secret<String>,
        new_hash: &Secret<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The password hash of a user, for checking the current password before a change.
    async fn password_hash(&self, id: UserId) -> Result<Option<Secret<String>>, StoreError>;

    /// The highest cost among the bcrypt hashes still stored (`$2b$12$…` → 12), `None`
    /// when every account has moved to argon2.
    async fn slowest_bcrypt_cost(&self) -> Result<Option<u32>, StoreError>;

    /// Users whose email or name contains `query` (case-insensitive), ordered by id,
    /// after the user `after` and skipping `offset`.
    async fn list_users(
        &self,
        query: Option<&str>,
        after: Option<UserId>,
        offset: u32,
        limit: u32,
    ) -> Result<Vec<User>, StoreError>;

    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    async fn set_user_roles(
        &self,
        id: UserId,
        roles: &[Role],
        now: DateTime<Utc>,
    ) -> Result<Option<User>, StoreError>;

    /// How many accounts there are (the admin console's dashboard).
    async fn count_users(&self) -> Result<u64, StoreError>;

    /// Accounts whose `updated_at` is `since` or later (what other instances forget).
    async fn users_changed_since(&self, since: DateTime<Utc>) -> Result<Vec<UserId>, StoreError>;

    /// The account the old service knew by `legacy_id` (its integer user id).
    async fn find_user_by_legacy_id(&self, legacy_id: i64) -> Result<Option<User>, StoreError>;

    /// Records the old service's id of account `id` when it has none yet; `false` when it
    /// has one (the same or another). [`StoreError::Conflict`] when another account has it.
    async fn set_legacy_id(&self, id: UserId, legacy_id: i64) -> Result<bool, StoreError>;
}

/// A rotation request: the presented refresh token (by hash) and its would-be successor.
#[derive(Clone, Debug)]
pub struct Rotation<'a> {
    pub session: &'a SessionId,
    pub presented: TokenHash,
    pub successor: TokenHash,
    /// The successor sealed under the presented token, for retries within the grace window.
    pub sealed: SealedSuccessor,
    pub client_id: &'a str,
    /// Whether the refresh asks for a scope beyond the session's ([`Scopes::widens`],
    /// decided by the caller: the session's scope never changes). A live token is then
    /// left as it is ([`Rotated::ScopeWidened`]).
    ///
    /// [`Scopes::widens`]: crate::domain::Scopes::widens
    pub widens_scope: bool,
    pub now: DateTime<Utc>,
    pub grace: std::time::Duration,
    pub idle_ttl: std::time::Duration,
    /// Listed in the revocation feed until then, if a replay ends the session.
    pub listed_until: DateTime<Utc>,
}

/// When a session ended or a token was revoked, and until when the revocation feed lists
/// it (until every access token issued before it has expired).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Revocation {
    pub at: DateTime<Utc>,
    pub listed_until: DateTime<Utc>,
}

/// Sessions ended and access tokens revoked since a point in time, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RevocationFeed {
    /// Session ids with when each ended.
    pub sessions: Vec<(String, DateTime<Utc>)>,
    /// Access-token ids (`jti`) with when each was revoked.
    pub access_tokens: Vec<(String, DateTime<Utc>)>,
}

/// What became of a rotation request.
#[derive(Clone, Debug, PartialEq)]
pub enum Rotated {
    /// The presented token was current; the successor is now current.
    Rotated(Session),
    /// The presented token was rotated moments ago (within the grace window): the
    /// successor from then, sealed under the presented token.
    Retried(Session, SealedSuccessor),
    /// The presented token was rotated before the grace window: the session is ended.
    Reused(Session),
    /// The requested scope is wider than the session's; nothing changed.
    ScopeWidened,
    /// Unknown, expired, another client's, or not a token of this session; nothing changed.
    Refused,
}

/// Sessions and their refresh tokens, and revoked access tokens.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session whose current refresh token has hash `refresh`.
    async fn create_session(&self, session: &Session, refresh: TokenHash)
    -> Result<(), StoreError>;

    /// Atomically rotates a refresh token: no two successors ever come from one token.
    async fn rotate_refresh_token(&self, rotation: Rotation<'_>) -> Result<Rotated, StoreError>;

    /// A live session.
    async fn find_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;

    /// The live session whose current refresh token has hash `refresh`.
    async fn find_session_by_refresh(
        &self,
        id: &SessionId,
        refresh: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError>;

    /// Live sessions of a user, newest first.
    async fn list_user_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError>;

    /// Ends one session; its refresh tokens stop working at once, and the revocation feed
    /// lists it. `false` if there was none.
    async fn end_session(&self, id: &SessionId, ended: Revocation) -> Result<bool, StoreError>;

    /// Ends every session of a user but `keep`, listing each in the revocation feed;
    /// returns how many ended.
    async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        ended: Revocation,
    ) -> Result<u64, StoreError>;

    /// Remembers an access token's `jti` as revoked until the token would expire (`until`),
    /// and lists it in the revocation feed as revoked at `at` until then.
    async fn revoke_access_token(
        &self,
        jti: &str,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// What the revocation feed lists from `since` on (inclusive), as of `now`.
    async fn revocations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RevocationFeed, StoreError>;

    async fn is_access_token_revoked(
        &self,
        jti: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// What an access token's liveness depends on: whether its `jti` was revoked, and
    /// its live session. Stores that can answer in one round trip do.
    async fn access_token_state(
        &self,
        jti: &str,
        session: Option<&SessionId>,
        now: DateTime<Utc>,
    ) -> Result<(bool, Option<Session>), StoreError> {
        if self.is_access_token_revoked(jti, now).await? {
            return Ok((true, None));
        }
        match session {
            Some(id) => Ok((false, self.find_session(id, now).await?)),
            None => Ok((false, None)),
        }
    }

    /// Deletes what has expired (the SQL store; Redis expires keys itself).
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// How many sessions are live at `now` (the admin console's dashboard; Redis walks
    /// its session keys, so this costs a pass over them).
    async fn count_live_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;

    /// A round trip, for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// An authorization code's bindings (RFC 6749 §4.1.2, RFC 7636, OIDC `nonce`).
#[derive(Clone, Debug, PartialEq)]
pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: UserId,
    pub scope: String,
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: String,
    /// When the person signed in.
    pub auth_time: DateTime<Utc>,
    /// How they signed in (RFC 8176), as the browser session holds it.
    pub amr: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// What presenting a code found.
#[derive(Clone, Debug, PartialEq)]
pub enum Redemption {
    /// First use: the code is now spent.
    Fresh(AuthCode),
    /// Used before; the session its first use started, once known. A code whose first
    /// exchange has not recorded its session yet is marked as replayed, and that exchange
    /// learns it from [`AuthorizationStore::attach_session`].
    Reused(Option<SessionId>),
    /// Unknown or expired.
    Unknown,
}

/// Authorization codes (single-use) and remembered consent.
#[async_trait]
pub trait AuthorizationStore: Send + Sync {
    async fn create_code(&self, hash: &[u8; 32], code: &AuthCode) -> Result<(), StoreError>;
    /// Spends a code atomically: of concurrent redemptions exactly one is `Fresh`.
    async fn redeem_code(
        &self,
        hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError>;
    /// Makes a spent code usable again when its exchange failed on an outage before it
    /// started a session (the client retries with the same code) — unless it was replayed
    /// meanwhile.
    async fn unspend_code(&self, hash: &[u8; 32]) -> Result<(), StoreError>;
    /// Records the session a redeemed code started, so a later replay can end it; `true`
    /// when the code was presented again before this (the caller then ends the session).
    /// Atomic with the replay's mark: of the two, one always sees the other.
    async fn attach_session(
        &self,
        hash: &[u8; 32],
        session: &SessionId,
    ) -> Result<bool, StoreError>;
    async fn consented_scope(
        &self,
        user: UserId,
        client_id: &str,
    ) -> Result<Option<String>, StoreError>;
    async fn save_consent(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// What a mailed link is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailPurpose {
    Verify,
    Reset,
}

impl EmailPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verify => "verify",
            Self::Reset => "reset",
        }
    }
}

/// A single-use link's token as stored: the SHA-256 of the token, never the token.
#[derive(Clone, Debug, PartialEq)]
pub struct EmailToken {
    pub hash: [u8; 32],
    pub user_id: UserId,
    pub purpose: EmailPurpose,
    /// The address the link was sent to; it counts only while the account still has it.
    pub email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Tokens of mailed links.
#[async_trait]
pub trait EmailTokenStore: Send + Sync {
    async fn create_email_token(&self, token: &EmailToken) -> Result<(), StoreError>;
    /// Spends a token atomically (of concurrent redemptions one gets it) and returns it,
    /// expired or not; `None` when unknown or already spent.
    async fn redeem_email_token(
        &self,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError>;
    /// The token, without spending it (a reset form is shown before it is used).
    async fn find_email_token(
        &self,
        hash: &[u8; 32],
        purpose: EmailPurpose,
    ) -> Result<Option<EmailToken>, StoreError>;
    /// Marks the address verified if the account still has it; whether it did.
    async fn set_email_verified(
        &self,
        user: UserId,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn purge_email_tokens(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A registered OAuth client as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredClient {
    pub id: String,
    /// SHA-256 of the secret; `None` for public clients.
    pub secret_hash: Option<[u8; 32]>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grants: Vec<String>,
    pub scopes: Vec<String>,
    /// What it may do beyond its grants (`introspection`, `revocation-feed`).
    pub permissions: Vec<String>,
    pub first_party: bool,
    pub created_at: DateTime<Utc>,
}

/// OAuth clients.
#[async_trait]
pub trait ClientStore: Send + Sync {
    async fn create_client(&self, client: &StoredClient) -> Result<(), StoreError>;
    async fn find_client(&self, id: &str) -> Result<Option<StoredClient>, StoreError>;
    async fn list_clients(&self) -> Result<Vec<StoredClient>, StoreError>;
    /// Replaces a client's permissions; `false` when there is no such client.
    async fn set_client_permissions(
        &self,
        id: &str,
        permissions: &[String],
    ) -> Result<bool, StoreError>;
    async fn delete_client(&self, id: &str) -> Result<bool, StoreError>;
}
