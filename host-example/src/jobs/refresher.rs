//! The refresher: renew what is due before its access token expires, keeping up to
//! `refresh_concurrency` refreshes in flight.
//!
//! Each scan leases the due companies it returns to this process in one statement
//! ([`Store::claim_due`]), so several host instances on one database split the due work
//! instead of racing for the same rows. A scan asks for as many as there are free slots: with a
//! backlog, the pipeline takes more as soon as a quarter of its slots are free (batches sized to
//! the backlog, throughput ≈ concurrency / provider latency per instance); with none, it looks
//! again every `refresh_tick`. A scan's lease that is never used (a host killed meanwhile)
//! expires like any other, and another instance takes the company over.
//!
//! [`Store::claim_due`]: crate::store::Store::claim_due

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ops::{self, OpError, RefreshOutcome};
use crate::state::AppState;

/// Lease up to `limit` due companies to this process (none on a storage error, logged).
async fn claim_due(state: &AppState, limit: usize) -> Vec<String> {
    let now = state.now();
    match state
        .store()
        .claim_due(state.instance(), now, state.lease_until(now), limit)
        .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "refresher: cannot read due work");
            Vec::new()
        }
    }
}

/// Refresh one leased company and log what happened.
async fn refresh_one(
    state: &AppState,
    company: String,
) -> (String, Result<RefreshOutcome, OpError>) {
    let result = ops::refresh_company(state, &company).await;
    match &result {
        Ok(RefreshOutcome::Skipped) => {}
        Ok(outcome) => tracing::info!(company, ?outcome, "refresher"),
        Err(e) => tracing::error!(company, error = %e, "refresher failed"),
    }
    (company, result)
}

/// A refresh task that panicked (a bug): logged; its lease expires and the company is
/// refreshed again then.
fn log_panic<T>(done: Result<T, tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "a refresh task failed");
    }
}

/// One pass: refresh every company due now, up to `refresh_concurrency` of them (one scan),
/// all at once; returns what happened per company, in due order. Errors are logged and left
/// out.
pub async fn refresh_due(state: &AppState) -> Vec<(String, RefreshOutcome)> {
    let limit = state.config().refresh_concurrency.max(1);
    let due = claim_due(state, limit).await;
    stream::iter(due)
        .map(|company| refresh_one(state, company))
        .buffered(limit)
        .filter_map(|(company, result)| async move { result.ok().map(|o| (company, o)) })
        .collect()
        .await
}

/// The refresher loop, until `shutdown`: refreshes in flight are always finished (and
/// committed) before it returns, so a shutdown never loses a freshly rotated pair.
///
/// Each refresh is a task of its own, not a future of this loop: while the loop waits for a
/// scan, the refreshes keep running. (As futures polled only between scans, a refresh that
/// held one of the SQLite store's admission permits could not finish and give it back while
/// the scan waited for a permit: the refresher stopped for good.)
pub async fn run_refresher(state: AppState, shutdown: CancellationToken) {
    let tick = state.config().refresh_tick.max(Duration::from_millis(10));
    let limit = state.config().refresh_concurrency.max(1);
    // Scan again once this many slots are free while there is a backlog.
    let refill_at = (limit / 4).max(1);
    let mut running = JoinSet::new();
    // The last scan filled every slot it asked for: more is probably due.
    let mut backlog = false;
    let mut next_scan = tokio::time::Instant::now();
    loop {
        let free = limit - running.len();
        let now = tokio::time::Instant::now();
        if free > 0 && (now >= next_scan || (backlog && free >= refill_at)) {
            let due = claim_due(&state, free).await;
            backlog = due.len() == free;
            next_scan = now + tick;
            for company in due {
                let state = state.clone();
                running.spawn(async move { refresh_one(&state, company).await });
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(done) = running.join_next(), if !running.is_empty() => log_panic(done),
            () = tokio::time::sleep_until(next_scan), if running.len() < limit => {}
        }
    }
    // Finish what was started; new work is left to the next start (or to the other instances,
    // once the leases of the scans expire).
    while let Some(done) = running.join_next().await {
        log_panic(done);
    }
    tracing::debug!("refresher stopped");
}
