-- Passkeys (WebAuthn credentials): the credential as the WebAuthn library serialises it
-- (public key, signature counter, backup flags — nothing secret), its id unique across
-- every account, a name the person gave it, and when it was last used.
CREATE TABLE passkeys (
    id            BLOB PRIMARY KEY NOT NULL,
    user_id       BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id BLOB NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    credential    BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
);

CREATE INDEX passkeys_user ON passkeys (user_id);
