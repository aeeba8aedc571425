//! The retrieval job: calls the provider's data API for every active company, on a timer or at
//! once after a new opt-in.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio_util::sync::CancellationToken;

use super::PARALLEL;
use crate::ops;
use crate::state::AppState;

/// One retrieval round over every active company; returns how many calls left the host.
pub async fn retrieve_all(state: &AppState, round: u64) -> usize {
    let companies = match state.store().active_companies().await {
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
            () = state.reports().kicked() => {}
        }
        round += 1;
        retrieve_all(&state, round).await;
    }
    tracing::debug!("retrieval job stopped");
}
