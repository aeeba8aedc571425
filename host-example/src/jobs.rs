//! Background work: the refresher and the retrieval job.
//!
//! Both stop at the next tick after `shutdown` is cancelled; work already started (a refresh
//! and its commit) always finishes first, so shutdown never loses a freshly rotated pair.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::ops::{self, RefreshOutcome};
use crate::state::AppState;

/// Most companies refreshed per tick.
const BATCH: usize = 32;

/// Companies refreshed (or called for retrieval) at once. Each call waits mostly on the
/// provider (hundreds of milliseconds at UPS), so one at a time capped the refresher at a few
/// per second; companies are independent (their own lock and lease) and storage calls stay
/// bounded by `Store::concurrency`.
pub const PARALLEL: usize = 8;

/// Refresh every company that is due now; returns what happened per company.
pub async fn refresh_due(state: &AppState) -> Vec<(String, RefreshOutcome)> {
    let now = state.now();
    let due = match state.db(move |s| s.due_companies(now, BATCH)).await {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "refresher: cannot read due work");
            return Vec::new();
        }
    };
    // `buffered`: up to PARALLEL at once, results in the order the store listed them.
    let results: Vec<_> = stream::iter(due)
        .map(|company| async move {
            let result = ops::refresh_company(state, &company).await;
            (company, result)
        })
        .buffered(PARALLEL)
        .collect()
        .await;
    let mut done = Vec::with_capacity(results.len());
    for (company, result) in results {
        match result {
            Ok(outcome) => {
                if outcome != RefreshOutcome::Skipped {
                    tracing::info!(company, ?outcome, "refresher");
                }
                done.push((company, outcome));
            }
            Err(e) => tracing::error!(company, error = %e, "refresher failed"),
        }
    }
    done
}

/// The refresher loop: every `refresh_tick`, refresh what is due.
pub async fn run_refresher(state: AppState, shutdown: CancellationToken) {
    let tick = state.config().refresh_tick.max(Duration::from_millis(10));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(tick) => {}
        }
        refresh_due(&state).await;
    }
    tracing::debug!("refresher stopped");
}

/// One retrieval round over every active company; returns how many calls left the host.
pub async fn retrieve_all(state: &AppState, round: u64) -> usize {
    let companies = match state.db(|s| s.active_companies()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "retrieval: cannot list active companies");
            return 0;
        }
    };
    stream::iter(companies)
        .map(|company| async move {
            match ops::retrieve_company(state, &company, round).await {
                Ok(sent) => usize::from(sent),
                Err(e) => {
                    tracing::error!(company, error = %e, "retrieval failed");
                    0
                }
            }
        })
        .buffer_unordered(PARALLEL)
        .fold(0, |sent, one| async move { sent + one })
        .await
}

/// The retrieval loop: every `retrieval_interval` (or at once after a new opt-in).
pub async fn run_retrieval(state: AppState, shutdown: CancellationToken) {
    if !state.provider().has_data_api() {
        tracing::info!("retrieval job disabled: no data API configured");
        return;
    }
    let interval = state
        .config()
        .retrieval_interval
        .max(Duration::from_millis(10));
    let mut round: u64 = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(interval) => {}
            () = state.retrieval_kicked() => {}
        }
        round += 1;
        retrieve_all(&state, round).await;
    }
    tracing::debug!("retrieval job stopped");
}
