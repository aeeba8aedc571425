//! The opt-in rate limit: `/start` and `/exchange` attempts per portal user and company per
//! minute, counted after the session is verified and the company authorized, so anonymous or
//! foreign junk can never use up a real admin's budget.

use crate::error::AppError;
use crate::state::AppState;

/// `Ok` if `user` may make another attempt for `company` now.
pub fn opt_in(state: &AppState, user: &str, company: &str) -> Result<(), AppError> {
    if state.allow_opt_in(user, company) {
        Ok(())
    } else {
        Err(AppError::RateLimited)
    }
}
