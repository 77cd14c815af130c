-- The old service's integer user id, kept by `gatehouse user import` so that the old
-- service's tokens (whose `sub` it is) can be exchanged for sessions; unique when set.
ALTER TABLE users ADD COLUMN legacy_id BIGINT;
CREATE UNIQUE INDEX users_legacy_id ON users (legacy_id);
