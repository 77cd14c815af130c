//! Sessions: started by every sign-in, kept alive by refresh-token rotation, ended by the
//! person, an administrator, a password change, a disabled account, or a replayed token.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::caches::Caches;
use crate::clock::Clock;
use crate::domain::{EndCause, Scopes, Session, SessionId, UserId};
use crate::store::{Revocation, RevocationFeed, Rotated, Rotation, SessionStore, StoreError};
use crate::token::RefreshToken;

/// Who is asking, as far as the network tells.
#[derive(Clone, Debug, Default)]
pub struct RequestContext {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// Session lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct SessionSettings {
    pub idle_ttl: Duration,
    pub max_ttl: Duration,
    pub reuse_grace: Duration,
    /// How long the revocation feed lists an ended session: as long as an access token
    /// issued before the end could still be accepted.
    pub listed_for: Duration,
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub enum Refresh {
    /// The session lives on; `refresh_token` is its new current token.
    Renewed {
        session: Session,
        refresh_token: RefreshToken,
    },
    /// An already-rotated token was replayed after the grace window: the session is over.
    Reused(Session),
    /// The scope asked for is wider than the session's.
    ScopeWidened,
    /// Not a live token of this client.
    Invalid,
}

/// Session use cases over a session store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    settings: SessionSettings,
    /// Whose each session is and what scope it was granted. Neither ever changes, so an
    /// entry is never stale; it spares the refresh grant a store read before rotating.
    grants: moka::future::Cache<SessionId, SessionGrant>,
    /// Sessions and access tokens this instance remembers (see [`Caches`]).
    caches: Caches,
}

/// What never changes about a session: whose it is, the client it was started for, and
/// the scope granted at sign-in.
#[derive(Clone)]
pub struct SessionGrant {
    pub user: UserId,
    pub client_id: Arc<str>,
    pub scope: Arc<Scopes>,
}

impl SessionGrant {
    fn of(session: &Session) -> Self {
        Self {
            user: session.user_id,
            client_id: session.client_id.as_str().into(),
            scope: Arc::new(session.scope.clone()),
        }
    }
}

/// Session grants remembered (about 150 bytes each).
const GRANTS_CACHED: u64 = 100_000;

/// The longest user agent kept with a session.
const MAX_USER_AGENT: usize = 256;

fn after(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Sessions {
    pub fn new(
        store: Arc<dyn SessionStore>,
        clock: Arc<dyn Clock>,
        settings: SessionSettings,
    ) -> Self {
        Self {
            store,
            clock,
            settings,
            grants: moka::future::Cache::new(GRANTS_CACHED),
            caches: Caches::new(None),
        }
    }

    /// The same use cases, remembering sessions and tokens in `caches`.
    pub fn with_caches(mut self, caches: Caches) -> Self {
        self.caches = caches;
        self
    }

    /// Whole seconds: both stores keep session times to the second.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(0)
    }

    /// A session ending now, as the revocation feed lists it.
    fn ended_now(&self) -> Revocation {
        let at = self.now();
        Revocation {
            at,
            listed_until: after(at, self.settings.listed_for),
        }
    }

    /// Starts a session for a successful sign-in and returns its first refresh token.
    pub async fn start(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        amr: Vec<String>,
        context: &RequestContext,
    ) -> Result<(Session, RefreshToken), StoreError> {
        let now = self.now();
        self.start_at(user, client_id, scope, context, now, amr)
            .await
    }

    /// Starts a session for a person who signed in at `auth_time` (the code flow: the
    /// browser sign-in came first).
    pub async fn start_at(
        &self,
        user: UserId,
        client_id: &str,
        scope: &str,
        context: &RequestContext,
        auth_time: DateTime<Utc>,
        amr: Vec<String>,
    ) -> Result<(Session, RefreshToken), StoreError> {
        let now = self.now();
        let session = Session {
            id: SessionId::generate(),
            user_id: user,
            client_id: client_id.to_string(),
            scope: Scopes::from_stored(scope),
            created_at: now,
            last_used_at: now,
            absolute_expires_at: after(now, self.settings.max_ttl),
            idle_expires_at: after(now, self.settings.idle_ttl)
                .min(after(now, self.settings.max_ttl)),
            auth_time: auth_time.trunc_subsecs(0),
            amr,
            ip: context.ip.map(|ip| ip.to_string()),
            user_agent: context
                .user_agent
                .as_ref()
                .map(|ua| ua.chars().take(MAX_USER_AGENT).collect()),
        };
        let refresh = RefreshToken::generate(session.id.clone());
        self.store.create_session(&session, refresh.hash()).await?;
        self.grants
            .insert(session.id.clone(), SessionGrant::of(&session))
            .await;
        Ok((session, refresh))
    }

    /// Rotates `presented`: exactly one successor per token, the same one for retries
    /// within the grace window. `scope`, if asked for, may narrow the session's, never
    /// widen it.
    pub async fn refresh(
        &self,
        presented: &RefreshToken,
        client_id: &str,
        scope: Option<&Scopes>,
    ) -> Result<Refresh, StoreError> {
        let widens_scope = match scope {
            Some(asked) => match self.granted(presented.session()).await? {
                Some(grant) => asked.widens(&grant.scope),
                // No live session: the store refuses the token, whatever was asked.
                None => false,
            },
            None => false,
        };
        let successor = RefreshToken::generate(presented.session().clone());
        let outcome = self
            .store
            .rotate_refresh_token(Rotation {
                session: presented.session(),
                presented: presented.hash(),
                successor: successor.hash(),
                sealed: presented.seal(&successor),
                client_id,
                widens_scope,
                now: self.now(),
                grace: self.settings.reuse_grace,
                idle_ttl: self.settings.idle_ttl,
                listed_until: self.ended_now().listed_until,
            })
            .await?;
        Ok(match outcome {
            Rotated::Rotated(session) => Refresh::Renewed {
                session,
                refresh_token: successor,
            },
            Rotated::Retried(session, sealed) => Refresh::Renewed {
                session,
                refresh_token: presented.open(&sealed),
            },
            Rotated::Reused(session) => {
                self.caches.remember_session(&session.id, None);
                metrics::counter!("gatehouse_refresh_reuse_detected_total").increment(1);
                metrics::counter!("gatehouse_sessions_ended_total", "cause" => EndCause::RefreshReused.as_str())
                    .increment(1);
                tracing::warn!(
                    session_id = %session.id,
                    user_id = %session.user_id,
                    client_id = %session.client_id,
                    cause = EndCause::RefreshReused.as_str(),
                    "refresh token reuse detected; session ended"
                );
                Refresh::Reused(session)
            }
            Rotated::ScopeWidened => Refresh::ScopeWidened,
            Rotated::Refused => Refresh::Invalid,
        })
    }

    /// The live session a refresh token belongs to, if it is that session's current token.
    pub async fn by_refresh_token(
        &self,
        token: &RefreshToken,
    ) -> Result<Option<Session>, StoreError> {
        self.store
            .find_session_by_refresh(token.session(), token.hash(), self.now())
            .await
    }

    /// Whose session `id` is, if it is live or was seen live; whether it still is, only
    /// the store can say.
    pub async fn owner(&self, id: &SessionId) -> Result<Option<UserId>, StoreError> {
        Ok(self.granted(id).await?.map(|grant| grant.user))
    }

    /// What session `id` was granted, remembered once it was seen live; `None` when it
    /// is not (or no longer) live.
    pub async fn granted(&self, id: &SessionId) -> Result<Option<SessionGrant>, StoreError> {
        if let Some(grant) = self.grants.get(id).await {
            return Ok(Some(grant));
        }
        let Some(session) = self.find(id).await? else {
            return Ok(None);
        };
        let grant = SessionGrant::of(&session);
        self.grants.insert(id.clone(), grant.clone()).await;
        Ok(Some(grant))
    }

    pub async fn find(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        self.store.find_session(id, self.now()).await
    }

    pub async fn list(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        self.store.list_user_sessions(user, self.now()).await
    }

    /// How many sessions are live.
    pub async fn count_live(&self) -> Result<u64, StoreError> {
        self.store.count_live_sessions(self.now()).await
    }

    /// Ends one session; `false` when there was none.
    pub async fn end(&self, id: &SessionId, cause: EndCause) -> Result<bool, StoreError> {
        let ended = self.store.end_session(id, self.ended_now()).await?;
        self.caches.remember_session(id, None);
        if ended {
            metrics::counter!("gatehouse_sessions_ended_total", "cause" => cause.as_str())
                .increment(1);
            tracing::info!(session_id = %id, cause = cause.as_str(), "session ended");
        }
        Ok(ended)
    }

    /// Ends every session of `user` except `keep`.
    pub async fn end_all(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        cause: EndCause,
    ) -> Result<u64, StoreError> {
        let ended = self
            .store
            .end_user_sessions(user, keep, self.ended_now())
            .await?;
        self.caches.forget_sessions_of(user);
        metrics::counter!("gatehouse_sessions_ended_total", "cause" => cause.as_str())
            .increment(ended);
        tracing::info!(user_id = %user, count = ended, cause = cause.as_str(), "sessions ended");
        Ok(ended)
    }

    pub async fn revoke_access_token(
        &self,
        jti: &str,
        until: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.store
            .revoke_access_token(jti, until, self.now())
            .await?;
        self.caches.forget_token(jti);
        Ok(())
    }

    /// Sessions ended and access tokens revoked from `since` on, for resource servers
    /// that verify tokens themselves.
    pub async fn revocations_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<RevocationFeed, StoreError> {
        self.store.revocations_since(since, self.now()).await
    }

    /// How long the feed lists a revocation.
    pub fn listed_for(&self) -> Duration {
        self.settings.listed_for
    }

    /// Whether `jti` was revoked, and the live session `sid` if any: from what this
    /// instance remembers when it can (no round trip), else from the store (one round trip
    /// on Redis), remembered for next time.
    pub async fn access_token_state(
        &self,
        jti: &str,
        sid: Option<&SessionId>,
    ) -> Result<(bool, Option<Session>), StoreError> {
        let at = self.clock.now();
        if self.caches.not_revoked(jti, at) {
            match sid {
                None => return Ok((false, None)),
                Some(id) => {
                    if let Some(state) = self.caches.session(id, at) {
                        return Ok((false, state.map(|s| Session::clone(&s))));
                    }
                }
            }
        }
        let (revoked, session) = self.store.access_token_state(jti, sid, self.now()).await?;
        if !revoked {
            self.caches.remember_not_revoked(jti);
            if let Some(id) = sid {
                self.caches.remember_session(id, session.as_ref());
            }
        }
        Ok((revoked, session))
    }

    /// Forgets what this instance remembers of what the revocation feed lists (sessions
    /// ended and tokens revoked on any instance).
    pub fn forget_revoked(&self, feed: &RevocationFeed) {
        for (sid, _) in &feed.sessions {
            if let Ok(id) = SessionId::parse(sid) {
                self.caches.forget_session(&id);
            }
        }
        for (jti, _) in &feed.access_tokens {
            self.caches.forget_token(jti);
        }
    }

    pub async fn is_access_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.store.is_access_token_revoked(jti, self.now()).await
    }

    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        self.store.purge_expired(self.now()).await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.store.ping().await
    }
}
