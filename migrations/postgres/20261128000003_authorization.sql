-- The authorization code flow: codes (hashes only), remembered consent, logout URIs.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris JSONB NOT NULL DEFAULT '[]';

CREATE TABLE consents (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE auth_codes (
    code_hash      BYTEA PRIMARY KEY,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    auth_time      TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    redeemed_at    TIMESTAMPTZ,
    session_id     TEXT
);
