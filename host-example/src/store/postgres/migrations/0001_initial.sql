-- The SQLite schema (sqlite/migrations/0001–0004) as one PostgreSQL schema: the same tables and
-- columns, times as milliseconds since the epoch (BIGINT), ciphertexts and nonces as BYTEA.

-- One row per company: core's Authorization as JSON, the sealed token pair, the refresher's
-- schedule, the generation bumped by every change, and the lease that serialises token use
-- across host processes.
CREATE TABLE authorizations (
    company         TEXT PRIMARY KEY,
    state           TEXT NOT NULL,
    status          TEXT NOT NULL,
    access_ct       BYTEA,
    access_nonce    BYTEA,
    refresh_ct      BYTEA,
    refresh_nonce   BYTEA,
    next_refresh_at BIGINT,
    failures        BIGINT NOT NULL DEFAULT 0,
    generation      BIGINT NOT NULL DEFAULT 0,
    lease_owner     TEXT,
    lease_until     BIGINT,
    authorized_by   TEXT,
    cleared_by      TEXT,
    updated_at      BIGINT NOT NULL
);
-- The refresher's due scan reads only active rows, in due order.
CREATE INDEX authorizations_due ON authorizations (next_refresh_at) WHERE status = 'active';
CREATE INDEX authorizations_status ON authorizations (status, company);

-- The Token History grid, append-only but for status changes.
CREATE TABLE history (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company         TEXT NOT NULL,
    token_created   BIGINT NOT NULL,
    token_expires   BIGINT NOT NULL,
    refresh_created BIGINT,
    refresh_expires BIGINT,
    status          TEXT NOT NULL,
    cleared_at      BIGINT,
    authorized_by   TEXT,
    cleared_by      TEXT,
    superseded_by   TEXT
);
CREATE INDEX history_company_newest ON history (company, token_created DESC, id DESC);

-- Row count per company, kept by triggers in the writing transaction, so GET /tokens reads
-- its total in O(1) instead of counting the company's rows on every request.
CREATE TABLE history_counts (
    company TEXT PRIMARY KEY,
    total   BIGINT NOT NULL
);
CREATE FUNCTION history_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE history_counts SET total = total - 1 WHERE company = OLD.company;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO history_counts (company, total) VALUES (NEW.company, 1)
            ON CONFLICT (company) DO UPDATE SET total = history_counts.total + 1;
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER history_count_insert AFTER INSERT OR DELETE ON history
    FOR EACH ROW EXECUTE FUNCTION history_count();
CREATE TRIGGER history_count_move AFTER UPDATE OF company ON history
    FOR EACH ROW WHEN (NEW.company IS DISTINCT FROM OLD.company)
    EXECUTE FUNCTION history_count();

-- Companies, created on first use by a session that names them.
CREATE TABLE companies (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Authorizations started (POST /start) and not yet exchanged: the pending state and PKCE
-- verifier, sealed, found by the SHA-256 of the state; single use, 10 minutes.
CREATE TABLE pending_authorizations (
    state_hash BYTEA PRIMARY KEY,
    company    TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    nonce      BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX pending_expiry ON pending_authorizations (expires_at);

-- The webhook outbox: each event is inserted in the transaction of the change it reports, one
-- row per endpoint; the sender delivers the oldest pending row of each (endpoint, company)
-- first, so a company's events arrive in order. (A company's commits hold its
-- `authorizations` row lock, so its events take their sequence numbers in commit order.)
CREATE TABLE webhook_outbox (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         TEXT NOT NULL,
    endpoint         TEXT NOT NULL,
    company          TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending',
    attempts         BIGINT NOT NULL DEFAULT 0,
    -- Failed attempts since the first attempt (or the last redelivery): the backoff's step.
    streak           BIGINT NOT NULL DEFAULT 0,
    -- The first attempt since creation or redelivery: the give-up age counts from here.
    first_attempt_at BIGINT,
    next_attempt_at  BIGINT,
    lease_owner      TEXT,
    lease_until      BIGINT,
    last_status      BIGINT,
    last_error       TEXT,
    delivered_at     BIGINT,
    UNIQUE (event_id, endpoint)
);
CREATE INDEX webhook_outbox_queue ON webhook_outbox (endpoint, company, seq)
    WHERE status = 'pending';
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_outbox_status ON webhook_outbox (status, seq);

-- Every access token handed to the portal's backend: who (API key id), for which company,
-- when. Never the token.
CREATE TABLE token_handouts (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    company TEXT NOT NULL,
    key_id  TEXT NOT NULL,
    at      BIGINT NOT NULL
);
CREATE INDEX token_handouts_company ON token_handouts (company, at);
