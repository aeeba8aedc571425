//! What the server API reads and records on PostgreSQL: tokens without the lease, the paged
//! list of authorizations, the hand-out audit.

use token_manager_core::{AuthorizationStatus, Timestamp};
use tokio_postgres::IsolationLevel;

use super::rows::{decode_row, status_name, unsigned};
use super::Engine;
use crate::store::{AuthRow, AuthorizationPage, StoreError, TokenRead};

impl Engine {
    pub(super) async fn tokens_of(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<TokenRead, StoreError> {
        let Some(full) = self.full_row(company).await? else {
            return Ok(TokenRead {
                row: AuthRow::empty(company),
                tokens: None,
                leased_until: None,
            });
        };
        let leased_until = full.leased_by_other(owner, now);
        let tokens = self.open_tokens(company, &full.tokens)?;
        Ok(TokenRead {
            row: full.row,
            tokens,
            leased_until,
        })
    }

    pub(super) async fn authorizations_page(
        &self,
        status: Option<AuthorizationStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<AuthorizationPage, StoreError> {
        let mut client = self.conn().await?;
        // One snapshot: the total and the page agree.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let status = status.map(status_name);
        let total: i64 = tx
            .query_one(
                "SELECT COUNT(*) AS n FROM authorizations WHERE $1::text IS NULL OR status = $1",
                &[&status],
            )
            .await?
            .try_get("n")?;
        let stmt = tx
            .prepare_cached(
                "SELECT company, state, generation, next_refresh_at, authorized_by, cleared_by,
                        NULL::bytea AS access_ct, NULL::bytea AS access_nonce,
                        NULL::bytea AS refresh_ct, NULL::bytea AS refresh_nonce,
                        lease_owner, lease_until, access_ct IS NOT NULL AS has_access
                 FROM authorizations WHERE $1::text IS NULL OR status = $1
                 ORDER BY company LIMIT $2 OFFSET $3",
            )
            .await?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let raw = tx
            .query(&stmt, &[&status, &i64::from(limit), &offset])
            .await?;
        let mut rows = Vec::with_capacity(raw.len());
        for r in &raw {
            let mut row = decode_row(r)?.row;
            row.has_tokens = r.try_get("has_access")?;
            rows.push(row);
        }
        tx.commit().await?;
        Ok(AuthorizationPage {
            total: unsigned(total, "authorization count")?,
            rows,
        })
    }

    pub(super) async fn handout(
        &self,
        company: &str,
        key_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("INSERT INTO token_handouts (company, key_id, at) VALUES ($1, $2, $3)")
            .await?;
        client.execute(&stmt, &[&company, &key_id, &now.0]).await?;
        Ok(())
    }

    pub(super) async fn handouts(&self, company: &str) -> Result<u64, StoreError> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached("SELECT COUNT(*) AS n FROM token_handouts WHERE company = $1")
            .await?;
        let n: i64 = client.query_one(&stmt, &[&company]).await?.try_get("n")?;
        unsigned(n, "hand-out count")
    }
}
