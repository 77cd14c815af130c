-- What a confidential client may do beyond its grants: `introspection` of other clients'
-- tokens (RFC 7662 §4) and reading the revocation feed. Existing clients get neither.
ALTER TABLE clients ADD COLUMN permissions JSONB NOT NULL DEFAULT '[]';
