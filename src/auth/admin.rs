//! What an administrator does to other people's accounts and sessions, from the admin API
//! or the command line: both call these, so each change is made and recorded one way.

use super::{Accounts, AuthError, Registration, RequestContext, SecondFactors, Sessions};
use crate::audit::{Actor, Audit, Event, EventType};
use crate::clock::Clock;
use crate::domain::{EndCause, Role, Secret, SessionId, User, UserId};
use crate::oauth::{Client, ClientError, ClientRegistry, NewClient, Permission};
use crate::store::StoreError;

/// Who acts: the actor recorded and where the request came from (empty for the command
/// line).
pub struct Acting<'a> {
    pub actor: Actor,
    pub context: &'a RequestContext,
}

impl Acting<'_> {
    /// The command line, which has no request.
    pub fn cli() -> Acting<'static> {
        static NO_REQUEST: std::sync::LazyLock<RequestContext> =
            std::sync::LazyLock::new(RequestContext::default);
        Acting {
            actor: Actor::Cli,
            context: &NO_REQUEST,
        }
    }

    pub(super) fn event(&self, kind: EventType) -> Event {
        Event::new(kind).by(&self.actor).from(self.context)
    }
}

/// The administration use cases over accounts, sessions, clients and the audit log.
#[derive(Clone)]
pub struct Administration {
    accounts: Accounts,
    sessions: Sessions,
    clients: ClientRegistry,
    audit: Audit,
    clock: std::sync::Arc<dyn Clock>,
    second_factors: SecondFactors,
}

impl Administration {
    pub fn new(
        accounts: Accounts,
        sessions: Sessions,
        clients: ClientRegistry,
        audit: Audit,
        clock: std::sync::Arc<dyn Clock>,
        second_factors: SecondFactors,
    ) -> Self {
        Self {
            accounts,
            sessions,
            clients,
            audit,
            clock,
            second_factors,
        }
    }

    /// Creates an account with the given roles, its email not yet verified.
    pub async fn create_user(
        &self,
        registration: Registration,
        roles: Vec<Role>,
        by: &Acting<'_>,
    ) -> Result<User, AuthError> {
        let user = self.accounts.create(registration, roles).await?;
        self.audit
            .record(
                by.event(EventType::UserRegistered)
                    .user(user.id)
                    .detail(serde_json::json!({"via": "cli", "roles": user.roles})),
            )
            .await;
        Ok(user)
    }

    /// Replaces the account's roles.
    pub async fn set_roles(
        &self,
        id: UserId,
        roles: &[Role],
        by: &Acting<'_>,
    ) -> Result<User, AuthError> {
        let user = self.accounts.set_roles(id, roles).await?;
        self.audit
            .record(
                by.event(EventType::UserRolesChanged)
                    .user(id)
                    .detail(serde_json::json!({"roles": user.roles})),
            )
            .await;
        Ok(user)
    }

    /// Disables or enables the account; disabling ends every one of its sessions.
    pub async fn set_disabled(
        &self,
        id: UserId,
        disabled: bool,
        by: &Acting<'_>,
    ) -> Result<User, AuthError> {
        let user = self
            .accounts
            .set_disabled(&self.sessions, id, disabled)
            .await?;
        let kind = if disabled {
            EventType::UserDisabled
        } else {
            EventType::UserEnabled
        };
        self.audit.record(by.event(kind).user(id)).await;
        if disabled {
            self.audit
                .record(
                    by.event(EventType::SessionEnded)
                        .user(id)
                        .detail(serde_json::json!({"cause": "user_disabled"})),
                )
                .await;
        }
        Ok(user)
    }

    /// Ends every session of the account; how many there were.
    pub async fn end_user_sessions(&self, id: UserId, by: &Acting<'_>) -> Result<u64, StoreError> {
        let ended = self.sessions.end_all(id, None, EndCause::Admin).await?;
        self.audit
            .record(
                by.event(EventType::SessionEnded)
                    .user(id)
                    .detail(serde_json::json!({"cause": "admin", "count": ended})),
            )
            .await;
        Ok(ended)
    }

    /// Removes the account's second factors (a lost phone) and ends its sessions, so that
    /// whoever holds them signs in again, with the password only until a new factor is
    /// enrolled. Whether there was a second factor.
    pub async fn reset_second_factors(
        &self,
        id: UserId,
        by: &Acting<'_>,
    ) -> Result<bool, StoreError> {
        let removed = self.second_factors.reset(id).await?;
        let ended = self.sessions.end_all(id, None, EndCause::Admin).await?;
        self.audit
            .record(
                by.event(EventType::MfaReset)
                    .user(id)
                    .detail(serde_json::json!({"removed": removed, "sessions_ended": ended})),
            )
            .await;
        Ok(removed)
    }

    /// Ends one session, whoever's it is; `false` when there is no such live session.
    pub async fn end_session(&self, sid: &SessionId, by: &Acting<'_>) -> Result<bool, StoreError> {
        let session = self.sessions.find(sid).await?;
        if !self.sessions.end(sid, EndCause::Admin).await? {
            return Ok(false);
        }
        let mut event = by
            .event(EventType::SessionEnded)
            .session(sid)
            .detail(serde_json::json!({"cause": "admin"}));
        if let Some(session) = session {
            event = event.user(session.user_id).client(&session.client_id);
        }
        self.audit.record(event).await;
        Ok(true)
    }

    /// Registers a client; its secret when one was generated (shown once).
    pub async fn create_client(
        &self,
        new: NewClient,
        by: &Acting<'_>,
    ) -> Result<Option<Secret<String>>, ClientError> {
        let id = new.id.clone();
        let generated = self.clients.create(new, self.clock.now()).await?;
        self.audit
            .record(by.event(EventType::ClientCreated).client(&id))
            .await;
        Ok(generated)
    }

    /// Grants the permissions in `allow` and withdraws those in `deny`; the client as it
    /// is then, or `None` when there is none.
    pub async fn change_client_permissions(
        &self,
        id: &str,
        allow: &[String],
        deny: &[String],
        by: &Acting<'_>,
    ) -> Result<Option<Client>, ClientError> {
        let changed = self.clients.change_permissions(id, allow, deny).await?;
        if let Some(client) = &changed {
            let names = Permission::shown(&client.permissions);
            self.audit
                .record(
                    by.event(EventType::ClientUpdated)
                        .client(&client.id)
                        .detail(serde_json::json!({"permissions": names})),
                )
                .await;
        }
        Ok(changed)
    }

    /// Deletes a client; `false` when there is none.
    pub async fn delete_client(&self, id: &str, by: &Acting<'_>) -> Result<bool, ClientError> {
        let deleted = self.clients.delete(id).await?;
        if deleted {
            self.audit
                .record(by.event(EventType::ClientDeleted).client(id))
                .await;
        }
        Ok(deleted)
    }
}
