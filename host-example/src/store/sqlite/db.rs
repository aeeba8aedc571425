//! The synchronous SQLite engine: one connection behind a mutex, and every [`Store`] call as a
//! blocking function on it. [`super::SqliteStore`] runs these on tokio's blocking pool.
//!
//! [`Store`]: crate::store::Store

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use oauth2::{AccessToken, RefreshToken};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use token_manager_core::history::{PageWindow, PerPage, RecordStatus};
use token_manager_core::lifecycle::Authorization;
use token_manager_core::{AuthorizationStatus, GrantTimes, PendingAuthorization, Timestamp};

use super::rows::{read_row, record_from_row, sealed_columns, StoredTokens, RECORD_COLUMNS};
use crate::crypto::{Field, Sealed, TokenCipher};
use crate::store::{
    AuthRow, Claim, ClaimKind, ClaimOutcome, HistoryPage, HistoryView, Lease, PendingRecord,
    PendingTake, StoreError,
};
use crate::tokens::TokenPair;

/// Schema migrations in order (`migrations/NNNN_*.sql`); `PRAGMA user_version` records how
/// many ran.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_history_counts.sql"),
    include_str!("migrations/0003_people_and_pending.sql"),
    include_str!("migrations/0004_outbox_and_handouts.sql"),
    include_str!("migrations/0005_revocation_receipt.sql"),
];

/// One SQLite connection and the cipher its token columns are sealed with.
pub(super) struct Db {
    conn: Mutex<Connection>,
    pub(super) cipher: TokenCipher,
}

impl Db {
    /// Open (creating if needed) and migrate the database at `path`.
    pub(super) fn open(path: &Path, cipher: TokenCipher) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?, cipher)
    }

    /// An in-memory database.
    pub(super) fn open_in_memory(cipher: TokenCipher) -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, cipher)
    }

    /// Configure and migrate an open connection.
    pub(super) fn init(mut conn: Connection, cipher: TokenCipher) -> Result<Self, StoreError> {
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

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a transaction open (rusqlite rolls back
        // on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn open_tokens(
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

    pub(super) fn authorization(&self, company: &str) -> Result<AuthRow, StoreError> {
        let conn = self.conn();
        Ok(read_row(&conn, company)?.map_or_else(|| AuthRow::empty(company), |f| f.row))
    }

    pub(super) fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        // One statement, so one write transaction: another process on the file waits for it
        // (busy timeout) and then sees the leases.
        let mut stmt = conn.prepare_cached(
            "UPDATE authorizations SET lease_owner = ?3, lease_until = ?4
             WHERE company IN (
                 SELECT company FROM authorizations
                 WHERE status = 'active'
                   AND next_refresh_at IS NOT NULL AND next_refresh_at <= ?1
                   AND (lease_until IS NULL OR lease_until <= ?1)
                 ORDER BY next_refresh_at LIMIT ?2)
             RETURNING company, next_refresh_at",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![now.0, limit, owner, until.0], |r| {
            Ok((r.get::<_, i64>("next_refresh_at")?, r.get("company")?))
        })?;
        let mut due: Vec<(i64, String)> = rows.collect::<Result<_, _>>()?;
        due.sort_unstable();
        Ok(due.into_iter().map(|(_, company)| company).collect())
    }

    pub(super) fn active_companies(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT company FROM authorizations
             WHERE status = 'active' AND access_ct IS NOT NULL ORDER BY company",
        )?;
        let rows = stmt.query_map([], |r| r.get("company"))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(super) fn claim(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let Claim {
            company,
            owner,
            kind,
            now,
            until,
        } = claim;
        let (company, owner, kind, now, until) =
            (company.as_str(), owner.as_str(), *kind, *now, *until);
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
            // Due: a refresh, or (a grant without a refresh token) its expiry.
            ClaimKind::Refresh => active && full.row.next_refresh.is_some_and(|at| at <= now),
            ClaimKind::Use => active && full.tokens.access.is_some(),
            ClaimKind::RefreshNow => active && full.tokens.refresh.is_some(),
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
        Ok(ClaimOutcome::Acquired(Box::new(Lease {
            row: full.row,
            tokens,
        })))
    }

    pub(super) fn release(&self, company: &str, owner: &str) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE authorizations SET lease_owner = NULL, lease_until = NULL
             WHERE company = ?1 AND lease_owner = ?2",
            params![company, owner],
        )?;
        Ok(())
    }

    pub(super) fn history_view(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryView, StoreError> {
        let mut conn = self.conn();
        // One read transaction: the status, the count and the page see the same snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let row = read_row(&tx, company)?.map_or_else(|| AuthRow::empty(company), |f| f.row);
        let page = read_page(&tx, company, page, per_page)?;
        tx.commit()?;
        Ok(HistoryView { row, page })
    }

    pub(super) fn seed_history(
        &self,
        company: &str,
        rows: &[GrantTimes],
        authorized_by: &str,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let existing: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM history WHERE company = ?1) AS present",
            [company],
            |r| r.get("present"),
        )?;
        if existing {
            return Ok(0);
        }
        for times in rows {
            insert_history(
                &tx,
                company,
                times,
                RecordStatus::Refreshed,
                Some(authorized_by),
            )?;
        }
        tx.commit()?;
        Ok(rows.len())
    }

    pub(super) fn upsert_companies(
        &self,
        companies: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO companies (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at
                 WHERE name IS NOT excluded.name",
            )?;
            for (id, name) in companies {
                stmt.execute(params![id, name, now.0])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn put_pending(
        &self,
        pending: &PendingRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let json =
            zeroize::Zeroizing::new(serde_json::to_string(&pending.pending).map_err(|e| {
                StoreError::Corrupt(format!("cannot encode a pending authorization: {e}"))
            })?);
        let sealed = self.cipher.seal(&pending.company, Field::Pending, &json);
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "DELETE FROM pending_authorizations WHERE expires_at <= ?1",
            [now.0],
        )?;
        tx.execute(
            "INSERT INTO pending_authorizations
                 (state_hash, company, user_id, sealed, nonce, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                pending.state_hash.as_slice(),
                pending.company,
                pending.user,
                sealed.ciphertext,
                sealed.nonce.as_slice(),
                now.0,
                pending.expires_at.0,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    pub(super) fn take_pending(
        &self,
        state_hash: &[u8; 32],
        user: &str,
        company: &str,
        now: Timestamp,
    ) -> Result<PendingTake, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let row = tx
            .query_row(
                "SELECT company, user_id, sealed, nonce, expires_at FROM pending_authorizations
                 WHERE state_hash = ?1",
                [state_hash.as_slice()],
                |r| {
                    Ok((
                        r.get::<_, String>("company")?,
                        r.get::<_, String>("user_id")?,
                        r.get::<_, Vec<u8>>("sealed")?,
                        r.get::<_, Vec<u8>>("nonce")?,
                        r.get::<_, i64>("expires_at")?,
                    ))
                },
            )
            .optional()?;
        let Some((stored_company, stored_user, ciphertext, nonce, expires_at)) = row else {
            return Ok(PendingTake::Missing);
        };
        if expires_at <= now.0 {
            tx.execute(
                "DELETE FROM pending_authorizations WHERE state_hash = ?1",
                [state_hash.as_slice()],
            )?;
            tx.commit()?;
            return Ok(PendingTake::Expired);
        }
        // Compared as exact strings: ids are the portal's, not secrets.
        if stored_user != user || stored_company != company {
            return Ok(PendingTake::Mismatch);
        }
        let sealed = super::rows::sealed(Some(ciphertext), Some(nonce))?.ok_or(
            StoreError::Corrupt("a pending authorization without a value".into()),
        )?;
        let json = zeroize::Zeroizing::new(self.cipher.open(company, Field::Pending, &sealed)?);
        let pending: PendingAuthorization = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("pending authorization: {e}")))?;
        tx.execute(
            "DELETE FROM pending_authorizations WHERE state_hash = ?1",
            [state_hash.as_slice()],
        )?;
        tx.commit()?;
        Ok(PendingTake::Taken(Box::new(pending)))
    }

    pub(super) fn reencrypt(&self) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let rows: Vec<(String, Option<Sealed>, Option<Sealed>)> = {
            let mut stmt = tx.prepare(
                "SELECT company, access_ct, access_nonce, refresh_ct, refresh_nonce
                 FROM authorizations WHERE access_ct IS NOT NULL OR refresh_ct IS NOT NULL",
            )?;
            let mut raw = stmt.query([])?;
            let mut rows = Vec::new();
            while let Some(r) = raw.next()? {
                rows.push((
                    r.get("company")?,
                    sealed_columns(r, "access_ct", "access_nonce")?,
                    sealed_columns(r, "refresh_ct", "refresh_nonce")?,
                ));
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

    pub(super) fn purge(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        // Busy (a reader in another process) is not an error: the next purge finishes the job.
        let (_busy, _log, _done): (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
        Ok(())
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

/// One page of the company's history, inside the caller's transaction.
fn read_page(
    tx: &rusqlite::Transaction<'_>,
    company: &str,
    page: u32,
    per_page: PerPage,
) -> Result<HistoryPage, StoreError> {
    // The trigger-kept count: O(1), where COUNT(*) walked every row of the company.
    let total: i64 = tx
        .query_row(
            "SELECT total FROM history_counts WHERE company = ?1",
            [company],
            |r| r.get("total"),
        )
        .optional()?
        .unwrap_or(0);
    let window = PageWindow::new(u64::try_from(total).unwrap_or(0), page, per_page);
    // Walk the index from whichever end is nearer, so page 1 and the last page both cost
    // one seek plus the page's rows (a middle page skips at most half the company's rows).
    let after = window.total.saturating_sub(window.offset + window.len);
    let from_oldest = after < window.offset;
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
    Ok(HistoryPage { window, rows })
}

/// Append a history row; returns its id.
pub(super) fn insert_history(
    tx: &rusqlite::Transaction<'_>,
    company: &str,
    times: &GrantTimes,
    status: RecordStatus,
    authorized_by: Option<&str>,
) -> Result<i64, StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO history (company, token_created, token_expires, refresh_created,
             refresh_expires, status, cleared_at, authorized_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
    )?;
    stmt.execute(params![
        company,
        times.token_created.0,
        times.token_expires.0,
        times.refresh_created.map(|t| t.0),
        times.refresh_expires.map(|t| t.0),
        status.as_str(),
        authorized_by,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// The company's row in its initial state, unless it has one.
pub(super) fn insert_default(
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
