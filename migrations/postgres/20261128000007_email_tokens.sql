-- Single-use links sent by mail (address verification, password reset): only a hash of
-- each token is stored, with the address it was sent to.
CREATE TABLE email_tokens (
    hash       BYTEA PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,
    email      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);
