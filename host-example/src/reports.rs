//! What the demo portal's retrieval worker last did for each company (shown on `/exports`),
//! and the nudge that makes it run at once after a new opt-in.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use token_manager_core::Timestamp;

/// The last answer of a data-API call made through the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSample {
    /// HTTP status.
    pub status: u16,
    /// The beginning of the answer, as text.
    pub summary: String,
}

/// What the retrieval job last did for a company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrievalReport {
    /// When.
    pub at: Timestamp,
    /// Calls made since the host started.
    pub calls: u64,
    /// The outcome.
    pub outcome: RetrievalOutcome,
}

/// Outcome of the last retrieval attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetrievalOutcome {
    /// The data API answered.
    Data(DataSample),
    /// The call failed (message safe to show).
    Failed(String),
    /// The host refused to proxy (Clear, invalidation): the worker stopped for the company.
    Stopped(String),
}

/// The reports of one host process.
#[derive(Debug, Default)]
pub struct RetrievalReports {
    reports: Mutex<HashMap<String, RetrievalReport>>,
    kick: tokio::sync::Notify,
}

impl RetrievalReports {
    /// The last report per company.
    pub fn all(&self) -> HashMap<String, RetrievalReport> {
        self.reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Record an outcome for `company` at `now` (`counted`: a call left the host).
    pub fn record(&self, company: &str, now: Timestamp, outcome: RetrievalOutcome, counted: bool) {
        let mut map = self.reports.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = map.entry(company.to_owned()).or_insert(RetrievalReport {
            at: now,
            calls: 0,
            outcome: RetrievalOutcome::Stopped("not started".into()),
        });
        entry.at = now;
        entry.outcome = outcome;
        if counted {
            entry.calls += 1;
        }
    }

    /// Ask the retrieval job to run now (after a new opt-in).
    pub fn kick(&self) {
        self.kick.notify_one();
    }

    /// Resolves when [`kick`](Self::kick) is called.
    pub async fn kicked(&self) {
        self.kick.notified().await;
    }
}
