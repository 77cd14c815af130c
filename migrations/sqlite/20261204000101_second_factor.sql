-- TOTP second factors (the secret sealed with the server's key; in force once confirmed;
-- the last step accepted, so that a code is accepted once) and recovery codes (hashes).
CREATE TABLE totp_factors (
    user_id      BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret       BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    confirmed_at TEXT,
    last_step    INTEGER
);

CREATE TABLE recovery_codes (
    user_id   BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    used_at   TEXT,
    PRIMARY KEY (user_id, code_hash)
);

-- Sign-ins waiting for their second factor: the password was right; the session starts
-- when a code is, for the client that asked, within minutes. Only the token's hash.
CREATE TABLE mfa_challenges (
    token_hash BLOB PRIMARY KEY NOT NULL,
    user_id    BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    method     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
