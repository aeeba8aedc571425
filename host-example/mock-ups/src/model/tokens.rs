//! Access and refresh tokens: issued in pairs, refresh tokens rotated on every use (or kept,
//! with `MockConfig::keep_refresh_tokens`), a whole grant revoked when its code is replayed.

use serde::Serialize;

use super::{digest, random_secret, ttl_ms, State};
use crate::config::Settings;
use crate::error::UpsError;

/// UPS's token answer (`generateTokenSuccessResponse` / `refreshTokenSuccessResponse`):
/// every property a string, times in ms since the epoch, lifetimes in seconds.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct TokenAnswer {
    pub(crate) token_type: &'static str,
    pub(crate) issued_at: String,
    pub(crate) client_id: String,
    pub(crate) access_token: String,
    /// Absent when the server keeps the refresh token (and so are its lifetime, time, status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token: Option<String>,
    pub(crate) expires_in: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token_expires_in: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token_issued_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refresh_token_status: Option<&'static str>,
    pub(crate) refresh_count: String,
    pub(crate) status: &'static str,
    pub(crate) scope: String,
}

#[derive(Debug)]
pub(super) struct Access {
    pub(super) user: String,
    grant: u64,
    pub(super) expires_ms: u64,
    pub(super) revoked: bool,
}

#[derive(Debug)]
pub(super) struct Refresh {
    pub(super) user: String,
    client_id: String,
    grant: u64,
    scope: String,
    pub(super) expires_ms: u64,
    refresh_count: u64,
    pub(super) spent: bool,
    pub(super) revoked: bool,
}

impl State {
    /// `grant_type=refresh_token`: spend a refresh token and issue a new pair (rotation; the
    /// old refresh token can never be used again). Refusals are counted.
    pub(crate) fn refresh(
        &mut self,
        settings: &Settings,
        client_id: &str,
        refresh_token: &str,
        now: u64,
    ) -> Result<TokenAnswer, UpsError> {
        let answer = self.spend_refresh_token(settings, client_id, refresh_token, now);
        if answer.is_err() {
            self.counters.refreshes_refused += 1;
        }
        answer
    }

    fn spend_refresh_token(
        &mut self,
        settings: &Settings,
        client_id: &str,
        refresh_token: &str,
        now: u64,
    ) -> Result<TokenAnswer, UpsError> {
        let Some(r) = self.refresh.get_mut(&digest(refresh_token)) else {
            return Err(UpsError::invalid_refresh("The refresh token is invalid"));
        };
        if r.client_id != client_id {
            return Err(UpsError::invalid_refresh(
                "The refresh token was issued to another client",
            ));
        }
        if r.revoked {
            return Err(UpsError::invalid_refresh(
                "The refresh token has been revoked (the UPS.com password changed or the authorization was withdrawn)",
            ));
        }
        if r.spent {
            return Err(UpsError::invalid_refresh(
                "The refresh token has already been used",
            ));
        }
        if now >= r.expires_ms {
            return Err(UpsError::invalid_refresh("The refresh token has expired"));
        }
        r.refresh_count += 1;
        if !settings.keep_refresh_tokens {
            r.spent = true;
        }
        let (user, scope, grant, count) =
            (r.user.clone(), r.scope.clone(), r.grant, r.refresh_count);
        self.counters.refreshes_succeeded += 1;
        if let Some(u) = self.users.get_mut(&user) {
            u.refreshes += 1;
        }
        if settings.keep_refresh_tokens {
            let mut answer = self.issue_pair(settings, client_id, &user, &scope, grant, count, now);
            // Only the access token is new: forget the refresh token issue_pair made.
            if let Some(unused) = answer.refresh_token.take() {
                self.refresh.remove(&digest(&unused));
            }
            answer.refresh_token_expires_in = None;
            answer.refresh_token_issued_at = None;
            answer.refresh_token_status = None;
            return Ok(answer);
        }
        self.counters.refresh_tokens_spent += 1;
        Ok(self.issue_pair(settings, client_id, &user, &scope, grant, count, now))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn issue_pair(
        &mut self,
        settings: &Settings,
        client_id: &str,
        user: &str,
        scope: &str,
        grant: u64,
        refresh_count: u64,
        now: u64,
    ) -> TokenAnswer {
        self.prune_tokens(now);
        let access_token = random_secret(48);
        let refresh_token = random_secret(32);
        self.access.insert(
            digest(&access_token),
            Access {
                user: user.to_owned(),
                grant,
                expires_ms: now.saturating_add(ttl_ms(settings.access_ttl)),
                revoked: false,
            },
        );
        self.refresh.insert(
            digest(&refresh_token),
            Refresh {
                user: user.to_owned(),
                client_id: client_id.to_owned(),
                grant,
                scope: scope.to_owned(),
                expires_ms: now.saturating_add(ttl_ms(settings.refresh_ttl)),
                refresh_count,
                spent: false,
                revoked: false,
            },
        );
        if settings.no_refresh_tokens {
            self.refresh.remove(&digest(&refresh_token));
            return TokenAnswer {
                token_type: "Bearer",
                issued_at: now.to_string(),
                client_id: client_id.to_owned(),
                access_token,
                refresh_token: None,
                expires_in: settings.access_ttl.as_secs().to_string(),
                refresh_token_expires_in: None,
                refresh_token_issued_at: None,
                refresh_token_status: None,
                refresh_count: refresh_count.to_string(),
                status: "approved",
                scope: scope.to_owned(),
            };
        }
        TokenAnswer {
            token_type: "Bearer",
            issued_at: now.to_string(),
            client_id: client_id.to_owned(),
            access_token,
            refresh_token: Some(refresh_token),
            expires_in: settings.access_ttl.as_secs().to_string(),
            refresh_token_expires_in: Some(settings.refresh_ttl.as_secs().to_string()),
            refresh_token_issued_at: Some(now.to_string()),
            refresh_token_status: Some("approved"),
            refresh_count: refresh_count.to_string(),
            status: "approved",
            scope: scope.to_owned(),
        }
    }

    fn prune_tokens(&mut self, now: u64) {
        self.pruning
            .access
            .run(&mut self.access, |_, a| !a.revoked && a.expires_ms > now);
        self.pruning.refresh.run(&mut self.refresh, |_, r| {
            !r.revoked && !r.spent && r.expires_ms > now
        });
    }

    pub(super) fn revoke_grant(&mut self, grant: u64) {
        for a in self.access.values_mut().filter(|a| a.grant == grant) {
            a.revoked = true;
        }
        for r in self.refresh.values_mut().filter(|r| r.grant == grant) {
            r.revoked = true;
        }
    }
}
