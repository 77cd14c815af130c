//! Sessions and revoked access tokens in SQL: the store used without Redis.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Database, execute, on_pool};
use crate::domain::{Scopes, Session, SessionId, UserId};
use crate::store::{Revocation, RevocationFeed, Rotated, Rotation, SessionStore, StoreError};
use crate::token::{SealedSuccessor, TokenHash};

#[derive(sqlx::FromRow)]
struct SessionRow {
    id: String,
    user_id: Uuid,
    client_id: String,
    scope: String,
    created_at: DateTime<Utc>,
    last_used_at: DateTime<Utc>,
    absolute_expires_at: DateTime<Utc>,
    idle_expires_at: DateTime<Utc>,
    auth_time: DateTime<Utc>,
    ip: Option<String>,
    user_agent: Option<String>,
    refresh_hash: Vec<u8>,
    previous_hash: Option<Vec<u8>>,
    rotated_at: Option<DateTime<Utc>>,
    sealed_successor: Option<Vec<u8>>,
    amr: String,
}

/// The session a row holds, unless it has expired.
fn unexpired(row: Option<SessionRow>, now: DateTime<Utc>) -> Result<Option<Session>, StoreError> {
    let session = row.as_ref().map(SessionRow::session).transpose()?;
    Ok(session.filter(|s| !s.is_expired(now)))
}

impl SessionRow {
    fn session(&self) -> Result<Session, StoreError> {
        Ok(Session {
            id: SessionId::parse(&self.id)
                .map_err(|e| StoreError::Internal(format!("stored session id: {e}").into()))?,
            user_id: UserId::from_uuid(self.user_id),
            client_id: self.client_id.clone(),
            scope: Scopes::from_stored(&self.scope),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            absolute_expires_at: self.absolute_expires_at,
            idle_expires_at: self.idle_expires_at,
            auth_time: self.auth_time,
            amr: crate::domain::stored_amr(&self.amr),
            ip: self.ip.clone(),
            user_agent: self.user_agent.clone(),
        })
    }
}

macro_rules! select_sessions_where {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE ",
            $condition
        )
    };
}

fn idle_expiry(now: DateTime<Utc>, idle: std::time::Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX)
}

/// Decides a rotation from the stored row, before anything is written.
enum Decision {
    Rotate,
    Retry(SealedSuccessor),
    Reuse,
    Unmatched,
    ScopeWidened,
    Refuse { delete: bool },
}

fn decide(row: &SessionRow, session: &Session, rotation: &Rotation<'_>) -> Decision {
    if session.is_expired(rotation.now) {
        return Decision::Refuse { delete: true };
    }
    if row.client_id != rotation.client_id {
        return Decision::Refuse { delete: false };
    }
    let widened = rotation.widens_scope;
    if row.refresh_hash == rotation.presented.0 {
        return if widened {
            Decision::ScopeWidened
        } else {
            Decision::Rotate
        };
    }
    if row.previous_hash.as_deref() == Some(&rotation.presented.0[..]) {
        let grace = chrono::Duration::from_std(rotation.grace).unwrap_or_default();
        let within = row.rotated_at.is_some_and(|at| rotation.now - at <= grace);
        let sealed = row
            .sealed_successor
            .as_deref()
            .and_then(|s| <[u8; 32]>::try_from(s).ok())
            .map(SealedSuccessor);
        return match (within, sealed) {
            (true, Some(_)) if widened => Decision::ScopeWidened,
            (true, Some(sealed)) => Decision::Retry(sealed),
            _ => Decision::Reuse,
        };
    }
    // An older token of this session is a replay; anything else a guess.
    Decision::Unmatched
}

/// The session columns, in `SessionRow` order.
macro_rules! session_columns {
    () => {
        "id, user_id, client_id, scope, created_at, last_used_at, absolute_expires_at, \
         idle_expires_at, auth_time, ip, user_agent, refresh_hash, previous_hash, rotated_at, \
         sealed_successor, amr"
    };
}

/// The usual rotation: the current token of a live session, one statement.
const ROTATE_CURRENT: &str = concat!(
    "UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = $2, \
     sealed_successor = $3, rotated_at = $4, last_used_at = $4, \
     idle_expires_at = $5 WHERE id = $1 AND refresh_hash = $6 \
     AND client_id = $7 AND absolute_expires_at > $4 AND idle_expires_at > $4 \
     RETURNING ",
    session_columns!()
);

/// Lists an ended session in the revocation feed, in the transaction that ended it (a
/// macro: the transaction's type differs per dialect).
macro_rules! list_ended {
    ($tx:expr, $id:expr, $ended:expr) => {
        sqlx::query(
            "INSERT INTO ended_sessions (session_id, ended_at, listed_until) \
             VALUES ($1, $2, $3) ON CONFLICT (session_id) DO NOTHING",
        )
        .bind($id)
        .bind($ended.at)
        .bind($ended.listed_until)
        .execute(&mut *$tx)
        .await
    };
}

/// Deletes a session in a transaction (a macro, like `list_ended!`).
macro_rules! delete_session {
    ($tx:expr, $id:expr) => {
        sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind($id)
            .execute(&mut *$tx)
            .await
    };
}

#[async_trait]
impl SessionStore for Database {
    async fn create_session(
        &self,
        session: &Session,
        refresh: TokenHash,
    ) -> Result<(), StoreError> {
        let _turn = self.write_turn().await;
        execute!(
            self,
            "INSERT INTO sessions (id, user_id, client_id, scope, created_at, last_used_at, \
             absolute_expires_at, idle_expires_at, auth_time, ip, user_agent, refresh_hash, amr) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            session.id.as_str(),
            session.user_id.as_uuid(),
            &session.client_id,
            session.scope.to_string(),
            session.created_at,
            session.last_used_at,
            session.absolute_expires_at,
            session.idle_expires_at,
            session.auth_time,
            &session.ip,
            &session.user_agent,
            &refresh.0[..],
            session.amr.join(" ")
        )?;
        Ok(())
    }

    async fn rotate_refresh_token(&self, rotation: Rotation<'_>) -> Result<Rotated, StoreError> {
        // The usual case, the current token of a live session with no wider scope asked
        // for, is one statement (a trigger keeps the history); anything else is decided below from
        // the locked row.
        if !rotation.widens_scope {
            let idle = idle_expiry(rotation.now, rotation.idle_ttl);
            let rotated: Option<SessionRow> = match self {
                Database::Sqlite(pool, writers) => {
                    let (pool, writers) = (pool.clone(), writers.clone());
                    let (session, successor, sealed, presented, client_id) = (
                        rotation.session.as_str().to_owned(),
                        rotation.successor.0,
                        rotation.sealed.0,
                        rotation.presented.0,
                        rotation.client_id.to_owned(),
                    );
                    let now = rotation.now;
                    super::on_writer_thread(async move {
                        let mut turn = writers.turn().await;
                        let rotate = sqlx::query_as(ROTATE_CURRENT)
                            .bind(session)
                            .bind(&successor[..])
                            .bind(&sealed[..])
                            .bind(now)
                            .bind(idle)
                            .bind(&presented[..])
                            .bind(client_id);
                        match writers.connection(&mut turn).await {
                            Some(connection) => {
                                let rotated = super::fetch_written(rotate, connection).await;
                                if rotated.is_err() {
                                    // Whatever went wrong, the next write starts afresh.
                                    *turn = None;
                                }
                                rotated
                            }
                            None => super::fetch_written(rotate, &pool).await,
                        }
                    })
                    .await??
                }
                Database::Postgres(pool) => {
                    let rotate = sqlx::query_as(ROTATE_CURRENT)
                        .bind(rotation.session.as_str())
                        .bind(&rotation.successor.0[..])
                        .bind(&rotation.sealed.0[..])
                        .bind(rotation.now)
                        .bind(idle)
                        .bind(&rotation.presented.0[..])
                        .bind(rotation.client_id);
                    super::fetch_written(rotate, pool).await?
                }
            };
            if let Some(row) = rotated {
                return Ok(Rotated::Rotated(row.session()?));
            }
        }
        let _turn = self.write_turn().await;
        // SQLite: take the write lock at BEGIN, so two rotations cannot both read the
        // old state. PostgreSQL: lock the row.
        let ended = Revocation {
            at: rotation.now,
            listed_until: rotation.listed_until,
        };
        let (begin, select) = match self {
            Database::Sqlite(..) => ("BEGIN IMMEDIATE", select_sessions_where!("id = $1")),
            Database::Postgres(_) => ("BEGIN", select_sessions_where!("id = $1 FOR UPDATE")),
        };
        on_pool!(self, |pool| {
            let mut tx = pool.begin_with(begin).await?;
            let row: Option<SessionRow> = sqlx::query_as(select)
                .bind(rotation.session.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                // Finish the transaction here rather than leave it to the pool.
                tx.rollback().await?;
                return Ok(Rotated::Refused);
            };
            let session = row.session()?;
            let outcome = match decide(&row, &session, &rotation) {
                Decision::Rotate => {
                    let idle = idle_expiry(rotation.now, rotation.idle_ttl);
                    sqlx::query(
                        "UPDATE sessions SET previous_hash = refresh_hash, refresh_hash = $2, \
                         sealed_successor = $3, rotated_at = $4, last_used_at = $4, \
                         idle_expires_at = $5 WHERE id = $1",
                    )
                    .bind(rotation.session.as_str())
                    .bind(&rotation.successor.0[..])
                    .bind(&rotation.sealed.0[..])
                    .bind(rotation.now)
                    .bind(idle)
                    .execute(&mut *tx)
                    .await?;
                    Rotated::Rotated(Session {
                        last_used_at: rotation.now,
                        idle_expires_at: idle,
                        ..session
                    })
                }
                Decision::Retry(sealed) => Rotated::Retried(session, sealed),
                Decision::Unmatched => {
                    let older: Option<(Vec<u8>,)> = sqlx::query_as(
                        "SELECT hash FROM refresh_token_history WHERE session_id = $1 AND hash = $2",
                    )
                    .bind(rotation.session.as_str())
                    .bind(&rotation.presented.0[..])
                    .fetch_optional(&mut *tx)
                    .await?;
                    if older.is_some() {
                        delete_session!(tx, rotation.session.as_str())?;
                        list_ended!(tx, rotation.session.as_str(), ended)?;
                        Rotated::Reused(session)
                    } else {
                        Rotated::Refused
                    }
                }
                Decision::ScopeWidened => Rotated::ScopeWidened,
                Decision::Reuse => {
                    delete_session!(tx, rotation.session.as_str())?;
                    list_ended!(tx, rotation.session.as_str(), ended)?;
                    Rotated::Reused(session)
                }
                Decision::Refuse { delete } => {
                    if delete {
                        delete_session!(tx, rotation.session.as_str())?;
                    }
                    Rotated::Refused
                }
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    async fn find_session(
        &self,
        id: &SessionId,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let row: Option<SessionRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_sessions_where!("id = $1"))
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })?;
        unexpired(row, now)
    }

    async fn find_session_by_refresh(
        &self,
        id: &SessionId,
        refresh: TokenHash,
        now: DateTime<Utc>,
    ) -> Result<Option<Session>, StoreError> {
        let row: Option<SessionRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_sessions_where!("id = $1 AND refresh_hash = $2"))
                .bind(id.as_str())
                .bind(&refresh.0[..])
                .fetch_optional(pool)
                .await
        })?;
        unexpired(row, now)
    }

    async fn list_user_sessions(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let rows: Vec<SessionRow> = on_pool!(self, |pool| {
            sqlx::query_as(select_sessions_where!(
                "user_id = $1 ORDER BY created_at DESC"
            ))
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await
        })?;
        let mut sessions = Vec::with_capacity(rows.len());
        for row in rows {
            let session = row.session()?;
            if !session.is_expired(now) {
                sessions.push(session);
            }
        }
        Ok(sessions)
    }

    async fn count_live_sessions(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let (count,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM sessions WHERE absolute_expires_at > $1 \
                 AND idle_expires_at > $1",
            )
            .bind(now)
            .fetch_one(pool)
            .await
        })?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn end_session(&self, id: &SessionId, ended: Revocation) -> Result<bool, StoreError> {
        // The session and its feed entry go together: a resource server polling the feed
        // never misses a session that ended.
        let _turn = self.write_turn().await;
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted: Option<(String,)> =
                sqlx::query_as("DELETE FROM sessions WHERE id = $1 RETURNING id")
                    .bind(id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if deleted.is_some() {
                list_ended!(tx, id.as_str(), ended)?;
            }
            tx.commit().await?;
            Ok(deleted.is_some())
        })
    }

    async fn end_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SessionId>,
        ended: Revocation,
    ) -> Result<u64, StoreError> {
        let keep = keep.map(SessionId::as_str).unwrap_or("");
        let _turn = self.write_turn().await;
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let deleted: Vec<(String,)> =
                sqlx::query_as("DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id")
                    .bind(user.as_uuid())
                    .bind(keep)
                    .fetch_all(&mut *tx)
                    .await?;
            for (id,) in &deleted {
                list_ended!(tx, id, ended)?;
            }
            tx.commit().await?;
            Ok(deleted.len() as u64)
        })
    }

    async fn revoke_access_token(
        &self,
        jti: &str,
        until: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        execute!(
            self,
            "INSERT INTO revoked_access_tokens (jti, expires_at, revoked_at) \
             VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
            jti,
            until,
            at
        )?;
        Ok(())
    }

    async fn revocations_since(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<RevocationFeed, StoreError> {
        let listed = |statement| self.revoked_since(statement, since, now);
        Ok(RevocationFeed {
            sessions: listed(
                "SELECT session_id, ended_at FROM ended_sessions \
                 WHERE ended_at >= $1 AND listed_until > $2 ORDER BY ended_at, session_id",
            )
            .await?,
            access_tokens: listed(
                "SELECT jti, revoked_at FROM revoked_access_tokens \
                 WHERE revoked_at >= $1 AND expires_at > $2 ORDER BY revoked_at, jti",
            )
            .await?,
        })
    }

    async fn is_access_token_revoked(
        &self,
        jti: &str,
        _now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let found: Option<(String,)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT jti FROM revoked_access_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(pool)
                .await
        })?;
        Ok(found.is_some())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut deleted = 0;
        for statement in [
            "DELETE FROM sessions WHERE absolute_expires_at < $1 OR idle_expires_at < $1",
            "DELETE FROM revoked_access_tokens WHERE expires_at < $1",
            "DELETE FROM ended_sessions WHERE listed_until < $1",
        ] {
            deleted += self.delete_before(statement, now).await?;
        }
        Ok(deleted)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Database::ping(self).await
    }
}

impl Database {
    /// What a revocation list holds from `since` ($1) that is still listed at `now` ($2):
    /// `(id, when)` pairs, in the order the statement gives them.
    async fn revoked_since(
        &self,
        statement: &'static str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_as(statement)
                .bind(since)
                .bind(now)
                .fetch_all(pool)
                .await
        })?)
    }
}
