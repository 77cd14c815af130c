//! The audit log's storage: one stored event, which events to list, and the trait.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::StoreError;
use crate::domain::{EventType, UserId};

/// One event.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub kind: EventType,
    /// Who did it: an [`Actor`](crate::domain::Actor) as it is shown.
    pub actor: Option<String>,
    /// Whom it concerns.
    pub user_id: Option<UserId>,
    pub client_id: Option<String>,
    pub session_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

/// Which events to list.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub user: Option<UserId>,
    pub kind: Option<EventType>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Events older than this id (newest first).
    pub before: Option<Uuid>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    async fn record_event(&self, event: &AuditEvent) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
    async fn purge_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
    /// How many events of `kind` happened from `since` (inclusive) to `until`.
    async fn count_events(
        &self,
        kind: EventType,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
