//! The [`Store`](crate::store::Store) calls on PostgreSQL but the server API's, the outbox's
//! and `commit`: the row, due work, the lease, history, seeding, companies, pending
//! authorizations, key rotation.

use deadpool_postgres::Transaction;
use oauth2::{AccessToken, RefreshToken};
use token_manager_core::history::{PageWindow, PerPage, RecordStatus};
use token_manager_core::lifecycle::Authorization;
use token_manager_core::{AuthorizationStatus, GrantTimes, PendingAuthorization, Timestamp};
use tokio_postgres::IsolationLevel;

use super::rows::{decode_row, record_from_row, sealed, sealed_columns, FullRow, StoredTokens};
use super::rows::{RECORD_COLUMNS, ROW_COLUMNS};
use super::Engine;
use crate::crypto::{Field, Sealed};
use crate::store::{
    AuthRow, Claim, ClaimKind, ClaimOutcome, HistoryPage, HistoryView, Lease, PendingRecord,
    PendingTake, StoreError,
};
use crate::tokens::TokenPair;

/// The first key of the advisory locks taken per company (the second is the company's
/// `hashtext`): "tm".
const COMPANY_LOCK: i32 = 0x746d;

impl Engine {
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

    /// The company's row, outside a transaction.
    pub(super) async fn full_row(&self, company: &str) -> Result<Option<FullRow>, StoreError> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM authorizations WHERE company = $1"
            ))
            .await?;
        client
            .query_opt(&stmt, &[&company])
            .await?
            .as_ref()
            .map(decode_row)
            .transpose()
    }

    pub(super) async fn authorization_row(&self, company: &str) -> Result<AuthRow, StoreError> {
        Ok(self
            .full_row(company)
            .await?
            .map_or_else(|| AuthRow::empty(company), |f| f.row))
    }

    pub(super) async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let client = self.conn().await?;
        // SKIP LOCKED: a row another instance is leasing or committing right now is left to
        // it; the lease written in the same statement keeps it out of every other scan.
        let stmt = client
            .prepare_cached(
                "WITH due AS (
                     SELECT company FROM authorizations
                     WHERE status = 'active'
                       AND next_refresh_at IS NOT NULL AND next_refresh_at <= $1
                       AND (lease_until IS NULL OR lease_until <= $1)
                     ORDER BY next_refresh_at LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE authorizations a SET lease_owner = $3, lease_until = $4
                 FROM due WHERE a.company = due.company
                 RETURNING a.company, a.next_refresh_at",
            )
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = client
            .query(&stmt, &[&now.0, &limit, &owner, &until.0])
            .await?;
        let mut due = rows
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i64>("next_refresh_at")?,
                    r.try_get("company")?,
                ))
            })
            .collect::<Result<Vec<(i64, String)>, StoreError>>()?;
        due.sort_unstable();
        Ok(due.into_iter().map(|(_, company)| company).collect())
    }

    pub(super) async fn active(&self) -> Result<Vec<String>, StoreError> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "SELECT company FROM authorizations
                 WHERE status = 'active' AND access_ct IS NOT NULL ORDER BY company",
            )
            .await?;
        let rows = client.query(&stmt, &[]).await?;
        rows.iter()
            .map(|r| Ok(r.try_get("company")?))
            .collect::<Result<_, StoreError>>()
    }

    pub(super) async fn claim_lease(&self, claim: &Claim) -> Result<ClaimOutcome, StoreError> {
        let Claim {
            company,
            owner,
            kind,
            now,
            until,
        } = claim;
        let (company, owner, kind, now, until) =
            (company.as_str(), owner.as_str(), *kind, *now, *until);
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        if kind == ClaimKind::Clear {
            insert_default(&tx, company, now).await?;
        }
        // Waits for another transaction on the row (a commit or claim elsewhere, short).
        let Some(full) = locked_row(&tx, company).await? else {
            return Ok(ClaimOutcome::Nothing);
        };
        if let Some(until) = full.leased_by_other(owner, now) {
            return Ok(ClaimOutcome::Busy { until });
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
        let stmt = tx
            .prepare_cached(
                "UPDATE authorizations SET lease_owner = $2, lease_until = $3 WHERE company = $1",
            )
            .await?;
        tx.execute(&stmt, &[&company, &owner, &until.0]).await?;
        tx.commit().await?;
        Ok(ClaimOutcome::Acquired(Box::new(Lease {
            row: full.row,
            tokens,
        })))
    }

    pub(super) async fn release_lease(&self, company: &str, owner: &str) -> Result<(), StoreError> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE authorizations SET lease_owner = NULL, lease_until = NULL
                 WHERE company = $1 AND lease_owner = $2",
            )
            .await?;
        client.execute(&stmt, &[&company, &owner]).await?;
        Ok(())
    }

    pub(super) async fn view(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryView, StoreError> {
        let mut client = self.conn().await?;
        // One snapshot: the status, the count and the page agree.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} FROM authorizations WHERE company = $1"
            ))
            .await?;
        let row = match tx.query_opt(&stmt, &[&company]).await? {
            Some(r) => decode_row(&r)?.row,
            None => AuthRow::empty(company),
        };
        let page = read_page(&tx, company, page, per_page).await?;
        tx.commit().await?;
        Ok(HistoryView { row, page })
    }

    pub(super) async fn seed(
        &self,
        company: &str,
        rows: &[GrantTimes],
        authorized_by: &str,
    ) -> Result<usize, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        // Two instances seeding the same company at once: one seeds, the other finds rows.
        lock_company(&tx, company).await?;
        let existing: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM history WHERE company = $1) AS present",
                &[&company],
            )
            .await?
            .try_get("present")?;
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
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
    }

    pub(super) async fn upsert(
        &self,
        companies: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO companies (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at
                 WHERE companies.name IS DISTINCT FROM excluded.name",
            )
            .await?;
        for (id, name) in companies {
            tx.execute(&stmt, &[id, name, &now.0]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn keep_pending(
        &self,
        pending: &PendingRecord,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let json =
            zeroize::Zeroizing::new(serde_json::to_string(&pending.pending).map_err(|e| {
                StoreError::Corrupt(format!("cannot encode a pending authorization: {e}"))
            })?);
        let sealed = self.cipher.seal(&pending.company, Field::Pending, &json);
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM pending_authorizations WHERE expires_at <= $1",
            &[&now.0],
        )
        .await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO pending_authorizations
                     (state_hash, company, user_id, sealed, nonce, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &pending.state_hash.as_slice(),
                &pending.company,
                &pending.user,
                &sealed.ciphertext,
                &sealed.nonce.as_slice(),
                &now.0,
                &pending.expires_at.0,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn take(
        &self,
        state_hash: &[u8; 32],
        user: &str,
        company: &str,
        now: Timestamp,
    ) -> Result<PendingTake, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let hash = state_hash.as_slice();
        // Locked: of two exchanges with the same state, the second finds it gone.
        let row = tx
            .query_opt(
                "SELECT company, user_id, sealed, nonce, expires_at FROM pending_authorizations
                 WHERE state_hash = $1 FOR UPDATE",
                &[&hash],
            )
            .await?;
        let Some(row) = row else {
            return Ok(PendingTake::Missing);
        };
        let stored_company: String = row.try_get("company")?;
        let stored_user: String = row.try_get("user_id")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let delete = "DELETE FROM pending_authorizations WHERE state_hash = $1";
        if expires_at <= now.0 {
            tx.execute(delete, &[&hash]).await?;
            tx.commit().await?;
            return Ok(PendingTake::Expired);
        }
        // Compared as exact strings: ids are the portal's, not secrets.
        if stored_user != user || stored_company != company {
            return Ok(PendingTake::Mismatch);
        }
        let sealed = sealed(row.try_get("sealed")?, row.try_get("nonce")?)?.ok_or(
            StoreError::Corrupt("a pending authorization without a value".into()),
        )?;
        let json = zeroize::Zeroizing::new(self.cipher.open(company, Field::Pending, &sealed)?);
        let pending: PendingAuthorization = serde_json::from_str(&json)
            .map_err(|e| StoreError::Corrupt(format!("pending authorization: {e}")))?;
        tx.execute(delete, &[&hash]).await?;
        tx.commit().await?;
        Ok(PendingTake::Taken(Box::new(pending)))
    }

    pub(super) async fn reseal(&self) -> Result<usize, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let raw = tx
            .query(
                "SELECT company, access_ct, access_nonce, refresh_ct, refresh_nonce
                 FROM authorizations WHERE access_ct IS NOT NULL OR refresh_ct IS NOT NULL
                 ORDER BY company FOR UPDATE",
                &[],
            )
            .await?;
        let mut rows: Vec<(String, Option<Sealed>, Option<Sealed>)> = Vec::new();
        for r in &raw {
            rows.push((
                r.try_get("company")?,
                sealed_columns(r, "access_ct", "access_nonce")?,
                sealed_columns(r, "refresh_ct", "refresh_nonce")?,
            ));
        }
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
                            "UPDATE authorizations SET {ct} = $2, {nonce} = $3 WHERE company = $1"
                        ),
                        &[&company, &new.ciphertext, &new.nonce.as_slice()],
                    )
                    .await?;
                    resealed += 1;
                }
            }
        }
        tx.commit().await?;
        Ok(resealed)
    }
}

/// The company's row, locked for the rest of the transaction (waiting for another holder).
pub(super) async fn locked_row(
    tx: &Transaction<'_>,
    company: &str,
) -> Result<Option<FullRow>, StoreError> {
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {ROW_COLUMNS} FROM authorizations WHERE company = $1 FOR UPDATE"
        ))
        .await?;
    tx.query_opt(&stmt, &[&company])
        .await?
        .as_ref()
        .map(decode_row)
        .transpose()
}

/// A transaction-scoped advisory lock on the company: for changes that have no row to lock.
async fn lock_company(tx: &Transaction<'_>, company: &str) -> Result<(), StoreError> {
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&COMPANY_LOCK, &company],
    )
    .await?;
    Ok(())
}

/// One page of the company's history, inside the caller's transaction.
async fn read_page(
    tx: &Transaction<'_>,
    company: &str,
    page: u32,
    per_page: PerPage,
) -> Result<HistoryPage, StoreError> {
    // The trigger-kept count: O(1), where COUNT(*) walked every row of the company.
    let stmt = tx
        .prepare_cached("SELECT total FROM history_counts WHERE company = $1")
        .await?;
    let total: i64 = match tx.query_opt(&stmt, &[&company]).await? {
        Some(r) => r.try_get("total")?,
        None => 0,
    };
    let window = PageWindow::new(u64::try_from(total).unwrap_or(0), page, per_page);
    // Walk the index from whichever end is nearer, so page 1 and the last page both cost
    // one seek plus the page's rows (a middle page skips at most half the company's rows).
    let after = window.total.saturating_sub(window.offset + window.len);
    let from_oldest = after < window.offset;
    let order = if from_oldest {
        "token_created ASC, id ASC"
    } else {
        "token_created DESC, id DESC"
    };
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {RECORD_COLUMNS} FROM history WHERE company = $1
             ORDER BY {order} LIMIT $2 OFFSET $3"
        ))
        .await?;
    let limit = i64::try_from(window.len).unwrap_or(0);
    let skip = if from_oldest { after } else { window.offset };
    let skip = i64::try_from(skip).unwrap_or(i64::MAX);
    let raw = tx.query(&stmt, &[&company, &limit, &skip]).await?;
    let mut rows = raw
        .iter()
        .map(record_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    if from_oldest {
        rows.reverse();
    }
    Ok(HistoryPage { window, rows })
}

/// Append a history row; returns its id.
pub(super) async fn insert_history(
    tx: &Transaction<'_>,
    company: &str,
    times: &GrantTimes,
    status: RecordStatus,
    authorized_by: Option<&str>,
) -> Result<i64, StoreError> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO history (company, token_created, token_expires, refresh_created,
                 refresh_expires, status, cleared_at, authorized_by)
             VALUES ($1, $2, $3, $4, $5, $6, NULL, $7) RETURNING id",
        )
        .await?;
    let row = tx
        .query_one(
            &stmt,
            &[
                &company,
                &times.token_created.0,
                &times.token_expires.0,
                &times.refresh_created.map(|t| t.0),
                &times.refresh_expires.map(|t| t.0),
                &status.as_str(),
                &authorized_by,
            ],
        )
        .await?;
    Ok(row.try_get("id")?)
}

/// The company's row in its initial state, unless it has one.
pub(super) async fn insert_default(
    tx: &Transaction<'_>,
    company: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let state = serde_json::to_string(&Authorization::NotAuthorized)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO authorizations (company, state, status, generation, updated_at)
             VALUES ($1, $2, 'not_authorized', 0, $3) ON CONFLICT (company) DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&company, &state, &now.0]).await?;
    Ok(())
}
