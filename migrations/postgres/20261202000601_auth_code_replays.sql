-- A code presented again while its first exchange is still starting the session: the
-- first exchange reads this once it has recorded its session, and ends it (RFC 6749 §4.1.2).
ALTER TABLE auth_codes ADD COLUMN replayed_at TIMESTAMPTZ;
