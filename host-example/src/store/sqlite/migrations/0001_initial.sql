-- One row per company: core's Authorization as JSON, the sealed token pair, the refresher's
-- schedule, the generation bumped by every change, and the lease that serialises token use
-- across host processes.
CREATE TABLE authorizations (
    company         TEXT PRIMARY KEY NOT NULL,
    state           TEXT NOT NULL,
    status          TEXT NOT NULL,
    access_ct       BLOB,
    access_nonce    BLOB,
    refresh_ct      BLOB,
    refresh_nonce   BLOB,
    next_refresh_at INTEGER,
    failures        INTEGER NOT NULL DEFAULT 0,
    generation      INTEGER NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     INTEGER,
    authorized_by   TEXT,
    updated_at      INTEGER NOT NULL
) STRICT;
-- The Token History grid, append-only but for status changes.
CREATE TABLE history (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    company         TEXT NOT NULL,
    token_created   INTEGER NOT NULL,
    token_expires   INTEGER NOT NULL,
    refresh_created INTEGER,
    refresh_expires INTEGER,
    status          TEXT NOT NULL,
    cleared_at      INTEGER,
    authorized_by   TEXT
) STRICT;
CREATE INDEX history_company_newest ON history (company, token_created DESC, id DESC);
