-- A rotation is one UPDATE: the hash it moves out of `previous_hash` goes to the history
-- here, in the same statement, and only the 32 most recent are kept.
CREATE FUNCTION refresh_token_history_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO refresh_token_history (session_id, hash, rotated_at)
    VALUES (OLD.id, OLD.previous_hash, NEW.rotated_at)
    ON CONFLICT (session_id, hash) DO NOTHING;
    DELETE FROM refresh_token_history
    WHERE session_id = OLD.id AND hash NOT IN (
        SELECT hash FROM refresh_token_history WHERE session_id = OLD.id
        ORDER BY rotated_at DESC LIMIT 32
    );
    RETURN NULL;
END
$$;

CREATE TRIGGER refresh_token_history_keep
AFTER UPDATE OF refresh_hash ON sessions
FOR EACH ROW
WHEN (OLD.previous_hash IS NOT NULL AND NEW.previous_hash IS DISTINCT FROM OLD.previous_hash)
EXECUTE FUNCTION refresh_token_history_keep();
