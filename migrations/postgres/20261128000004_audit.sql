-- Security events, kept for GATEHOUSE_AUDIT_RETENTION.
CREATE TABLE audit_events (
    id         UUID PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    type       TEXT NOT NULL,
    actor      TEXT,
    user_id    UUID,
    client_id  TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
