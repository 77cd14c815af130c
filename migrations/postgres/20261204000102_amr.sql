-- How the person signed in (RFC 8176 `amr`, space-separated), kept by sessions and the
-- codes that start them; what existed before signed in with a password.
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
ALTER TABLE auth_codes ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
