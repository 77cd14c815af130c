-- Refresh-token hashes a session has rotated past (beyond the previous one), so that a
-- replay of any of them is recognised. Only the most recent ones are kept.
CREATE TABLE refresh_token_history (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    hash       BYTEA NOT NULL,
    rotated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, hash)
);
