-- Short-lived, single-use states that a random token stands for (a sign-in waiting for
-- its second factor, …), when no Redis is configured: only the token's hash, the state as
-- the server encoded it, and when it stops counting. They replace mfa_challenges; a
-- sign-in waiting for its code at the upgrade starts again with the password.
CREATE TABLE pending_states (
    kind       TEXT NOT NULL,
    token_hash BLOB NOT NULL,
    value      BLOB NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (kind, token_hash)
);

CREATE INDEX pending_states_expiry ON pending_states (expires_at);

DROP TABLE mfa_challenges;
