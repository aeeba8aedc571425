//! Storage: the [`Store`] trait and its SQLite implementation.
//!
//! One row per company in `authorizations` (core's [`Authorization`] as JSON, the encrypted
//! token pair, the next refresh time, a `generation` counter bumped by every change, and a lease
//! that serialises token use across host processes) and the append-only `history` table the
//! Token History grid pages through in SQL.
//!
//! Every state change is one [`Transition`] applied by [`Store::commit`] in one transaction: the
//! lifecycle's [`Action`]s are translated to SQL there, so a refreshed pair is committed in the
//! same transaction that discards the old one and a crash never loses an authorization.
//! Tokens are sealed with [`TokenCipher`] before they reach SQL; plaintext never does.
//!
//! The trait is synchronous: callers run it on the blocking pool (see
//! [`AppState::db`](crate::state::AppState::db)). A PostgreSQL implementation would keep the
//! same contract (`SELECT … FOR UPDATE` in place of `BEGIN IMMEDIATE`).

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use oauth2::{AccessToken, RefreshToken};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use token_manager_core::history::{PageWindow, PerPage, RecordStatus, TokenRecord};
use token_manager_core::lifecycle::{Action, Authorization};
use token_manager_core::{AuthorizationStatus, GrantTimes, Timestamp};

use crate::crypto::{Field, OpenError, Sealed, TokenCipher};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The authorization changed since it was read (another request or host won).
    #[error("the authorization changed concurrently")]
    Conflict,
    /// A stored token could not be decrypted.
    #[error(transparent)]
    Crypto(#[from] OpenError),
    /// A stored value is not what this version writes.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The caller asked for something inconsistent.
    #[error("storage misuse: {0}")]
    Misuse(&'static str),
}

impl StoreError {
    /// SQLite is busy/locked past the busy timeout, or the disk is full: nothing was written,
    /// and the same call may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Sqlite(e) if matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                )
            )
        )
    }
}

/// An access token and (usually) a refresh token, in memory only while used.
/// `Debug` is redacted by the `oauth2` newtypes.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// The access token.
    pub access: AccessToken,
    /// The refresh token, if the provider issued one.
    pub refresh: Option<RefreshToken>,
}

/// A company's authorization as stored (no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRow {
    /// Company id.
    pub company: String,
    /// Lifecycle state.
    pub state: Authorization,
    /// Bumped by every committed change.
    pub generation: i64,
    /// When the refresher should next act.
    pub next_refresh: Option<Timestamp>,
    /// Whether an encrypted pair is stored.
    pub has_tokens: bool,
    /// Who opted in.
    pub authorized_by: Option<String>,
}

impl AuthRow {
    fn empty(company: &str) -> Self {
        Self {
            company: company.to_owned(),
            state: Authorization::NotAuthorized,
            generation: 0,
            next_refresh: None,
            has_tokens: false,
            authorized_by: None,
        }
    }
}

/// What a lease is claimed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// The refresher: only when active, holding a refresh token, and due.
    Refresh,
    /// The retrieval job: only when active with an access token.
    Use,
    /// Clear: always (tokens decrypted best effort, for revocation).
    Clear,
}

/// A held lease: nobody else (in any host process on this database) uses the company's tokens
/// until it is released or expires.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The row when claimed.
    pub row: AuthRow,
    /// The decrypted tokens, if any.
    pub tokens: Option<TokenPair>,
}

/// Result of [`Store::claim`].
#[derive(Debug)]
pub enum ClaimOutcome {
    /// The lease is ours.
    Acquired(Lease),
    /// Another owner holds it until then.
    Busy {
        /// Lease expiry.
        until: Timestamp,
    },
    /// Nothing to do (not active, not due, no tokens).
    Nothing,
}

/// One change of one company's authorization, applied atomically by [`Store::commit`].
#[derive(Debug, Clone)]
pub struct Transition {
    /// Company.
    pub company: String,
    /// Refuse with [`StoreError::Conflict`] unless the stored generation is this one.
    pub expected_generation: Option<i64>,
    /// Release the lease if this owner holds it.
    pub lease_owner: Option<String>,
    /// The state after the event.
    pub next: Authorization,
    /// The lifecycle's actions; the storage ones are applied here, in order.
    pub actions: Vec<Action>,
    /// The new pair, required when `actions` contains [`Action::StoreTokens`].
    pub tokens: Option<TokenPair>,
    /// Who opted in (new grants); refreshes keep the stored value.
    pub authorized_by: Option<String>,
    /// When.
    pub now: Timestamp,
}

/// Result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The new generation.
    pub generation: i64,
    /// The history row appended by [`Action::AppendRecord`], if any.
    pub appended: Option<TokenRecord>,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Where the page falls.
    pub window: PageWindow,
    /// Its rows, newest first, statuses as stored.
    pub rows: Vec<TokenRecord>,
}

/// The storage contract of the host.
pub trait Store: Send + Sync + 'static {
    /// How many calls can usefully run at once (its connections). [`crate::AppState::db`]
    /// admits no more than this onto the blocking pool; the rest wait as futures.
    fn concurrency(&self) -> usize {
        1
    }
    /// The company's authorization (`NotAuthorized` when never seen).
    fn authorization(&self, company: &str) -> Result<AuthRow, StoreError>;
    /// Companies whose refresh is due at `now` and whose lease is free, earliest first.
    fn due_companies(&self, now: Timestamp, limit: usize) -> Result<Vec<String>, StoreError>;
    /// Companies that are active and hold an access token.
    fn active_companies(&self) -> Result<Vec<String>, StoreError>;
    /// Claim the company's lease for `kind` until `until`, in one immediate transaction.
    fn claim(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        kind: ClaimKind,
    ) -> Result<ClaimOutcome, StoreError>;
    /// Release the lease if `owner` holds it.
    fn release(&self, company: &str, owner: &str) -> Result<(), StoreError>;
    /// Apply a transition in one transaction.
    fn commit(&self, transition: &Transition) -> Result<Committed, StoreError>;
    /// One page of the company's history, newest first, paged in the database.
    fn history_page(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryPage, StoreError>;
    /// Insert synthetic past rows (status `refreshed`) if the company has no history yet;
    /// returns how many were inserted.
    fn seed_history(
        &self,
        company: &str,
        rows: &[GrantTimes],
        authorized_by: &str,
    ) -> Result<usize, StoreError>;
    /// Make wiped values physically unrecoverable (SQLite: checkpoint and truncate the WAL).
    fn purge(&self) -> Result<(), StoreError>;
}

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r"
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
",
    r"
-- Row count per company, kept by triggers in the writing transaction, so GET /tokens reads
-- its total in O(1) instead of counting the company's rows on every request.
CREATE TABLE history_counts (
    company TEXT PRIMARY KEY NOT NULL,
    total   INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
INSERT INTO history_counts (company, total) SELECT company, COUNT(*) FROM history GROUP BY company;
CREATE TRIGGER history_count_insert AFTER INSERT ON history BEGIN
    INSERT INTO history_counts (company, total) VALUES (NEW.company, 1)
        ON CONFLICT (company) DO UPDATE SET total = total + 1;
END;
CREATE TRIGGER history_count_delete AFTER DELETE ON history BEGIN
    UPDATE history_counts SET total = total - 1 WHERE company = OLD.company;
END;
CREATE TRIGGER history_count_move AFTER UPDATE OF company ON history
    WHEN NEW.company IS NOT OLD.company BEGIN
    UPDATE history_counts SET total = total - 1 WHERE company = OLD.company;
    INSERT INTO history_counts (company, total) VALUES (NEW.company, 1)
        ON CONFLICT (company) DO UPDATE SET total = total + 1;
END;
-- The refresher's due scan reads only active rows, in due order.
CREATE INDEX authorizations_due ON authorizations (next_refresh_at) WHERE status = 'active';
",
];

/// SQLite storage (WAL, `busy_timeout`, `secure_delete`).
pub struct SqliteStore {
    conn: Mutex<Connection>,
    cipher: TokenCipher,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path, cipher: TokenCipher) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn, cipher)
    }

    /// An in-memory database (tests, benchmarks).
    pub fn open_in_memory(cipher: TokenCipher) -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, cipher)
    }

    /// Key rotation: re-seal under the current key every stored token that only an old key
    /// (see [`TokenCipher::with_old_keys`]) opens, in one transaction, then checkpoint so the
    /// old ciphertexts leave the files. Returns how many values were re-sealed. Fails, changing
    /// nothing, if a value opens under no key at all (the company is named in the error).
    pub fn reencrypt(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(String, Option<Sealed>, Option<Sealed>)> = {
            let mut stmt = tx.prepare(
                "SELECT company, access_ct, access_nonce, refresh_ct, refresh_nonce
                 FROM authorizations WHERE access_ct IS NOT NULL OR refresh_ct IS NOT NULL",
            )?;
            let raw = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<Vec<u8>>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                ))
            })?;
            let mut rows = Vec::new();
            for row in raw {
                let (company, act, anon, rct, rnon) = row?;
                rows.push((company, sealed(act, anon)?, sealed(rct, rnon)?));
            }
            rows
        };
        let mut resealed = 0;
        for (company, access, refresh) in rows {
            for (field, value, ct, nonce) in [
                (Field::AccessToken, access, "access_ct", "access_nonce"),
                (Field::RefreshToken, refresh, "refresh_ct", "refresh_nonce"),
            ] {
                let Some(value) = value else { continue };
                let (plain, old) = self
                    .cipher
                    .open_reporting_old(&company, field, &value)
                    .map_err(|e| {
                        StoreError::Corrupt(format!(
                            "company {company:?}: {e}; pass the key it was sealed with as an old key"
                        ))
                    })?;
                let plain = zeroize::Zeroizing::new(plain);
                if old {
                    let new = self.cipher.seal(&company, field, &plain);
                    tx.execute(
                        &format!(
                            "UPDATE authorizations SET {ct} = ?2, {nonce} = ?3 WHERE company = ?1"
                        ),
                        params![company, new.ciphertext, new.nonce.as_slice()],
                    )?;
                    resealed += 1;
                }
            }
        }
        tx.commit()?;
        drop(conn);
        if resealed > 0 {
            self.purge()?;
        }
        Ok(resealed)
    }

    fn init(mut conn: Connection, cipher: TokenCipher) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // journal_mode answers with a row; read it rather than `execute`.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA secure_delete = ON; PRAGMA foreign_keys = ON;",
        )?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            cipher,
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back
        // on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open_tokens(
        &self,
        company: &str,
        cols: &StoredTokens,
    ) -> Result<Option<TokenPair>, StoreError> {
        let Some(access) = &cols.access else {
            return Ok(None);
        };
        let access = self.cipher.open(company, Field::AccessToken, access)?;
        let refresh = match &cols.refresh {
            Some(s) => Some(RefreshToken::new(self.cipher.open(
                company,
                Field::RefreshToken,
                s,
            )?)),
            None => None,
        };
        Ok(Some(TokenPair {
            access: AccessToken::new(access),
            refresh,
        }))
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let done: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let done = usize::try_from(done).map_err(|_| StoreError::Corrupt("user_version".into()))?;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database schema (version {done}) is newer than this host (version {})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

struct StoredTokens {
    access: Option<Sealed>,
    refresh: Option<Sealed>,
}

fn sealed(ct: Option<Vec<u8>>, nonce: Option<Vec<u8>>) -> Result<Option<Sealed>, StoreError> {
    match (ct, nonce) {
        (Some(ciphertext), Some(nonce)) => Ok(Some(Sealed {
            nonce: nonce
                .try_into()
                .map_err(|_| StoreError::Corrupt("nonce is not 12 bytes".into()))?,
            ciphertext,
        })),
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(
            "ciphertext without nonce or nonce without ciphertext".into(),
        )),
    }
}

/// Columns read by [`read_row`].
const ROW_COLUMNS: &str = "company, state, generation, next_refresh_at, authorized_by, \
     access_ct, access_nonce, refresh_ct, refresh_nonce, lease_owner, lease_until";

struct FullRow {
    row: AuthRow,
    tokens: StoredTokens,
    lease_owner: Option<String>,
    lease_until: Option<i64>,
}

fn read_row(conn: &Connection, company: &str) -> Result<Option<FullRow>, StoreError> {
    let raw = conn
        .query_row(
            &format!("SELECT {ROW_COLUMNS} FROM authorizations WHERE company = ?1"),
            [company],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    (
                        r.get::<_, Option<Vec<u8>>>(5)?,
                        r.get::<_, Option<Vec<u8>>>(6)?,
                        r.get::<_, Option<Vec<u8>>>(7)?,
                        r.get::<_, Option<Vec<u8>>>(8)?,
                    ),
                    r.get::<_, Option<String>>(9)?,
                    r.get::<_, Option<i64>>(10)?,
                ))
            },
        )
        .optional()?;
    let Some((company, state, generation, next, by, (act, anon, rct, rnon), owner, until)) = raw
    else {
        return Ok(None);
    };
    let state: Authorization = serde_json::from_str(&state)
        .map_err(|e| StoreError::Corrupt(format!("authorization state: {e}")))?;
    let tokens = StoredTokens {
        access: sealed(act, anon)?,
        refresh: sealed(rct, rnon)?,
    };
    Ok(Some(FullRow {
        row: AuthRow {
            company,
            state,
            generation,
            next_refresh: next.map(Timestamp),
            has_tokens: tokens.access.is_some(),
            authorized_by: by,
        },
        tokens,
        lease_owner: owner,
        lease_until: until,
    }))
}

fn status_name(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "not_authorized",
        AuthorizationStatus::Active => "active",
        AuthorizationStatus::Cleared => "cleared",
        AuthorizationStatus::Invalidated => "invalidated",
    }
}

fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    let status: String = r.get(6)?;
    let status = RecordStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            6,
            rusqlite::types::Type::Text,
            format!("unknown record status {status:?}").into(),
        )
    })?;
    Ok(TokenRecord {
        id: r.get(0)?,
        company: r.get(1)?,
        token_created: Timestamp(r.get(2)?),
        token_expires: Timestamp(r.get(3)?),
        refresh_created: r.get::<_, Option<i64>>(4)?.map(Timestamp),
        refresh_expires: r.get::<_, Option<i64>>(5)?.map(Timestamp),
        status,
        cleared_at: r.get::<_, Option<i64>>(7)?.map(Timestamp),
        authorized_by: r.get(8)?,
    })
}

const RECORD_COLUMNS: &str = "id, company, token_created, token_expires, refresh_created, \
     refresh_expires, status, cleared_at, authorized_by";

impl Store for SqliteStore {
    /// One connection, but a call spends part of its time outside the connection's mutex
    /// (decrypting, building records), so a few may overlap. Measured on the read benchmark
    /// (2 cores): 1 → 13.5k req/s, 2 → 19.5k, 4 → 22k, unbounded (~100 blocking threads) → 23k
    /// with ~12 % more RSS after 20 s of load (17.7 vs 15.8 MiB).
    fn concurrency(&self) -> usize {
        4
    }
    fn authorization(&self, company: &str) -> Result<AuthRow, StoreError> {
        let conn = self.conn();
        Ok(read_row(&conn, company)?.map_or_else(|| AuthRow::empty(company), |f| f.row))
    }

    fn due_companies(&self, now: Timestamp, limit: usize) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT company FROM authorizations
             WHERE status = 'active' AND refresh_ct IS NOT NULL
               AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?1
               AND (lease_until IS NULL OR lease_until <= ?1)
             ORDER BY next_refresh_at LIMIT ?2",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![now.0, limit], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn active_companies(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT company FROM authorizations
             WHERE status = 'active' AND access_ct IS NOT NULL ORDER BY company",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn claim(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        kind: ClaimKind,
    ) -> Result<ClaimOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if kind == ClaimKind::Clear {
            insert_default(&tx, company, now)?;
        }
        let Some(full) = read_row(&tx, company)? else {
            return Ok(ClaimOutcome::Nothing);
        };
        if let (Some(holder), Some(lease_until)) = (&full.lease_owner, full.lease_until) {
            if holder != owner && lease_until > now.0 {
                return Ok(ClaimOutcome::Busy {
                    until: Timestamp(lease_until),
                });
            }
        }
        let active = full.row.state.status() == AuthorizationStatus::Active;
        let eligible = match kind {
            ClaimKind::Refresh => {
                active
                    && full.tokens.refresh.is_some()
                    && full.row.next_refresh.is_some_and(|at| at <= now)
            }
            ClaimKind::Use => active && full.tokens.access.is_some(),
            ClaimKind::Clear => true,
        };
        if !eligible {
            return Ok(ClaimOutcome::Nothing);
        }
        let tokens = match kind {
            ClaimKind::Clear => self
                .open_tokens(company, &full.tokens)
                .unwrap_or_else(|e| {
                    tracing::warn!(company, error = %e, "clear: stored tokens unreadable; wiping without revocation");
                    None
                }),
            _ => self.open_tokens(company, &full.tokens)?,
        };
        tx.execute(
            "UPDATE authorizations SET lease_owner = ?2, lease_until = ?3 WHERE company = ?1",
            params![company, owner, until.0],
        )?;
        tx.commit()?;
        Ok(ClaimOutcome::Acquired(Lease {
            row: full.row,
            tokens,
        }))
    }

    fn release(&self, company: &str, owner: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE authorizations SET lease_owner = NULL, lease_until = NULL
             WHERE company = ?1 AND lease_owner = ?2",
            params![company, owner],
        )?;
        Ok(())
    }

    fn commit(&self, t: &Transition) -> Result<Committed, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let company = t.company.as_str();
        insert_default(&tx, company, t.now)?;
        let (generation, stored_by, mut next_refresh): (i64, Option<String>, Option<i64>) = tx
            .query_row(
                "SELECT generation, authorized_by, next_refresh_at FROM authorizations WHERE company = ?1",
                [company],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
        if t.expected_generation.is_some_and(|g| g != generation) {
            return Err(StoreError::Conflict);
        }
        let authorized_by = t.authorized_by.clone().or(stored_by);
        let mut appended = None;
        for action in &t.actions {
            match action {
                Action::StoreTokens => {
                    let pair = t
                        .tokens
                        .as_ref()
                        .ok_or(StoreError::Misuse("StoreTokens without a token pair"))?;
                    let access =
                        self.cipher
                            .seal(company, Field::AccessToken, pair.access.secret());
                    let refresh = pair
                        .refresh
                        .as_ref()
                        .map(|r| self.cipher.seal(company, Field::RefreshToken, r.secret()));
                    tx.execute(
                        "UPDATE authorizations SET access_ct = ?2, access_nonce = ?3,
                             refresh_ct = ?4, refresh_nonce = ?5 WHERE company = ?1",
                        params![
                            company,
                            access.ciphertext,
                            access.nonce.as_slice(),
                            refresh.as_ref().map(|s| s.ciphertext.as_slice()),
                            refresh.as_ref().map(|s| s.nonce.as_slice()),
                        ],
                    )?;
                }
                Action::SupersedeRecords => {
                    tx.execute(
                        "UPDATE history SET status = 'refreshed' WHERE company = ?1 AND status = 'active'",
                        [company],
                    )?;
                }
                Action::AppendRecord(times) => {
                    tx.execute(
                        "INSERT INTO history (company, token_created, token_expires, refresh_created,
                             refresh_expires, status, cleared_at, authorized_by)
                         VALUES (?1, ?2, ?3, ?4, ?5, 'active', NULL, ?6)",
                        params![
                            company,
                            times.token_created.0,
                            times.token_expires.0,
                            times.refresh_created.map(|t| t.0),
                            times.refresh_expires.map(|t| t.0),
                            authorized_by,
                        ],
                    )?;
                    appended = Some(TokenRecord {
                        id: tx.last_insert_rowid(),
                        company: company.to_owned(),
                        token_created: times.token_created,
                        token_expires: times.token_expires,
                        refresh_created: times.refresh_created,
                        refresh_expires: times.refresh_expires,
                        status: RecordStatus::Active,
                        cleared_at: None,
                        authorized_by: authorized_by.clone(),
                    });
                }
                Action::ScheduleRefresh { at } | Action::RetryRefresh { at, .. } => {
                    next_refresh = Some(at.0);
                }
                Action::WipeTokens => {
                    tx.execute(
                        "UPDATE authorizations SET access_ct = NULL, access_nonce = NULL,
                             refresh_ct = NULL, refresh_nonce = NULL WHERE company = ?1",
                        [company],
                    )?;
                }
                Action::MarkCleared { at } => {
                    tx.execute(
                        "UPDATE history SET status = 'cleared', cleared_at = ?2
                         WHERE company = ?1 AND status = 'active'",
                        params![company, at.0],
                    )?;
                }
                Action::MarkInvalidated => {
                    tx.execute(
                        "UPDATE history SET status = 'invalidated' WHERE company = ?1 AND status = 'active'",
                        [company],
                    )?;
                }
                // Not storage: the shell performs these (retrieval job, revocation).
                Action::StartRetrieval | Action::StopRetrieval | Action::RevokeTokens => {}
                other => {
                    tracing::warn!(action = ?other, "storage ignores an action it does not know");
                }
            }
        }
        let failures = match &t.next {
            Authorization::Active { failures, .. } => *failures,
            _ => 0,
        };
        if t.next.status() != AuthorizationStatus::Active {
            next_refresh = None;
        }
        let state = serde_json::to_string(&t.next)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode state: {e}")))?;
        tx.execute(
            "UPDATE authorizations SET state = ?2, status = ?3, failures = ?4,
                 next_refresh_at = ?5, generation = generation + 1, authorized_by = ?6,
                 updated_at = ?7,
                 lease_owner = CASE WHEN lease_owner = ?8 THEN NULL ELSE lease_owner END,
                 lease_until = CASE WHEN lease_owner = ?8 THEN NULL ELSE lease_until END
             WHERE company = ?1",
            params![
                company,
                state,
                status_name(t.next.status()),
                failures,
                next_refresh,
                authorized_by,
                t.now.0,
                t.lease_owner,
            ],
        )?;
        tx.commit()?;
        Ok(Committed {
            generation: generation + 1,
            appended,
        })
    }

    fn history_page(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryPage, StoreError> {
        let mut conn = self.conn();
        // One read transaction: the count and the page see the same snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        // The trigger-kept count: O(1), where COUNT(*) walked every row of the company.
        let total: i64 = tx
            .query_row(
                "SELECT total FROM history_counts WHERE company = ?1",
                [company],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let window = PageWindow::new(u64::try_from(total).unwrap_or(0), page, per_page);
        // Walk the index from whichever end is nearer, so page 1 and the last page both cost
        // one seek plus the page's rows (a middle page skips at most half the company's rows).
        let after = window.total.saturating_sub(window.offset + window.len);
        let from_oldest = after < window.offset;
        let rows = {
            let sql = if from_oldest {
                format!(
                    "SELECT {RECORD_COLUMNS} FROM history WHERE company = ?1
                     ORDER BY token_created ASC, id ASC LIMIT ?2 OFFSET ?3"
                )
            } else {
                format!(
                    "SELECT {RECORD_COLUMNS} FROM history WHERE company = ?1
                     ORDER BY token_created DESC, id DESC LIMIT ?2 OFFSET ?3"
                )
            };
            let mut stmt = tx.prepare_cached(&sql)?;
            let limit = i64::try_from(window.len).unwrap_or(0);
            let skip = if from_oldest { after } else { window.offset };
            let skip = i64::try_from(skip).unwrap_or(i64::MAX);
            let rows = stmt.query_map(params![company, limit, skip], record_from_row)?;
            let mut rows = rows.collect::<Result<Vec<_>, _>>()?;
            if from_oldest {
                rows.reverse();
            }
            rows
        };
        tx.commit()?;
        Ok(HistoryPage { window, rows })
    }

    fn seed_history(
        &self,
        company: &str,
        rows: &[GrantTimes],
        authorized_by: &str,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM history WHERE company = ?1)",
            [company],
            |r| r.get(0),
        )?;
        if existing {
            return Ok(0);
        }
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO history (company, token_created, token_expires, refresh_created,
                     refresh_expires, status, cleared_at, authorized_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'refreshed', NULL, ?6)",
            )?;
            for t in rows {
                stmt.execute(params![
                    company,
                    t.token_created.0,
                    t.token_expires.0,
                    t.refresh_created.map(|x| x.0),
                    t.refresh_expires.map(|x| x.0),
                    authorized_by,
                ])?;
            }
        }
        tx.commit()?;
        Ok(rows.len())
    }

    fn purge(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        // Busy (a reader in another process) is not an error: the next purge finishes the job.
        let (_busy, _log, _done): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        Ok(())
    }
}

fn insert_default(
    tx: &rusqlite::Transaction<'_>,
    company: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT OR IGNORE INTO authorizations (company, state, status, generation, updated_at)
         VALUES (?1, ?2, 'not_authorized', 0, ?3)",
        params![
            company,
            serde_json::to_string(&Authorization::NotAuthorized)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            now.0
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use token_manager_core::lifecycle::{Event, RefreshPolicy};

    use super::*;
    use crate::crypto::TokenKey;

    const H: i64 = 3_600_000;

    fn times(at: i64) -> GrantTimes {
        GrantTimes {
            token_created: Timestamp(at),
            token_expires: Timestamp(at + 4 * H),
            refresh_created: Some(Timestamp(at)),
            refresh_expires: Some(Timestamp(at + 1000 * H)),
        }
    }

    fn pair(n: u32) -> TokenPair {
        TokenPair {
            access: AccessToken::new(format!("access-{n}")),
            refresh: Some(RefreshToken::new(format!("refresh-{n}"))),
        }
    }

    fn grant(store: &SqliteStore, company: &str, at: i64, n: u32) -> Committed {
        let policy = RefreshPolicy::default();
        let cur = store.authorization(company).unwrap();
        let (next, actions) = cur
            .state
            .handle(Event::Granted(times(at)), Timestamp(at), &policy);
        store
            .commit(&Transition {
                company: company.into(),
                expected_generation: Some(cur.generation),
                lease_owner: None,
                next,
                actions,
                tokens: Some(pair(n)),
                authorized_by: Some("admin".into()),
                now: Timestamp(at),
            })
            .unwrap()
    }

    #[test]
    fn grant_supersede_page_and_claim() {
        let store = SqliteStore::open_in_memory(TokenCipher::new(&TokenKey::generate())).unwrap();
        let c1 = grant(&store, "acme", 0, 1);
        assert_eq!(c1.appended.as_ref().unwrap().status, RecordStatus::Active);
        grant(&store, "acme", H, 2);
        let page = store.history_page("acme", 1, PerPage::Ten).unwrap();
        assert_eq!(page.window.total, 2);
        assert_eq!(
            page.rows.iter().map(|r| r.status).collect::<Vec<_>>(),
            [RecordStatus::Active, RecordStatus::Refreshed]
        );
        assert_eq!(page.rows[0].authorized_by.as_deref(), Some("admin"));
        // Not due yet.
        assert!(store.due_companies(Timestamp(H), 10).unwrap().is_empty());
        let due_at = Timestamp(5 * H);
        assert_eq!(store.due_companies(due_at, 10).unwrap(), ["acme"]);
        let lease = match store
            .claim(
                "acme",
                "a",
                due_at,
                Timestamp(5 * H + 1000),
                ClaimKind::Refresh,
            )
            .unwrap()
        {
            ClaimOutcome::Acquired(l) => l,
            other => panic!("{other:?}"),
        };
        assert_eq!(lease.tokens.unwrap().access.secret(), "access-2");
        assert!(matches!(
            store
                .claim(
                    "acme",
                    "b",
                    due_at,
                    Timestamp(5 * H + 1000),
                    ClaimKind::Refresh
                )
                .unwrap(),
            ClaimOutcome::Busy { .. }
        ));
        assert!(store.due_companies(due_at, 10).unwrap().is_empty());
        // A stale generation is refused.
        let stale = Transition {
            company: "acme".into(),
            expected_generation: Some(lease.row.generation - 1),
            lease_owner: Some("a".into()),
            next: Authorization::NotAuthorized,
            actions: vec![],
            tokens: None,
            authorized_by: None,
            now: due_at,
        };
        assert!(matches!(store.commit(&stale), Err(StoreError::Conflict)));
        store.release("acme", "a").unwrap();
        assert_eq!(store.due_companies(due_at, 10).unwrap(), ["acme"]);
    }

    #[test]
    fn seeding_only_when_empty() {
        let store = SqliteStore::open_in_memory(TokenCipher::new(&TokenKey::generate())).unwrap();
        let rows: Vec<_> = (0..23).map(|i| times(i * H)).collect();
        assert_eq!(store.seed_history("acme", &rows, "admin").unwrap(), 23);
        assert_eq!(store.seed_history("acme", &rows, "admin").unwrap(), 0);
        let page = store.history_page("acme", 3, PerPage::Ten).unwrap();
        assert_eq!(page.window.range_label(), "21-23 of 23");
        assert_eq!(page.rows[0].token_created, Timestamp(2 * H));
    }

    /// Pages read from either end of the index join up into the one newest-first order
    /// (ties on `token_created` broken by id), for every page size.
    #[test]
    fn pages_from_both_ends_agree_with_one_ordering() {
        let store = SqliteStore::open_in_memory(TokenCipher::new(&TokenKey::generate())).unwrap();
        // 57 rows, every third sharing its creation time with the previous one.
        let rows: Vec<_> = (0..57).map(|i| times((i - i / 3) * H)).collect();
        store.seed_history("acme", &rows, "admin").unwrap();
        store.seed_history("other", &rows[..5], "admin").unwrap();
        let mut all: Vec<(i64, i64)> = {
            let conn = store.conn();
            let mut stmt = conn
                .prepare("SELECT token_created, id FROM history WHERE company = 'acme'")
                .unwrap();
            let r = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            r.collect::<Result<_, _>>().unwrap()
        };
        all.sort_by(|a, b| b.cmp(a));
        for per in PerPage::ALL {
            let mut seen = Vec::new();
            let pages = store.history_page("acme", 1, per).unwrap().window.pages;
            for p in 1..=pages {
                let page = store.history_page("acme", p, per).unwrap();
                assert_eq!(page.window.total, 57);
                assert_eq!(page.rows.len() as u64, page.window.len);
                seen.extend(page.rows.iter().map(|r| (r.token_created.0, r.id)));
            }
            assert_eq!(seen, all, "{per:?}");
        }
        assert_eq!(
            store
                .history_page("other", 1, PerPage::Ten)
                .unwrap()
                .window
                .total,
            5
        );
        assert_eq!(
            store
                .history_page("none", 1, PerPage::Ten)
                .unwrap()
                .window
                .total,
            0
        );
    }

    /// A database written by schema version 1 gets its per-company counts on upgrade, and
    /// appends keep them current.
    #[test]
    fn counts_survive_upgrade_and_follow_appends() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for i in 0..12 {
            conn.execute(
                "INSERT INTO history (company, token_created, token_expires, status)
                 VALUES ('acme', ?1, ?2, 'refreshed')",
                params![i * H, i * H + 4 * H],
            )
            .unwrap();
        }
        let store = SqliteStore::init(conn, TokenCipher::new(&TokenKey::generate())).unwrap();
        assert_eq!(
            store
                .history_page("acme", 2, PerPage::Ten)
                .unwrap()
                .window
                .range_label(),
            "11-12 of 12"
        );
        grant(&store, "acme", 20 * H, 1);
        let page = store.history_page("acme", 1, PerPage::Ten).unwrap();
        assert_eq!(page.window.total, 13);
        assert_eq!(page.rows[0].status, RecordStatus::Active);
    }
}
