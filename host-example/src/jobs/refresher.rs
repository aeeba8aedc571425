//! The refresher: every tick, refresh what is due before its access token expires.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use super::PARALLEL;
use crate::ops::{self, RefreshOutcome};
use crate::state::AppState;

/// Most companies refreshed per tick.
const BATCH: usize = 32;

/// Refresh every company that is due now; returns what happened per company.
pub async fn refresh_due(state: &AppState) -> Vec<(String, RefreshOutcome)> {
    let now = state.now();
    let due = match state.store().due_companies(now, BATCH).await {
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
