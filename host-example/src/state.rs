//! [`AppState`]: the cheap-to-clone handle on everything the handlers and jobs share, and the
//! [`FromRef`] impls through which extractors take only the part they need.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::FromRef;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use token_manager_core::Timestamp;

use crate::access::Access;
use crate::clock::{Clock, SystemClock};
use crate::config::HostConfig;
use crate::locks::CompanyLocks;
use crate::provider::Provider;
use crate::reports::RetrievalReports;
use crate::sessions::Sessions;
use crate::store::Store;
use crate::webhooks::Webhooks;

/// Configuration, provider, store, sessions, per-company locks, the clock, and what the
/// background jobs report.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    provider: Provider,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    access: Arc<Access>,
    sessions: Arc<Sessions>,
    locks: CompanyLocks,
    /// Keyed by user and company (see [`AppState::allow_opt_in`]).
    opt_in_limiter: DefaultKeyedRateLimiter<(String, String)>,
    reports: RetrievalReports,
    webhooks: Webhooks,
    instance: String,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .field("provider", &self.inner.provider)
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State over the system clock.
    pub fn new(
        config: HostConfig,
        provider: Provider,
        store: Arc<dyn Store>,
        access: Access,
        webhooks: Webhooks,
    ) -> Self {
        Self::with_clock(
            config,
            provider,
            store,
            access,
            webhooks,
            Arc::new(SystemClock),
        )
    }

    /// State over a given clock.
    pub fn with_clock(
        config: HostConfig,
        provider: Provider,
        store: Arc<dyn Store>,
        access: Access,
        webhooks: Webhooks,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let per_minute =
            NonZeroU32::new(config.exchange_per_minute.max(1)).expect("max(1) is never zero");
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        Self {
            inner: Arc::new(Inner {
                opt_in_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
                config,
                provider,
                store,
                clock,
                access: Arc::new(access),
                sessions: Arc::default(),
                locks: CompanyLocks::default(),
                reports: RetrievalReports::default(),
                webhooks,
                instance: id.iter().map(|b| format!("{b:02x}")).collect(),
            }),
        }
    }

    /// Configuration.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }
    /// The provider client.
    pub fn provider(&self) -> &Provider {
        &self.inner.provider
    }
    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }
    /// Now.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
    /// API keys and the session-token signer.
    pub fn access(&self) -> &Access {
        &self.inner.access
    }
    /// Portal sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }
    /// Per-company locks.
    pub fn locks(&self) -> &CompanyLocks {
        &self.inner.locks
    }
    /// What the retrieval job last did.
    pub fn reports(&self) -> &RetrievalReports {
        &self.inner.reports
    }
    /// Webhook endpoints, secret and the sender's wake-up.
    pub fn webhooks(&self) -> &Webhooks {
        &self.inner.webhooks
    }
    /// This process's lease-owner id.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }
    /// Lease expiry for a claim made now.
    pub fn lease_until(&self, now: Timestamp) -> Timestamp {
        now.add(self.inner.config.lease_ttl)
    }

    /// `true` if `user` may make another opt-in attempt (`/start`, `/exchange`) for `company`
    /// now. The limiter forgets keys it has not seen for a minute once it holds many, so its
    /// memory stays bounded by the users active in the last minute.
    pub fn allow_opt_in(&self, user: &str, company: &str) -> bool {
        let limiter = &self.inner.opt_in_limiter;
        if limiter.len() > 10_000 {
            limiter.retain_recent();
        }
        limiter
            .check_key(&(user.to_owned(), company.to_owned()))
            .is_ok()
    }
}

impl FromRef<AppState> for Arc<Access> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.access)
    }
}

impl FromRef<AppState> for Arc<dyn Clock> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.clock)
    }
}

impl FromRef<AppState> for Arc<Sessions> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.inner.sessions)
    }
}
