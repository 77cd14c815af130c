-- Sessions with their current refresh token (hashes only), revoked access tokens, clients.
CREATE TABLE sessions (
    id                  TEXT PRIMARY KEY,
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id           TEXT NOT NULL,
    scope               TEXT NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    last_used_at        TIMESTAMPTZ NOT NULL,
    absolute_expires_at TIMESTAMPTZ NOT NULL,
    idle_expires_at     TIMESTAMPTZ NOT NULL,
    auth_time           TIMESTAMPTZ NOT NULL,
    ip                  TEXT,
    user_agent          TEXT,
    refresh_hash        BYTEA NOT NULL,
    previous_hash       BYTEA,
    rotated_at          TIMESTAMPTZ,
    sealed_successor    BYTEA
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE clients (
    id            TEXT PRIMARY KEY,
    secret_hash   BYTEA,
    redirect_uris JSONB NOT NULL DEFAULT '[]',
    grants        JSONB NOT NULL DEFAULT '[]',
    scopes        JSONB NOT NULL DEFAULT '[]',
    first_party   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);
