-- Passkeys (WebAuthn credentials): the credential as the WebAuthn library serialises it
-- (public key, signature counter, backup flags — nothing secret), its id unique across
-- every account, a name the person gave it, and when it was last used.
CREATE TABLE passkeys (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BYTEA NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    BYTEA NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ
);

CREATE INDEX passkeys_user ON passkeys (user_id);
