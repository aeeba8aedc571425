//! The webhook outbox on PostgreSQL: claiming the head of each (endpoint, company) queue with
//! `FOR UPDATE SKIP LOCKED`, recording attempts, listing and redelivering. Events are inserted
//! by `commit`, in the transaction of the change they report.

use token_manager_core::Timestamp;
use tokio_postgres::{IsolationLevel, Row};

use super::rows::unsigned;
use super::Engine;
use crate::store::{AttemptResult, Delivery, DeliveryStatus, StoreError};

const COLUMNS: &str = "seq, event_id, endpoint, company, event_type, payload, created_at, status, \
     attempts, streak, first_attempt_at, next_attempt_at, last_status, last_error, delivered_at";

/// The oldest pending delivery of its (endpoint, company): `o` is the head of its queue.
const HEAD: &str = "NOT EXISTS (SELECT 1 FROM webhook_outbox p
     WHERE p.status = 'pending' AND p.endpoint = o.endpoint
       AND p.company = o.company AND p.seq < o.seq)";

fn delivery(r: &Row) -> Result<Delivery, StoreError> {
    let status: String = r.try_get("status")?;
    let time = |c: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<_, Option<i64>>(c)?.map(Timestamp))
    };
    Ok(Delivery {
        id: r.try_get("seq")?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        company: r.try_get("company")?,
        endpoint: r.try_get("endpoint")?,
        status: DeliveryStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("delivery status {status:?}")))?,
        attempts: unsigned(r.try_get("attempts")?, "attempts")?,
        streak: unsigned(r.try_get("streak")?, "streak")?,
        created_at: Timestamp(r.try_get("created_at")?),
        first_attempt_at: time("first_attempt_at")?,
        next_attempt_at: time("next_attempt_at")?,
        delivered_at: time("delivered_at")?,
        last_status: r
            .try_get::<_, Option<i64>>("last_status")?
            .map(|s| unsigned(s, "HTTP status"))
            .transpose()?,
        last_error: r.try_get("last_error")?,
        payload: r.try_get("payload")?,
    })
}

impl Engine {
    pub(super) async fn claim_heads(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        // The head of each queue: no older pending row of the same endpoint and company. A
        // head that is leased (in flight elsewhere) or backing off holds its queue; one another
        // instance is claiming right now is skipped (and, still pending, keeps what queues
        // behind it from looking like a head).
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox o
                 WHERE status = 'pending' AND next_attempt_at <= $1
                   AND (lease_until IS NULL OR lease_until <= $1)
                   AND {HEAD}
                 ORDER BY next_attempt_at, seq LIMIT $2
                 FOR UPDATE OF o SKIP LOCKED"
            ))
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let raw = tx.query(&stmt, &[&now.0, &limit]).await?;
        let mut claimed = raw.iter().map(delivery).collect::<Result<Vec<_>, _>>()?;
        if !claimed.is_empty() {
            let ids: Vec<i64> = claimed.iter().map(|d| d.id).collect();
            let stmt = tx
                .prepare_cached(
                    "UPDATE webhook_outbox SET lease_owner = $2, lease_until = $3,
                         first_attempt_at = COALESCE(first_attempt_at, $4)
                     WHERE seq = ANY($1)",
                )
                .await?;
            tx.execute(&stmt, &[&ids, &owner, &until.0, &now.0]).await?;
            for d in &mut claimed {
                d.first_attempt_at.get_or_insert(now);
            }
        }
        tx.commit().await?;
        Ok(claimed)
    }

    pub(super) async fn finish(
        &self,
        owner: &str,
        results: &[(i64, AttemptResult)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.conn().await?;
        // One transaction for a batch of attempts. Only the claim's owner records one: a claim
        // that expired (its owner was too slow) and was taken over is the new owner's.
        let tx = client.transaction().await?;
        for (id, result) in results {
            match result {
                AttemptResult::Delivered { status } => {
                    let stmt = tx
                        .prepare_cached(
                            "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1,
                                 delivered_at = $3, last_status = $4, last_error = NULL,
                                 next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL
                             WHERE seq = $1 AND lease_owner = $2 AND status = 'pending'",
                        )
                        .await?;
                    tx.execute(&stmt, &[id, &owner, &now.0, &i64::from(*status)])
                        .await?;
                }
                AttemptResult::Failed {
                    status,
                    error,
                    next,
                } => {
                    let stmt = tx
                        .prepare_cached(
                            "UPDATE webhook_outbox SET attempts = attempts + 1,
                                 streak = streak + 1, last_status = $3, last_error = $4,
                                 next_attempt_at = $5,
                                 status = CASE WHEN $5::bigint IS NULL THEN 'failed' ELSE 'pending' END,
                                 lease_owner = NULL, lease_until = NULL
                             WHERE seq = $1 AND lease_owner = $2 AND status = 'pending'",
                        )
                        .await?;
                    tx.execute(
                        &stmt,
                        &[
                            id,
                            &owner,
                            &status.map(i64::from),
                            error,
                            &next.map(|t| t.0),
                        ],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn deliveries_page(
        &self,
        status: Option<DeliveryStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Delivery>), StoreError> {
        let mut client = self.conn().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let status = status.map(DeliveryStatus::as_str);
        let total: i64 = tx
            .query_one(
                "SELECT COUNT(*) AS n FROM webhook_outbox WHERE $1::text IS NULL OR status = $1",
                &[&status],
            )
            .await?
            .try_get("n")?;
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM webhook_outbox WHERE $1::text IS NULL OR status = $1
                 ORDER BY seq DESC LIMIT $2 OFFSET $3"
            ))
            .await?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let raw = tx
            .query(&stmt, &[&status, &i64::from(limit), &offset])
            .await?;
        let rows = raw.iter().map(delivery).collect::<Result<Vec<_>, _>>()?;
        tx.commit().await?;
        Ok((unsigned(total, "delivery count")?, rows))
    }

    pub(super) async fn pend_again(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        let client = self.conn().await?;
        let n = client
            .execute(
                "UPDATE webhook_outbox SET status = 'pending', streak = 0, first_attempt_at = NULL,
                     next_attempt_at = $2, delivered_at = NULL, lease_owner = NULL,
                     lease_until = NULL
                 WHERE seq = $1",
                &[&id, &now.0],
            )
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let client = self.conn().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT MIN(GREATEST(next_attempt_at, COALESCE(lease_until, 0))) AS at
                 FROM webhook_outbox o WHERE status = 'pending' AND {HEAD}"
            ))
            .await?;
        let at: Option<i64> = client.query_one(&stmt, &[]).await?.try_get("at")?;
        Ok(at.map(Timestamp))
    }
}
