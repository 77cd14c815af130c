//! The audit log: security events (sign-ins, sessions ended, account and client changes,
//! key changes) stored with who, whom, where and when, and written to the log as well.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::auth::RequestContext;
use crate::clock::Clock;
pub use crate::domain::{Actor, EventType};
use crate::domain::{SessionId, UserId};
pub use crate::store::{AuditEvent, AuditQuery};
use crate::store::{AuditStore, StoreError};

/// The longest text an event keeps of one value a client sent; the rest is cut.
const MAX_VALUE_CHARS: usize = 512;

/// A client-sent value as an event stores it: control characters (NUL, which PostgreSQL
/// cannot store, among them) written as `\u{..}` escapes and long values cut, so that no
/// event is lost to what a client sent and none floods the log.
fn storable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_VALUE_CHARS));
    for (i, c) in text.chars().enumerate() {
        if i == MAX_VALUE_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`storable`] applied to every string and key of a JSON value.
fn storable_value(value: Value) -> Value {
    match value {
        Value::String(s) => Value::String(storable(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(storable_value).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (storable(&k), storable_value(v)))
                .collect(),
        ),
        other => other,
    }
}

/// Records events; a failure to store one is logged, never fails the action itself.
#[derive(Clone)]
pub struct Audit {
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
}

/// Builds an event.
pub struct Event {
    kind: EventType,
    actor: Option<String>,
    user_id: Option<UserId>,
    client_id: Option<String>,
    session_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Value,
}

impl Event {
    pub fn new(kind: EventType) -> Self {
        Self {
            kind,
            actor: None,
            user_id: None,
            client_id: None,
            session_id: None,
            ip: None,
            user_agent: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// Who did it.
    pub fn by(mut self, actor: &Actor) -> Self {
        self.actor = Some(actor.to_string());
        self
    }

    pub fn user(mut self, user: UserId) -> Self {
        self.user_id = Some(user);
        self
    }

    /// The account the event is about, when there is one (a refused sign-in on an
    /// unknown address has none).
    pub fn account(mut self, account: Option<UserId>) -> Self {
        self.user_id = account;
        self
    }

    pub fn client(mut self, client: &str) -> Self {
        self.client_id = Some(client.to_string());
        self
    }

    pub fn session(mut self, session: &SessionId) -> Self {
        self.session_id = Some(session.to_string());
        self
    }

    pub fn from(mut self, context: &RequestContext) -> Self {
        self.ip = context.ip.map(|ip| ip.to_string());
        self.user_agent = context.user_agent.clone();
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

impl Audit {
    pub fn new(store: Arc<dyn AuditStore>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock }
    }

    pub async fn record(&self, event: Event) {
        let clean = |text: Option<String>| text.as_deref().map(storable);
        let event = AuditEvent {
            id: Uuid::now_v7(),
            at: self.clock.now(),
            kind: event.kind,
            actor: clean(event.actor),
            user_id: event.user_id,
            client_id: clean(event.client_id),
            session_id: clean(event.session_id),
            ip: clean(event.ip),
            user_agent: clean(event.user_agent),
            detail: storable_value(event.detail),
        };
        tracing::info!(
            target: "gatehouse::audit",
            event = event.kind.as_str(),
            actor = event.actor.as_deref(),
            user_id = event.user_id.map(|u| u.to_string()),
            client_id = event.client_id.as_deref(),
            session_id = event.session_id.as_deref(),
            ip = event.ip.as_deref(),
            detail = %event.detail,
            "audit"
        );
        if let Err(e) = self.store.record_event(&event).await {
            metrics::counter!("gatehouse_audit_write_failures_total", "type" => event.kind.as_str())
                .increment(1);
            tracing::error!(error = %e, event = event.kind.as_str(), "an audit event could not be stored");
        }
    }

    pub async fn list(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        self.store.list_events(query).await
    }

    /// How many events of `kind` happened from `since` to `until`.
    pub async fn count(
        &self,
        kind: EventType,
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.store.count_events(kind, since, until).await
    }

    pub async fn purge(&self, retention: std::time::Duration) -> Result<u64, StoreError> {
        let before = self.clock.now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        self.store.purge_events(before).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_values_cut() {
        assert_eq!(storable("admin\u{0}@x"), "admin\\u{0}@x");
        assert_eq!(storable("a\nb"), "a\\u{a}b");
        assert_eq!(
            storable(&"x".repeat(600)).chars().count(),
            MAX_VALUE_CHARS + 1
        );
        let detail = storable_value(serde_json::json!({"user\u{0}": ["n\u{0}"]}));
        assert_eq!(detail, serde_json::json!({"user\\u{0}": ["n\\u{0}"]}));
    }
}
