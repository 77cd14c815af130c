-- People who sign in. Emails are stored lower-cased, so UNIQUE ignores case.
CREATE TABLE users (
    id                 BLOB PRIMARY KEY NOT NULL,
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    password_hash      TEXT NOT NULL,
    roles              TEXT NOT NULL DEFAULT '[]',
    disabled           BOOLEAN NOT NULL DEFAULT FALSE,
    email_verified     BOOLEAN NOT NULL DEFAULT FALSE,
    country            TEXT,
    city               TEXT,
    business_context   TEXT,
    preferred_language TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email)
);
