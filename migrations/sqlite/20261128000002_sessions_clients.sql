-- Sessions with their current refresh token (hashes only), revoked access tokens, clients.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY NOT NULL,
    user_id             BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    scope               TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    last_used_at        TEXT NOT NULL,
    absolute_expires_at TEXT NOT NULL,
    idle_expires_at     TEXT NOT NULL,
    auth_time           TEXT NOT NULL,
    ip                  TEXT,
    user_agent          TEXT,
    refresh_hash        BLOB NOT NULL,
    previous_hash       BLOB,
    rotated_at          TEXT,
    sealed_successor    BLOB
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE clients (
    id            TEXT PRIMARY KEY NOT NULL,
    secret_hash   BLOB,
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    grants        TEXT NOT NULL DEFAULT '[]',
    scopes        TEXT NOT NULL DEFAULT '[]',
    first_party   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TEXT NOT NULL
);
