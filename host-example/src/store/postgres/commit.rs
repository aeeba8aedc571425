//! [`Store::commit`](crate::store::Store::commit) on PostgreSQL: the lifecycle's storage
//! actions translated to SQL exactly as `sqlite/commit.rs` does, in one transaction holding the
//! company's row lock.

use token_manager_core::history::{RecordStatus, TokenRecord};
use token_manager_core::lifecycle::{Action, Authorization};
use token_manager_core::AuthorizationStatus;

use super::db::{insert_default, insert_history};
use super::rows::status_name;
use super::Engine;
use crate::crypto::Field;
use crate::store::{revocation_json, Committed, StoreError, Transition};

impl Engine {
    pub(super) async fn apply(&self, t: &Transition) -> Result<Committed, StoreError> {
        let mut client = self.conn().await?;
        let tx = client.transaction().await?;
        let company = t.company.as_str();
        insert_default(&tx, company, t.now).await?;
        // The row lock: another process's commit or claim on the company waits for this one,
        // and this one sees its result (READ COMMITTED re-reads a row it waited for).
        let stmt = tx
            .prepare_cached(
                "SELECT generation, authorized_by, next_refresh_at FROM authorizations
                 WHERE company = $1 FOR UPDATE",
            )
            .await?;
        let row = tx.query_one(&stmt, &[&company]).await?;
        let generation: i64 = row.try_get("generation")?;
        let stored_by: Option<String> = row.try_get("authorized_by")?;
        let mut next_refresh: Option<i64> = row.try_get("next_refresh_at")?;
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
                        "UPDATE authorizations SET access_ct = $2, access_nonce = $3,
                             refresh_ct = $4, refresh_nonce = $5 WHERE company = $1",
                        &[
                            &company,
                            &access.ciphertext,
                            &access.nonce.as_slice(),
                            &refresh.as_ref().map(|s| s.ciphertext.as_slice()),
                            &refresh.as_ref().map(|s| s.nonce.as_slice()),
                        ],
                    )
                    .await?;
                }
                Action::SupersedeRecords => {
                    // A grant by another user supersedes; a refresh or the same user's new
                    // opt-in only refreshes.
                    tx.execute(
                        "UPDATE history SET
                             status = CASE WHEN $2::text IS NOT NULL
                                          AND authorized_by IS DISTINCT FROM $2::text
                                      THEN 'superseded' ELSE 'refreshed' END,
                             superseded_by = CASE WHEN $2::text IS NOT NULL
                                          AND authorized_by IS DISTINCT FROM $2::text
                                      THEN $2::text ELSE NULL END
                         WHERE company = $1 AND status = 'active'",
                        &[&company, &t.authorized_by],
                    )
                    .await?;
                }
                Action::AppendRecord(times) => {
                    let id = insert_history(
                        &tx,
                        company,
                        times,
                        RecordStatus::Active,
                        authorized_by.as_deref(),
                    )
                    .await?;
                    appended = Some(TokenRecord {
                        id,
                        company: company.to_owned(),
                        token_created: times.token_created,
                        token_expires: times.token_expires,
                        refresh_created: times.refresh_created,
                        refresh_expires: times.refresh_expires,
                        status: RecordStatus::Active,
                        cleared_at: None,
                        authorized_by: authorized_by.clone(),
                        cleared_by: None,
                        superseded_by: None,
                        revocation: None,
                    });
                }
                Action::ScheduleRefresh { at } | Action::RetryRefresh { at, .. } => {
                    next_refresh = Some(at.0);
                }
                Action::WipeTokens => {
                    tx.execute(
                        "UPDATE authorizations SET access_ct = NULL, access_nonce = NULL,
                             refresh_ct = NULL, refresh_nonce = NULL WHERE company = $1",
                        &[&company],
                    )
                    .await?;
                }
                Action::MarkCleared { at } => {
                    tx.execute(
                        "UPDATE history SET status = 'cleared', cleared_at = $2, cleared_by = $3,
                             revocation = $4
                         WHERE company = $1 AND status = 'active'",
                        &[
                            &company,
                            &at.0,
                            &t.actor,
                            &revocation_json(t.revocation.as_ref()),
                        ],
                    )
                    .await?;
                }
                Action::MarkInvalidated => {
                    tx.execute(
                        "UPDATE history SET status = 'invalidated'
                         WHERE company = $1 AND status = 'active'",
                        &[&company],
                    )
                    .await?;
                }
                // Not storage: the shell performs revocation; the events of `Notify` arrive
                // as `t.events`, written below.
                Action::RevokeTokens | Action::Notify(_) => {}
                other => {
                    tracing::warn!(action = ?other, "storage ignores an action it does not know");
                }
            }
        }
        let failures = match &t.next {
            Authorization::Active { failures, .. } => i64::from(*failures),
            _ => 0,
        };
        if t.next.status() != AuthorizationStatus::Active {
            next_refresh = None;
        }
        let state = serde_json::to_string(&t.next)
            .map_err(|e| StoreError::Corrupt(format!("cannot encode state: {e}")))?;
        let cleared_by = match t.next.status() {
            AuthorizationStatus::Cleared => t.actor.clone(),
            _ => None,
        };
        let stmt = tx
            .prepare_cached(
                "UPDATE authorizations SET state = $2, status = $3, failures = $4,
                     next_refresh_at = $5, generation = generation + 1, authorized_by = $6,
                     updated_at = $7, cleared_by = $9,
                     lease_owner = CASE WHEN lease_owner = $8 THEN NULL ELSE lease_owner END,
                     lease_until = CASE WHEN lease_owner = $8 THEN NULL ELSE lease_until END
                 WHERE company = $1",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &company,
                &state,
                &status_name(t.next.status()),
                &failures,
                &next_refresh,
                &authorized_by,
                &t.now.0,
                &t.lease_owner,
                &cleared_by,
            ],
        )
        .await?;
        if !t.events.is_empty() {
            let stmt = tx
                .prepare_cached(
                    "INSERT INTO webhook_outbox (event_id, endpoint, company, event_type, payload,
                         created_at, status, attempts, next_attempt_at)
                     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $6)",
                )
                .await?;
            for outbox in &t.events {
                let mut event = outbox.event.clone();
                if event.kind.carries_record() {
                    event.data.record.clone_from(&appended);
                }
                let payload = serde_json::to_string(&event)
                    .map_err(|e| StoreError::Corrupt(format!("cannot encode an event: {e}")))?;
                for endpoint in &outbox.endpoints {
                    tx.execute(
                        &stmt,
                        &[
                            &outbox.id,
                            endpoint,
                            &company,
                            &event.kind.as_str(),
                            &payload,
                            &t.now.0,
                        ],
                    )
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Committed {
            generation: generation + 1,
            appended,
        })
    }
}
