-- Who cleared an authorization and whose new opt-in superseded a record (portal user ids).
ALTER TABLE history ADD COLUMN cleared_by TEXT;
ALTER TABLE history ADD COLUMN superseded_by TEXT;
ALTER TABLE authorizations ADD COLUMN cleared_by TEXT;
-- Companies, created on first use by a session that names them.
CREATE TABLE companies (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;
-- Authorizations started (POST /start) and not yet exchanged: the pending state and PKCE
-- verifier, sealed, found by the SHA-256 of the state; single use, 10 minutes.
CREATE TABLE pending_authorizations (
    state_hash BLOB PRIMARY KEY NOT NULL,
    company    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    nonce      BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX pending_expiry ON pending_authorizations (expires_at);
