-- The feed of revocations resource servers poll: sessions ended (by sign-out, an
-- administrator, a password change, a disabled account or a replayed refresh token) and
-- access tokens revoked, each listed until every access token issued before it has expired.
CREATE TABLE ended_sessions (
    session_id   TEXT PRIMARY KEY NOT NULL,
    ended_at     TEXT NOT NULL,
    listed_until TEXT NOT NULL
);
CREATE INDEX ended_sessions_ended_at ON ended_sessions (ended_at);

ALTER TABLE revoked_access_tokens ADD COLUMN revoked_at TEXT;
CREATE INDEX revoked_access_tokens_revoked_at ON revoked_access_tokens (revoked_at);
