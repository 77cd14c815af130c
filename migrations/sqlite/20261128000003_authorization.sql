-- The authorization code flow: codes (hashes only), remembered consent, logout URIs.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';

CREATE TABLE consents (
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    granted_at TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE auth_codes (
    code_hash      BLOB PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    user_id        BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    auth_time      TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    redeemed_at    TEXT,
    session_id     TEXT
);
