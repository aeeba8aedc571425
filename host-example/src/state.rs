//! Shared state of the host: configuration, provider, store, sessions, per-company locks,
//! the clock, and what the background jobs report.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::RngCore;
use token_manager_core::Timestamp;

use crate::config::HostConfig;
use crate::provider::{DataSample, Provider};
use crate::session::Sessions;
use crate::store::{Store, StoreError};

/// Source of `now` (core takes time as data; tests step it by hand).
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        system_now()
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn system_now() -> Timestamp {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Timestamp(ms)
}

/// The system clock shifted by an adjustable offset (tests: "four hours later").
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_ms: AtomicI64,
}

impl OffsetClock {
    /// Move this clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// Back to the system time (offset zero).
    pub fn reset(&self) {
        self.offset_ms.store(0, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        Timestamp(
            system_now()
                .0
                .saturating_add(self.offset_ms.load(Ordering::SeqCst)),
        )
    }
}

/// What the retrieval job last did for a company (shown on `/exports`).
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
    /// The job stopped (Clear or invalidation).
    Stopped(String),
}

/// One async mutex per company: Clear, refresh and retrieval of a company never overlap in
/// this process (across processes, the store's lease does the same).
#[derive(Debug, Default)]
pub struct CompanyLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl CompanyLocks {
    /// Lock `company` (waits while another task holds it).
    pub async fn lock(&self, company: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            map.entry(company.to_owned()).or_default().clone()
        };
        m.lock_owned().await
    }
}

/// Cheap-to-clone handle on everything the handlers and jobs share.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: HostConfig,
    provider: Provider,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    sessions: Sessions,
    locks: CompanyLocks,
    exchange_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Admission to the store: [`Store::concurrency`] permits. Without it every waiting
    /// request parked a blocking-pool thread on SQLite's connection mutex: ~100 threads under
    /// the read benchmark, each with its own malloc arena (the soak's rising RSS).
    db_permits: Arc<tokio::sync::Semaphore>,
    retrieval: Mutex<HashMap<String, RetrievalReport>>,
    retrieval_kick: tokio::sync::Notify,
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
    pub fn new(config: HostConfig, provider: Provider, store: Arc<dyn Store>) -> Self {
        Self::with_clock(config, provider, store, Arc::new(SystemClock))
    }

    /// State over a given clock.
    pub fn with_clock(
        config: HostConfig,
        provider: Provider,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let per_minute =
            NonZeroU32::new(config.exchange_per_minute.max(1)).expect("max(1) is never zero");
        let mut id = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut id);
        Self {
            inner: Arc::new(Inner {
                exchange_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
                db_permits: Arc::new(tokio::sync::Semaphore::new(store.concurrency().max(1))),
                config,
                provider,
                store,
                clock,
                sessions: Sessions::default(),
                locks: CompanyLocks::default(),
                retrieval: Mutex::new(HashMap::new()),
                retrieval_kick: tokio::sync::Notify::new(),
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
    /// The store (prefer [`AppState::db`] from async code).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }
    /// Now.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }
    /// Portal sessions.
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }
    /// Per-company locks.
    pub fn locks(&self) -> &CompanyLocks {
        &self.inner.locks
    }
    /// This process's lease-owner id.
    pub fn instance(&self) -> &str {
        &self.inner.instance
    }
    /// Lease expiry for a claim made now.
    pub fn lease_until(&self, now: Timestamp) -> Timestamp {
        now.add(self.inner.config.lease_ttl)
    }

    /// `true` if `ip` may try another exchange now.
    pub fn allow_exchange(&self, ip: IpAddr) -> bool {
        self.inner.exchange_limiter.check_key(&ip).is_ok()
    }

    /// Run storage work on the blocking pool, at most [`Store::concurrency`] calls at once.
    pub async fn db<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.inner.db_permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Misuse("the store's admission was closed"))?;
        let store = Arc::clone(&self.inner.store);
        // The permit moves into the task: a caller that goes away (request timeout, client
        // gone) does not let another call in while this one still holds the connection.
        let work = move || {
            let _permit = permit;
            f(store.as_ref())
        };
        match tokio::task::spawn_blocking(work).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Misuse(if e.is_panic() {
                "a storage task panicked"
            } else {
                "a storage task was cancelled"
            })),
        }
    }

    /// The retrieval job's last report per company.
    pub fn retrieval_reports(&self) -> HashMap<String, RetrievalReport> {
        self.inner
            .retrieval
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Record a retrieval outcome for `company` (`counted`: a call left the host).
    pub fn report_retrieval(&self, company: &str, outcome: RetrievalOutcome, counted: bool) {
        let now = self.now();
        let mut map = self
            .inner
            .retrieval
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
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
    pub fn kick_retrieval(&self) {
        self.inner.retrieval_kick.notify_one();
    }

    /// Resolves when [`kick_retrieval`](Self::kick_retrieval) is called.
    pub async fn retrieval_kicked(&self) {
        self.inner.retrieval_kick.notified().await;
    }
}
