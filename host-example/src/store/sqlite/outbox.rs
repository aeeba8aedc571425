//! The webhook outbox on SQLite: claiming the head of each (endpoint, company) queue,
//! recording attempts, listing and redelivering. Events are inserted by `commit`, in the
//! transaction of the change they report.

use rusqlite::{params, OptionalExtension, Row, TransactionBehavior};
use token_manager_core::Timestamp;

use super::db::Db;
use crate::store::{AttemptResult, Delivery, DeliveryStatus, StoreError};

const COLUMNS: &str = "seq, event_id, endpoint, company, event_type, payload, created_at, status, \
     attempts, streak, first_attempt_at, next_attempt_at, last_status, last_error, delivered_at";

fn delivery(r: &Row<'_>) -> Result<Delivery, StoreError> {
    let status: String = r.get("status")?;
    Ok(Delivery {
        id: r.get("seq")?,
        event_id: r.get("event_id")?,
        event_type: r.get("event_type")?,
        company: r.get("company")?,
        endpoint: r.get("endpoint")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status:?}")))?,
        attempts: r.get("attempts")?,
        streak: r.get("streak")?,
        created_at: Timestamp(r.get("created_at")?),
        first_attempt_at: r.get::<_, Option<i64>>("first_attempt_at")?.map(Timestamp),
        next_attempt_at: r.get::<_, Option<i64>>("next_attempt_at")?.map(Timestamp),
        delivered_at: r.get::<_, Option<i64>>("delivered_at")?.map(Timestamp),
        last_status: r.get("last_status")?,
        last_error: r.get("last_error")?,
        payload: r.get("payload")?,
    })
}

impl Db {
    pub(super) fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut claimed = {
            // The head of each queue: no older pending row of the same endpoint and company. A
            // head that is leased (in flight elsewhere) or backing off holds its queue.
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox o
                 WHERE status = 'pending' AND next_attempt_at <= ?1
                   AND (lease_until IS NULL OR lease_until <= ?1)
                   AND NOT EXISTS (SELECT 1 FROM webhook_outbox p
                       WHERE p.status = 'pending' AND p.endpoint = o.endpoint
                         AND p.company = o.company AND p.seq < o.seq)
                 ORDER BY next_attempt_at, seq LIMIT ?2"
            ))?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut raw = stmt.query(params![now.0, limit])?;
            let mut out = Vec::new();
            while let Some(r) = raw.next()? {
                out.push(delivery(r)?);
            }
            out
        };
        {
            let mut lease = tx.prepare_cached(
                "UPDATE webhook_outbox SET lease_owner = ?2, lease_until = ?3,
                     first_attempt_at = COALESCE(first_attempt_at, ?4)
                 WHERE seq = ?1",
            )?;
            for d in &mut claimed {
                lease.execute(params![d.id, owner, until.0, now.0])?;
                d.first_attempt_at.get_or_insert(now);
            }
        }
        tx.commit()?;
        Ok(claimed)
    }

    pub(super) fn finish_deliveries(
        &self,
        owner: &str,
        results: &[(i64, AttemptResult)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        // One transaction (one fsync) for a batch of attempts.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (id, result) in results {
            finish(&tx, *id, owner, result, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub(super) fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Delivery>), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
        let status = status.map(DeliveryStatus::as_str);
        let total: i64 = tx.query_row(
            "SELECT COUNT(*) AS n FROM webhook_outbox WHERE ?1 IS NULL OR status = ?1",
            [status],
            |r| r.get("n"),
        )?;
        let rows = {
            let mut stmt = tx.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox WHERE ?1 IS NULL OR status = ?1
                 ORDER BY seq DESC LIMIT ?2 OFFSET ?3"
            ))?;
            let offset = i64::try_from(offset).unwrap_or(i64::MAX);
            let mut raw = stmt.query(params![status, limit, offset])?;
            let mut out = Vec::new();
            while let Some(r) = raw.next()? {
                out.push(delivery(r)?);
            }
            out
        };
        tx.commit()?;
        Ok((u64::try_from(total).unwrap_or(0), rows))
    }

    pub(super) fn redeliver(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE webhook_outbox SET status = 'pending', streak = 0, first_attempt_at = NULL,
                 next_attempt_at = ?2, delivered_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE seq = ?1",
            params![id, now.0],
        )?;
        Ok(n > 0)
    }

    pub(super) fn next_delivery_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let conn = self.conn();
        let at: Option<i64> = conn
            .query_row(
                "SELECT MIN(MAX(next_attempt_at, COALESCE(lease_until, 0))) AS at
                 FROM webhook_outbox o
                 WHERE status = 'pending'
                   AND NOT EXISTS (SELECT 1 FROM webhook_outbox p
                       WHERE p.status = 'pending' AND p.endpoint = o.endpoint
                         AND p.company = o.company AND p.seq < o.seq)",
                [],
                |r| r.get("at"),
            )
            .optional()?
            .flatten();
        Ok(at.map(Timestamp))
    }
}

/// Record one attempt inside the caller's transaction. Only the claim's owner records it: a
/// claim that expired (its owner was too slow) and was taken over is the new owner's to finish.
fn finish(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    owner: &str,
    result: &AttemptResult,
    now: Timestamp,
) -> Result<(), StoreError> {
    match result {
        AttemptResult::Delivered { status } => tx.execute(
            "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1,
                     delivered_at = ?3, last_status = ?4, last_error = NULL,
                     next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL
                 WHERE seq = ?1 AND lease_owner = ?2 AND status = 'pending'",
            params![id, owner, now.0, status],
        )?,
        AttemptResult::Failed {
            status,
            error,
            next,
        } => tx.execute(
            "UPDATE webhook_outbox SET attempts = attempts + 1, streak = streak + 1, last_status = ?3,
                     last_error = ?4, next_attempt_at = ?5,
                     status = CASE WHEN ?5 IS NULL THEN 'failed' ELSE 'pending' END,
                     lease_owner = NULL, lease_until = NULL
                 WHERE seq = ?1 AND lease_owner = ?2 AND status = 'pending'",
            params![id, owner, status, error, next.map(|t| t.0)],
        )?,
    };
    Ok(())
}
