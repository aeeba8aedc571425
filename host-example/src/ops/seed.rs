//! Synthetic history for the demo and the benchmarks (`--seed-history`).

use std::time::Duration;

use token_manager_core::{GrantTimes, Timestamp};

use super::{known_company, OpError};
use crate::state::AppState;

/// Insert `count` synthetic past history rows (status `refreshed`, one every four hours,
/// ending before now) for `company`, recorded as authorized by `user`, if it has no history
/// yet; returns how many were inserted.
pub async fn seed_history(
    state: &AppState,
    company: &str,
    count: u32,
    user: &str,
) -> Result<usize, OpError> {
    known_company(state, company)?;
    const STEP: i64 = 4 * 3_600_000;
    let now = state.now();
    let rows: Vec<GrantTimes> = (0..i64::from(count))
        .map(|i| {
            let created = Timestamp(now.0 - (i64::from(count) - i) * STEP);
            GrantTimes {
                token_created: created,
                token_expires: created.add(Duration::from_secs(3_599)),
                refresh_created: Some(created),
                refresh_expires: Some(created.add(Duration::from_secs(5_183_999))),
            }
        })
        .collect();
    Ok(state.store().seed_history(company, rows, user).await?)
}
