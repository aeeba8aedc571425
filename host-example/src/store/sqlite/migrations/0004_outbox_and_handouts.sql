-- The webhook outbox: each event is inserted in the transaction of the change it reports, one
-- row per endpoint; the sender delivers the oldest pending row of each (endpoint, company)
-- first, so a company's events arrive in order.
CREATE TABLE webhook_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    endpoint        TEXT NOT NULL,
    company         TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Failed attempts since the first attempt (or the last redelivery): the backoff's step.
    streak          INTEGER NOT NULL DEFAULT 0,
    -- The first attempt since creation or redelivery: the give-up age counts from here, so an
    -- event queued behind a slow one, or redelivered, gets the whole retry window.
    first_attempt_at INTEGER,
    next_attempt_at INTEGER,
    lease_owner     TEXT,
    lease_until     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    delivered_at    INTEGER,
    UNIQUE (event_id, endpoint)
) STRICT;
CREATE INDEX webhook_outbox_queue ON webhook_outbox (endpoint, company, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_outbox_status ON webhook_outbox (status, seq);
-- Every access token handed to the portal's backend: who (API key id), for which company,
-- when. Never the token.
CREATE TABLE token_handouts (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    company TEXT NOT NULL,
    key_id  TEXT NOT NULL,
    at      INTEGER NOT NULL
) STRICT;
CREATE INDEX token_handouts_company ON token_handouts (company, at);
CREATE INDEX authorizations_status ON authorizations (status, company);
