//! SQLite storage (WAL, `busy_timeout`, `secure_delete`, `synchronous = FULL`).
//!
//! SQLite's API blocks, so every call runs on tokio's blocking pool, and at most
//! [`SqliteStore::CONCURRENCY`] at once: the rest wait as futures. Without that admission every
//! waiting request parked a blocking-pool thread on the connection's mutex (~100 threads under
//! the read benchmark, each with its own malloc arena: the soak's rising RSS).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use token_manager_core::history::PerPage;
use token_manager_core::{GrantTimes, Timestamp};
use tokio::sync::Semaphore;

use crate::crypto::TokenCipher;
use crate::store::{
    AttemptResult, AuthRow, AuthorizationPage, Claim, ClaimOutcome, Committed, Delivery,
    DeliveryStatus, HistoryView, PendingRecord, PendingTake, Store, StoreError, TokenRead,
    Transition,
};
use token_manager_core::AuthorizationStatus;

mod commit;
mod db;
mod outbox;
mod rows;
mod server;

use db::Db;

/// The SQLite engine.
pub struct SqliteStore {
    db: Arc<Db>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Calls admitted at once. One connection, but a call spends part of its time outside the
    /// connection's mutex (decrypting, building records), so a few may overlap. Measured on the
    /// read benchmark (2 cores): 1 → 13.5k req/s, 2 → 19.5k, 4 → 22k, unbounded (~100 blocking
    /// threads) → 23k with ~12 % more RSS after 20 s of load (17.7 vs 15.8 MiB).
    pub const CONCURRENCY: usize = 4;

    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path, cipher: TokenCipher) -> Result<Self, StoreError> {
        // A new database file is created private (0600); SQLite gives its WAL and shared-memory
        // files the database file's permissions.
        if !path.exists() {
            match crate::crypto::create_private(path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(StoreError::Corrupt(format!(
                        "cannot create {}: {e}",
                        path.display()
                    )))
                }
            }
        }
        Ok(Self::over(Db::open(path, cipher)?))
    }

    /// An in-memory database (tests, benchmarks).
    pub fn open_in_memory(cipher: TokenCipher) -> Result<Self, StoreError> {
        Ok(Self::over(Db::open_in_memory(cipher)?))
    }

    fn over(db: Db) -> Self {
        Self {
            db: Arc::new(db),
            permits: Arc::new(Semaphore::new(Self::CONCURRENCY)),
        }
    }

    /// Run `f` on the blocking pool once admitted.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Misuse("the store's admission was closed"))?;
        let db = Arc::clone(&self.db);
        // The permit moves into the task: a caller that goes away (request timeout, client
        // gone) does not let another call in while this one still holds the connection.
        let work = move || {
            let _permit = permit;
            f(&db)
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
}

#[async_trait]
impl Store for SqliteStore {
    fn concurrency(&self) -> usize {
        Self::CONCURRENCY
    }

    async fn authorization(&self, company: &str) -> Result<AuthRow, StoreError> {
        let company = company.to_owned();
        self.blocking(move |db| db.authorization(&company)).await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.claim_due(&owner, now, until, limit))
            .await
    }

    async fn active_companies(&self) -> Result<Vec<String>, StoreError> {
        self.blocking(Db::active_companies).await
    }

    async fn claim(&self, claim: Claim) -> Result<ClaimOutcome, StoreError> {
        self.blocking(move |db| db.claim(&claim)).await
    }

    async fn release(&self, company: &str, owner: &str) -> Result<(), StoreError> {
        let (company, owner) = (company.to_owned(), owner.to_owned());
        self.blocking(move |db| db.release(&company, &owner)).await
    }

    async fn commit(&self, transition: Transition) -> Result<Committed, StoreError> {
        self.blocking(move |db| db.commit(&transition)).await
    }

    async fn history_view(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryView, StoreError> {
        let company = company.to_owned();
        self.blocking(move |db| db.history_view(&company, page, per_page))
            .await
    }

    async fn seed_history(
        &self,
        company: &str,
        rows: Vec<GrantTimes>,
        authorized_by: &str,
    ) -> Result<usize, StoreError> {
        let (company, by) = (company.to_owned(), authorized_by.to_owned());
        self.blocking(move |db| db.seed_history(&company, &rows, &by))
            .await
    }

    async fn upsert_companies(
        &self,
        companies: Vec<(String, String)>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.blocking(move |db| db.upsert_companies(&companies, now))
            .await
    }

    async fn put_pending(&self, pending: PendingRecord, now: Timestamp) -> Result<(), StoreError> {
        self.blocking(move |db| db.put_pending(&pending, now)).await
    }

    async fn take_pending(
        &self,
        state_hash: [u8; 32],
        user: &str,
        company: &str,
        now: Timestamp,
    ) -> Result<PendingTake, StoreError> {
        let (user, company) = (user.to_owned(), company.to_owned());
        self.blocking(move |db| db.take_pending(&state_hash, &user, &company, now))
            .await
    }

    async fn reencrypt(&self) -> Result<usize, StoreError> {
        self.blocking(Db::reencrypt).await
    }

    async fn purge(&self) -> Result<(), StoreError> {
        self.blocking(Db::purge).await
    }

    async fn read_tokens(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<TokenRead, StoreError> {
        let (company, owner) = (company.to_owned(), owner.to_owned());
        self.blocking(move |db| db.read_tokens(&company, &owner, now))
            .await
    }

    async fn list_authorizations(
        &self,
        status: Option<AuthorizationStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<AuthorizationPage, StoreError> {
        self.blocking(move |db| db.list_authorizations(status, offset, limit))
            .await
    }

    async fn record_handout(
        &self,
        company: &str,
        key_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (company, key_id) = (company.to_owned(), key_id.to_owned());
        self.blocking(move |db| db.record_handout(&company, &key_id, now))
            .await
    }

    async fn handout_count(&self, company: &str) -> Result<u64, StoreError> {
        let company = company.to_owned();
        self.blocking(move |db| db.handout_count(&company)).await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.claim_deliveries(&owner, now, until, limit))
            .await
    }

    async fn finish_deliveries(
        &self,
        owner: &str,
        results: Vec<(i64, AttemptResult)>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.blocking(move |db| db.finish_deliveries(&owner, &results, now))
            .await
    }

    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Delivery>), StoreError> {
        self.blocking(move |db| db.list_deliveries(status, offset, limit))
            .await
    }

    async fn redeliver(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        self.blocking(move |db| db.redeliver(id, now)).await
    }

    async fn next_delivery_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.blocking(Db::next_delivery_due).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use rusqlite::{params, Connection};
    use token_manager_core::history::RecordStatus;
    use token_manager_core::AuthorizationStatus;

    use super::*;
    use crate::crypto::TokenKey;
    use crate::store::contract;

    fn cipher() -> TokenCipher {
        TokenCipher::new(&TokenKey::generate())
    }

    /// The behaviour every engine shares.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_passes_the_store_contract() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        contract::run_all(|name, cipher| async move {
            let path = dir.join(format!("{name}.db"));
            Arc::new(SqliteStore::open(&path, cipher).unwrap()) as Arc<dyn Store>
        })
        .await;
    }

    /// A database written by schema version 1 gets its per-company counts on upgrade, and
    /// appends keep them current.
    #[tokio::test]
    async fn counts_survive_upgrade_and_follow_appends() {
        const H: i64 = 3_600_000;
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(db::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        for i in 0..12 {
            conn.execute(
                "INSERT INTO history (company, token_created, token_expires, status)
                 VALUES ('acme', ?1, ?2, 'refreshed')",
                params![i * H, i * H + 4 * H],
            )
            .unwrap();
        }
        let store = SqliteStore::over(Db::init(conn, cipher()).unwrap());
        assert_eq!(
            store
                .history_page("acme", 2, PerPage::Ten)
                .await
                .unwrap()
                .window
                .range_label(),
            "11-12 of 12"
        );
        contract::grant(&store, "acme", 20 * H, 1).await;
        let page = store.history_page("acme", 1, PerPage::Ten).await.unwrap();
        assert_eq!(page.window.total, 13);
        assert_eq!(page.rows[0].status, RecordStatus::Active);
    }

    /// 200 storage calls at once (the read benchmark's shape): no more than the store's
    /// `concurrency()` run at a time, so the blocking pool is not grown to one parked thread
    /// per waiting request (each with its own malloc arena: the soak's RSS), and every call
    /// completes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn storage_calls_are_admitted_up_to_the_stores_concurrency() {
        let store = Arc::new(SqliteStore::open_in_memory(cipher()).unwrap());
        let limit = store.concurrency();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..200 {
            let (store, running, peak) = (store.clone(), running.clone(), peak.clone());
            calls.spawn(async move {
                store
                    .blocking(move |db| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(2));
                        let row = db.authorization("demo-co");
                        running.fetch_sub(1, Ordering::SeqCst);
                        row
                    })
                    .await
            });
        }
        let results = calls.join_all().await;
        assert_eq!(results.len(), 200);
        for r in results {
            assert_eq!(
                r.unwrap().state.status(),
                AuthorizationStatus::NotAuthorized
            );
        }
        let peak = peak.load(Ordering::SeqCst);
        assert!(
            (1..=limit).contains(&peak),
            "peak {peak} calls at once, limit {limit}"
        );
    }
}
