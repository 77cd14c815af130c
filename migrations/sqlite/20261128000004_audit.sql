-- Security events, kept for GATEHOUSE_AUDIT_RETENTION.
CREATE TABLE audit_events (
    id         BLOB PRIMARY KEY NOT NULL,
    at         TEXT NOT NULL,
    type       TEXT NOT NULL,
    actor      TEXT,
    user_id    BLOB,
    client_id  TEXT,
    session_id TEXT,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_at ON audit_events (at);
