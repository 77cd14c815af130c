//! The audit log in SQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::{Database, execute, on_pool};
use crate::domain::{EventType, UserId};
use crate::store::{AuditEvent, AuditQuery, AuditStore, StoreError};

#[derive(sqlx::FromRow)]
struct EventRow {
    id: Uuid,
    at: DateTime<Utc>,
    #[sqlx(rename = "type")]
    kind: String,
    actor: Option<String>,
    user_id: Option<Uuid>,
    client_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Json<Value>,
}

#[async_trait]
impl AuditStore for Database {
    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        execute!(
            self,
            "INSERT INTO audit_events (id, at, type, actor, user_id, client_id, session_id, ip, \
             user_agent, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            event.id,
            event.at,
            event.kind.as_str(),
            &event.actor,
            event.user_id.map(|u| u.as_uuid()),
            &event.client_id,
            &event.session_id,
            &event.ip,
            &event.user_agent,
            Json(&event.detail)
        )?;
        Ok(())
    }

    async fn list_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<EventRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, at, type, actor, user_id, client_id, session_id, ip, user_agent, detail \
                 FROM audit_events WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR type = $2) \
                 AND ($3 IS NULL OR at >= $3) AND ($4 IS NULL OR at < $4) AND ($5 IS NULL OR id < $5) \
                 ORDER BY id DESC LIMIT $6",
            )
            .bind(query.user.map(|u| u.as_uuid()))
            .bind(query.kind.map(EventType::as_str))
            .bind(query.since)
            .bind(query.until)
            .bind(query.before)
            .bind(i64::from(query.limit))
            .fetch_all(pool)
            .await
        })?;
        rows.into_iter()
            .map(|r| {
                Ok(AuditEvent {
                    kind: EventType::parse(&r.kind).ok_or_else(|| {
                        StoreError::Internal(format!("unknown audit type {}", r.kind).into())
                    })?,
                    id: r.id,
                    at: r.at,
                    actor: r.actor,
                    user_id: r.user_id.map(UserId::from_uuid),
                    client_id: r.client_id,
                    session_id: r.session_id,
                    ip: r.ip,
                    user_agent: r.user_agent,
                    detail: r.detail.0,
                })
            })
            .collect()
    }

    async fn count_events(
        &self,
        kind: EventType,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let (count,): (i64,) = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*) FROM audit_events WHERE type = $1 AND at >= $2 AND at < $3",
            )
            .bind(kind.as_str())
            .bind(since)
            .bind(until)
            .fetch_one(pool)
            .await
        })?;
        Ok(u64::try_from(count).unwrap_or_default())
    }

    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        self.delete_before("DELETE FROM audit_events WHERE at < $1", before)
            .await
    }
}
