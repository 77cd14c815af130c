-- TOTP second factors (the secret sealed with the server's key; in force once confirmed;
-- the last step accepted, so that a code is accepted once) and recovery codes (hashes).
CREATE TABLE totp_factors (
    user_id      UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    last_step    BIGINT
);

CREATE TABLE recovery_codes (
    user_id   UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BYTEA NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);

-- Sign-ins waiting for their second factor: the password was right; the session starts
-- when a code is, for the client that asked, within minutes. Only the token's hash.
CREATE TABLE mfa_challenges (
    token_hash BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL,
    scope      TEXT NOT NULL,
    method     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
