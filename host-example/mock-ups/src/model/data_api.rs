//! The data API's bearer check and its counters.

use super::{digest, token_fingerprint, State};
use crate::error::UpsError;

impl State {
    /// A data API call with `token`: counts it (by fingerprint, valid or not) and says
    /// whether the token is a live access token.
    pub(crate) fn data_call(&mut self, token: Option<&str>, now: u64) -> Result<(), UpsError> {
        self.counters.data_calls_total += 1;
        let Some(token) = token else {
            self.counters.data_calls_rejected += 1;
            return Err(UpsError::invalid_bearer());
        };
        *self
            .counters
            .data_calls_by_token
            .entry(token_fingerprint(token))
            .or_insert(0) += 1;
        match self.access.get(&digest(token)) {
            Some(a) if !a.revoked && now < a.expires_ms => {
                if let Some(u) = self.users.get_mut(&a.user) {
                    u.data_calls += 1;
                }
                Ok(())
            }
            _ => {
                self.counters.data_calls_rejected += 1;
                Err(UpsError::invalid_bearer())
            }
        }
    }
}
