-- People who sign in. Emails are stored lower-cased, so UNIQUE ignores case.
CREATE TABLE users (
    id                 UUID PRIMARY KEY,
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    roles              JSONB NOT NULL DEFAULT '[]',
    disabled           BOOLEAN NOT NULL DEFAULT FALSE,
    email_verified     BOOLEAN NOT NULL DEFAULT FALSE,
    country            TEXT,
    city               TEXT,
    business_context   JSONB,
    preferred_language TEXT,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);
