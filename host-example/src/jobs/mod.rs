//! Background work: the refresher and the retrieval job, under one cancellation token.
//!
//! Both stop at the next tick after `shutdown` is cancelled; work already started (a refresh
//! and its commit) always finishes first, so shutdown never loses a freshly rotated pair.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

mod refresher;
mod retrieval;

pub use refresher::{refresh_due, run_refresher};
pub use retrieval::{retrieve_all, run_retrieval};

/// Companies refreshed (or called for retrieval) at once. Each call waits mostly on the
/// provider (hundreds of milliseconds at UPS), so one at a time capped the refresher at a few
/// per second; companies are independent (their own lock and lease) and storage calls stay
/// bounded by `Store::concurrency`.
pub const PARALLEL: usize = 8;

/// Start the refresher and the retrieval job; they stop when `shutdown` is cancelled.
pub fn spawn(state: &AppState, shutdown: &CancellationToken) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(run_refresher(state.clone(), shutdown.clone())),
        tokio::spawn(run_retrieval(state.clone(), shutdown.clone())),
    ]
}
