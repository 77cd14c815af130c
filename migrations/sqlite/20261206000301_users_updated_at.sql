-- Instances look every half second for accounts changed since their last look, to
-- forget what they remember of them.
CREATE INDEX users_updated_at ON users (updated_at);
