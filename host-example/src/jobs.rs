//! Background work: the refresher and the retrieval job.
//!
//! Both stop at the next tick after `shutdown` is cancelled; work already started (a refresh
//! and its commit) always finishes first, so shutdown never loses a freshly rotated pair.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::ops::{self, RefreshOutcome};
use crate::state::AppState;

/// Most companies refreshed per tick.
const BATCH: usize = 32;

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
    let mut done = Vec::with_capacity(due.len());
    for company in due {
        match ops::refresh_company(state, &company).await {
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
    let mut sent = 0;
    for company in companies {
        match ops::retrieve_company(state, &company, round).await {
            Ok(true) => sent += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(company, error = %e, "retrieval failed"),
        }
    }
    sent
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
