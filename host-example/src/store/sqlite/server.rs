//! What the server API reads and records on SQLite: tokens without the lease, the paged list
//! of authorizations, the hand-out audit.

use rusqlite::{params, TransactionBehavior};
use token_manager_core::{AuthorizationStatus, Timestamp};

use super::db::Db;
use super::rows::{decode_row, read_row, status_name};
use crate::store::{AuthRow, AuthorizationPage, StoreError, TokenRead};

impl Db {
    pub(super) fn read_tokens(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<TokenRead, StoreError> {
        let conn = self.conn();
        let Some(full) = read_row(&conn, company)? else {
            return Ok(TokenRead {
                row: AuthRow::empty(company),
                tokens: None,
                leased_until: None,
            });
        };
        let leased_until = match (&full.lease_owner, full.lease_until) {
            (Some(holder), Some(until)) if holder != owner && until > now.0 => {
                Some(Timestamp(until))
            }
            _ => None,
        };
        let tokens = self.open_tokens(company, &full.tokens)?;
        Ok(TokenRead {
            row: full.row,
            tokens,
            leased_until,
        })
    }

    pub(super) fn list_authorizations(
        &self,
        status: Option<AuthorizationStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<AuthorizationPage, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let status = status.map(status_name);
        let total: i64 = tx.query_row(
            "SELECT COUNT(*) AS n FROM authorizations WHERE ?1 IS NULL OR status = ?1",
            [status],
            |r| r.get("n"),
        )?;
        let rows = {
            let mut stmt = tx.prepare_cached(
                "SELECT company, state, generation, next_refresh_at, authorized_by, cleared_by,
                        NULL AS access_ct, NULL AS access_nonce, NULL AS refresh_ct,
                        NULL AS refresh_nonce, lease_owner, lease_until,
                        access_ct IS NOT NULL AS has_access
                 FROM authorizations WHERE ?1 IS NULL OR status = ?1
                 ORDER BY company LIMIT ?2 OFFSET ?3",
            )?;
            let offset = i64::try_from(offset).unwrap_or(i64::MAX);
            let mut raw = stmt.query(params![status, limit, offset])?;
            let mut rows = Vec::new();
            while let Some(r) = raw.next()? {
                let mut row = decode_row(r)?.row;
                row.has_tokens = r.get("has_access")?;
                rows.push(row);
            }
            rows
        };
        tx.commit()?;
        Ok(AuthorizationPage {
            total: u64::try_from(total).unwrap_or(0),
            rows,
        })
    }

    pub(super) fn record_handout(
        &self,
        company: &str,
        key_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO token_handouts (company, key_id, at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![company, key_id, now.0])?;
        Ok(())
    }

    pub(super) fn handout_count(&self, company: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) AS n FROM token_handouts WHERE company = ?1",
            [company],
            |r| r.get("n"),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
