//! What the control endpoints change and read: password changes and the counters.

use serde::Serialize;

use super::tokens::{Access, Refresh};
use super::{count, user_key, State};
use crate::stats::{MockStats, UserStats};

/// Result of a password change.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub(crate) struct PasswordChange {
    pub(crate) user: String,
    pub(crate) revoked_access_tokens: u64,
    pub(crate) revoked_refresh_tokens: u64,
    pub(crate) revoked_codes: u64,
}

impl State {
    /// Change a user's password: every access token, refresh token and unused code of that
    /// user is revoked. `None` if there is no such user.
    /// Revoke every live access token (refresh tokens stay good): the data API answers 401
    /// until the client refreshes. Returns how many were revoked.
    pub(crate) fn revoke_access_tokens(&mut self) -> usize {
        let mut n = 0;
        for a in self.access.values_mut().filter(|a| !a.revoked) {
            a.revoked = true;
            n += 1;
        }
        n
    }

    pub(crate) fn change_password(
        &mut self,
        user: &str,
        new_password: &str,
    ) -> Option<PasswordChange> {
        let key = user_key(user);
        let u = self.users.get_mut(&key)?;
        u.password = new_password.to_owned();
        u.password_changes += 1;
        let mut change = PasswordChange {
            user: u.name.clone(),
            ..PasswordChange::default()
        };
        for a in self
            .access
            .values_mut()
            .filter(|a| a.user == key && !a.revoked)
        {
            a.revoked = true;
            change.revoked_access_tokens += 1;
        }
        for r in self
            .refresh
            .values_mut()
            .filter(|r| r.user == key && !r.revoked)
        {
            r.revoked = true;
            if !r.spent {
                change.revoked_refresh_tokens += 1;
            }
        }
        for c in self
            .codes
            .values_mut()
            .filter(|c| c.user == key && !c.used && !c.revoked)
        {
            c.revoked = true;
            change.revoked_codes += 1;
        }
        Some(change)
    }

    pub(crate) fn stats(&self, now: u64) -> MockStats {
        let c = &self.counters;
        let live_access = |a: &&Access| !a.revoked && now < a.expires_ms;
        let live_refresh = |r: &&Refresh| !r.revoked && !r.spent && now < r.expires_ms;
        let users = self
            .users
            .iter()
            .map(|(key, u)| {
                (
                    u.name.clone(),
                    UserStats {
                        codes_issued: u.codes_issued,
                        tokens_issued: u.tokens_issued,
                        refreshes: u.refreshes,
                        data_calls: u.data_calls,
                        password_changes: u.password_changes,
                        active_access_tokens: count(
                            self.access
                                .values()
                                .filter(live_access)
                                .filter(|a| &a.user == key),
                        ),
                        active_refresh_tokens: count(
                            self.refresh
                                .values()
                                .filter(live_refresh)
                                .filter(|r| &r.user == key),
                        ),
                    },
                )
            })
            .collect();
        MockStats {
            validate_client_requests: c.validate_client_requests,
            authorize_requests: c.authorize_requests,
            signins_completed: c.signins_completed,
            signins_declined: c.signins_declined,
            token_requests: c.token_requests,
            tokens_issued: c.tokens_issued,
            codes_replayed: c.codes_replayed,
            refresh_requests: c.refresh_requests,
            refreshes_succeeded: c.refreshes_succeeded,
            refresh_tokens_spent: c.refresh_tokens_spent,
            refreshes_refused: c.refreshes_refused,
            data_calls_total: c.data_calls_total,
            data_calls_rejected: c.data_calls_rejected,
            data_calls_by_token: c.data_calls_by_token.clone(),
            active_access_tokens: count(self.access.values().filter(live_access)),
            active_refresh_tokens: count(self.refresh.values().filter(live_refresh)),
            faults_applied: c.faults_applied,
            users,
        }
    }
}
