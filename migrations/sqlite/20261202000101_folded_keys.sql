-- Addresses are compared, and names and addresses searched, on their case-folded NFKC
-- form (one rule, computed by the server for both databases). Existing rows are filled
-- in by the server right after this migration.
ALTER TABLE users ADD COLUMN email_key TEXT;
ALTER TABLE users ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX users_email_key_folded ON users (email_key);
