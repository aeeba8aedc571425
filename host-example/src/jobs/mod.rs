//! Background work: the refresher and the webhook sender, under one cancellation token.
//!
//! Both stop at the next tick after `shutdown` is cancelled; work already started (a refresh
//! and its commit, a delivery and its record) always finishes first, so shutdown never loses a
//! freshly rotated pair. An event whose delivery was cut off is delivered again later
//! (at-least-once).

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

mod refresher;
mod webhooks;

pub use refresher::{refresh_due, run_refresher};
pub use webhooks::{deliver_due, run_sender};

/// Start the refresher and the webhook sender; they stop when `shutdown` is cancelled.
pub fn spawn(state: &AppState, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    let mut jobs = vec![tokio::spawn(run_refresher(state.clone(), shutdown.clone()))];
    if !state.webhooks().endpoints().is_empty() {
        jobs.push(tokio::spawn(run_sender(state.clone(), shutdown.clone())));
    }
    jobs
}
