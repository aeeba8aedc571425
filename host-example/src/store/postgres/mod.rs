//! PostgreSQL storage: several host processes on one database, sharing the authorizations,
//! their leases, the pending authorizations, the webhook outbox and the hand-out audit.
//!
//! Selected with `--db postgres://user@host:port/db` (or `postgresql://…`). The semantics are
//! SQLite's ([`SqliteStore`](crate::store::SqliteStore)), statement for statement: every state
//! change is one transaction ([`Store::commit`] translates the lifecycle's actions exactly as
//! the SQLite engine does, outbox rows included), checked against the row's `generation`
//! ([`StoreError::Conflict`]); tokens are sealed by the [`TokenCipher`] before they reach SQL.
//!
//! Concurrency between processes: a change locks its company's `authorizations` row
//! (`SELECT … FOR UPDATE`) for its short transaction (no IO but the database's inside), so the
//! generation check and the lease claim are atomic across processes. Work that any instance
//! may pick up — the refresher's due scan ([`Store::claim_due`]) and the webhook sender's
//! claims ([`Store::claim_deliveries`]) — is read with `FOR UPDATE SKIP LOCKED`, so N
//! instances split it without waiting on each other, and the lease (owner, until) written in
//! the same transaction keeps a company or a delivery with one holder until it is released or
//! expires. [`Store::claim`] of one named company waits for the row lock instead of skipping:
//! the caller asked for that company, and the holder's transaction is short.
//!
//! Schema: numbered `migrations/NNNN_*.sql`, recorded in `schema_migrations`, run at open in
//! one transaction that first takes `pg_advisory_xact_lock`, so instances starting at once
//! migrate one after the other (the later ones find nothing to do). The history totals are
//! kept in `history_counts` by triggers in the writing transaction: `GET /tokens` reads its
//! total in O(1), and pages with `LIMIT/OFFSET` from [`PageWindow`] walking the
//! `(company, token_created DESC, id DESC)` index from its nearer end.
//!
//! [`Store::purge`] does nothing here: there is no WAL file of ours to truncate. PostgreSQL
//! keeps a wiped or re-sealed value's old row version in the table until `VACUUM` reuses its
//! space (and in its own WAL until the server recycles the segment); the values are AES-GCM
//! ciphertexts, so what lingers is unreadable without the key, but an operator who needs the
//! old bytes gone runs `VACUUM` (autovacuum does so eventually) — the limit of this engine.
//!
//! Each call runs as a task of its own, so a caller that goes away (a request timeout, a client
//! that hung up) does not cut a transaction short: like SQLite's calls on the blocking pool,
//! a started change commits or fails on its own.
//!
//! Driver: `tokio-postgres` with a `deadpool-postgres` pool. Async-native (no blocking pool,
//! no admission of our own: callers beyond [`PgStore::POOL_SIZE`] wait for a connection as
//! futures inside the pool), plain SQL strings prepared and cached per connection, so building
//! the host needs no database (sqlx's checked macros do, or an offline query cache kept in
//! step), both widely used and maintained. TLS (`sslmode=require`) is rustls through
//! `tokio-postgres-rustls`, verifying the server's certificate and name ([`PgTls`]).
//!
//! [`PageWindow`]: token_manager_core::history::PageWindow

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use token_manager_core::history::PerPage;
use token_manager_core::{AuthorizationStatus, GrantTimes, Timestamp};
use tokio_postgres::NoTls;

use crate::crypto::TokenCipher;
use crate::store::{
    AttemptResult, AuthRow, AuthorizationPage, Claim, ClaimOutcome, Committed, Delivery,
    DeliveryStatus, HistoryView, PendingRecord, PendingTake, Store, StoreError, TokenRead,
    Transition,
};

#[cfg(test)]
pub(crate) mod cluster;
mod commit;
mod db;
mod outbox;
mod rows;
mod schema;
mod server;
mod tls;

pub use tls::PgTls;

/// Session settings of every connection, before the URL's own `options`.
const DEFAULT_OPTIONS: &str = "-c lock_timeout=5s -c idle_in_transaction_session_timeout=60s";

/// The PostgreSQL engine.
pub struct PgStore {
    engine: Arc<Engine>,
}

/// The pool and the cipher: what each call, run as a task of its own, holds.
struct Engine {
    pool: Pool,
    cipher: TokenCipher,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connections per host process (PostgreSQL's default `max_connections` of 100 serves a
    /// dozen instances with room for operators).
    pub const POOL_SIZE: usize = 8;

    /// Connect to the database at `url` (`postgres://user[:password]@host[:port]/db[?…]`, as
    /// libpq takes it) and migrate it; TLS with Mozilla's roots when the URL says
    /// `sslmode=require`.
    pub async fn open(url: &str, cipher: TokenCipher) -> Result<Self, StoreError> {
        Self::open_with(url, cipher, &PgTls::default()).await
    }

    /// [`open`](Self::open) with the TLS settings `tls` (see [`PgTls`]).
    pub async fn open_with(
        url: &str,
        cipher: TokenCipher,
        tls: &PgTls,
    ) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("token-manager");
        }
        // SQLite's busy_timeout: a row lock not granted within 5 s fails the call as transient
        // (`55P03`) instead of waiting on; a session that stalls inside a transaction (a
        // partitioned host) gives its locks back after a minute. The URL's own `options` come
        // after these, so they may override them.
        let options = format!(
            "{DEFAULT_OPTIONS} {}",
            config.get_options().unwrap_or_default()
        );
        config.options(options.trim_end());
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if tls::wanted(url) {
            Manager::from_config(config, tls::connector(tls)?, recycling())
        } else {
            Manager::from_config(config, NoTls, recycling())
        };
        let pool = Pool::builder(manager)
            .max_size(Self::POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(10)))
            .create_timeout(Some(Duration::from_secs(5)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|_| StoreError::Misuse("the PostgreSQL pool could not be built"))?;
        let engine = Engine { pool, cipher };
        schema::migrate(&mut engine.conn().await?).await?;
        Ok(Self {
            engine: Arc::new(engine),
        })
    }

    /// Run `call` as a task of its own: a caller that goes away (a request timeout, a client
    /// that hung up) does not roll back a change half-way through its transaction, just as a
    /// SQLite call on the blocking pool runs to its end.
    async fn detached<T, F, Fut>(&self, call: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<Engine>) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        match tokio::spawn(call(Arc::clone(&self.engine))).await {
            Ok(r) => r,
            Err(e) => Err(StoreError::Misuse(if e.is_panic() {
                "a storage task panicked"
            } else {
                "a storage task was cancelled"
            })),
        }
    }
}

impl Engine {
    /// A connection from the pool (waiting, as a future, while all are in use).
    async fn conn(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

#[async_trait]
impl Store for PgStore {
    fn concurrency(&self) -> usize {
        Self::POOL_SIZE
    }

    async fn authorization(&self, company: &str) -> Result<AuthRow, StoreError> {
        let company = company.to_owned();
        self.detached(|e| async move { e.authorization_row(&company).await })
            .await
    }

    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let owner = owner.to_owned();
        self.detached(move |e| async move { e.claim_due(&owner, now, until, limit).await })
            .await
    }

    async fn active_companies(&self) -> Result<Vec<String>, StoreError> {
        self.detached(|e| async move { e.active().await }).await
    }

    async fn claim(&self, claim: Claim) -> Result<ClaimOutcome, StoreError> {
        self.detached(|e| async move { e.claim_lease(&claim).await })
            .await
    }

    async fn release(&self, company: &str, owner: &str) -> Result<(), StoreError> {
        let (company, owner) = (company.to_owned(), owner.to_owned());
        self.detached(|e| async move { e.release_lease(&company, &owner).await })
            .await
    }

    async fn commit(&self, transition: Transition) -> Result<Committed, StoreError> {
        self.detached(|e| async move { e.apply(&transition).await })
            .await
    }

    async fn history_view(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryView, StoreError> {
        let company = company.to_owned();
        self.detached(move |e| async move { e.view(&company, page, per_page).await })
            .await
    }

    async fn seed_history(
        &self,
        company: &str,
        rows: Vec<GrantTimes>,
        authorized_by: &str,
    ) -> Result<usize, StoreError> {
        let (company, by) = (company.to_owned(), authorized_by.to_owned());
        self.detached(|e| async move { e.seed(&company, &rows, &by).await })
            .await
    }

    async fn upsert_companies(
        &self,
        companies: Vec<(String, String)>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.detached(move |e| async move { e.upsert(&companies, now).await })
            .await
    }

    async fn put_pending(&self, pending: PendingRecord, now: Timestamp) -> Result<(), StoreError> {
        self.detached(move |e| async move { e.keep_pending(&pending, now).await })
            .await
    }

    async fn take_pending(
        &self,
        state_hash: [u8; 32],
        user: &str,
        company: &str,
        now: Timestamp,
    ) -> Result<PendingTake, StoreError> {
        let (user, company) = (user.to_owned(), company.to_owned());
        self.detached(move |e| async move { e.take(&state_hash, &user, &company, now).await })
            .await
    }

    async fn reencrypt(&self) -> Result<usize, StoreError> {
        self.detached(|e| async move { e.reseal().await }).await
    }

    /// Nothing to do: see the module docs (old row versions stay until `VACUUM`).
    async fn purge(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn read_tokens(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<TokenRead, StoreError> {
        let (company, owner) = (company.to_owned(), owner.to_owned());
        self.detached(move |e| async move { e.tokens_of(&company, &owner, now).await })
            .await
    }

    async fn list_authorizations(
        &self,
        status: Option<AuthorizationStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<AuthorizationPage, StoreError> {
        self.detached(move |e| async move { e.authorizations_page(status, offset, limit).await })
            .await
    }

    async fn record_handout(
        &self,
        company: &str,
        key_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let (company, key_id) = (company.to_owned(), key_id.to_owned());
        self.detached(move |e| async move { e.handout(&company, &key_id, now).await })
            .await
    }

    async fn handout_count(&self, company: &str) -> Result<u64, StoreError> {
        let company = company.to_owned();
        self.detached(|e| async move { e.handouts(&company).await })
            .await
    }

    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let owner = owner.to_owned();
        self.detached(move |e| async move { e.claim_heads(&owner, now, until, limit).await })
            .await
    }

    async fn finish_deliveries(
        &self,
        owner: &str,
        results: Vec<(i64, AttemptResult)>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let owner = owner.to_owned();
        self.detached(move |e| async move { e.finish(&owner, &results, now).await })
            .await
    }

    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Delivery>), StoreError> {
        self.detached(move |e| async move { e.deliveries_page(status, offset, limit).await })
            .await
    }

    async fn redeliver(&self, id: i64, now: Timestamp) -> Result<bool, StoreError> {
        self.detached(move |e| async move { e.pend_again(id, now).await })
            .await
    }

    async fn next_delivery_due(&self) -> Result<Option<Timestamp>, StoreError> {
        self.detached(|e| async move { e.next_due().await }).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::HashSet;
    use std::time::Duration;

    use token_manager_core::lifecycle::{Event, RefreshPolicy};
    use token_manager_core::webhook::{EventType, WebhookEvent};

    use super::*;
    use crate::crypto::TokenKey;
    use crate::store::{contract, ClaimKind, OutboxEvent};

    const H: i64 = 3_600_000;

    /// An error and its causes, as one line.
    fn chain(err: &StoreError) -> String {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    }

    /// Whether the store's own connection is encrypted, as the server sees it.
    async fn encrypted(store: &PgStore) -> bool {
        store
            .engine
            .conn()
            .await
            .unwrap()
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// `sslmode=require` against a cluster whose certificate (for 127.0.0.1) comes from a
    /// private CA: with that CA (`--db-ca-file`) the connection is TLS; by another name of the
    /// same server (`localhost`), or with Mozilla's roots, it is refused; without `sslmode` it
    /// stays plain.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_over_tls_verifies_the_server_certificate_and_name() {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca, &ca_key)
            .unwrap();
        let cluster = cluster::Cluster::start_with_tls(&server.pem(), &server_key.serialize_pem());
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let key = TokenKey::generate();
        let url = cluster.database("tls");
        let private_ca = PgTls {
            ca_file: Some(ca_file),
        };
        let open = |url: String, tls: PgTls| {
            let cipher = TokenCipher::new(&key);
            async move { PgStore::open_with(&url, cipher, &tls).await }
        };

        let store = open(format!("{url}?sslmode=require"), private_ca.clone())
            .await
            .unwrap();
        assert!(encrypted(&store).await);
        let by_name = url.replace("127.0.0.1", "localhost");
        let err = open(format!("{by_name}?sslmode=require"), private_ca.clone())
            .await
            .map(|_| ())
            .expect_err("a certificate for another name was accepted");
        assert!(
            chain(&err).contains("not valid for name"),
            "{}",
            chain(&err)
        );
        let err = open(format!("{url}?sslmode=require"), PgTls::default())
            .await
            .map(|_| ())
            .expect_err("a certificate from an unknown CA was accepted");
        assert!(chain(&err).contains("UnknownIssuer"), "{}", chain(&err));
        let plain = open(url, PgTls::default()).await.unwrap();
        assert!(!encrypted(&plain).await);
    }

    /// The behaviour every engine shares, on a throw-away PostgreSQL cluster: one database
    /// per case name (the same name reopens the same database).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_passes_the_store_contract() {
        let cluster = cluster::Cluster::start();
        let cluster = &cluster;
        contract::run_all(|name, cipher| async move {
            let url = cluster.database(&name);
            Arc::new(PgStore::open(&url, cipher).await.unwrap()) as Arc<dyn Store>
        })
        .await;
    }

    /// Six instances opening one new database at once: the advisory lock lets one migrate and
    /// the others find the schema done. Four of them then take the due refreshes and the
    /// webhook deliveries of 40 companies at once: each is held by exactly one instance. A
    /// commit whose caller went away still commits; a row lock not granted in time fails as
    /// transient. A URL requiring TLS, and a database
    /// migrated by a newer host, are refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_migrate_once_and_split_due_work() {
        let cluster = cluster::Cluster::start();
        let url = cluster.database("instances");
        let key = TokenKey::generate();
        let opens = (0..6).map(|_| PgStore::open(&url, TokenCipher::new(&key)));
        let stores = futures_util::future::try_join_all(opens).await.unwrap();
        let recorded: i64 = stores[0]
            .engine
            .conn()
            .await
            .unwrap()
            .query_one("SELECT COUNT(*) AS n FROM schema_migrations", &[])
            .await
            .unwrap()
            .get("n");
        assert_eq!(recorded, i64::try_from(schema::MIGRATIONS.len()).unwrap());

        let companies: Vec<String> = (0..40).map(|i| format!("c{i:02}")).collect();
        for (i, company) in companies.iter().enumerate() {
            let store = &stores[i % stores.len()];
            let cur = store.authorization(company).await.unwrap();
            let (next, actions) = cur.state.handle(
                Event::Granted(contract::times(0)),
                Timestamp(0),
                &RefreshPolicy::default(),
            );
            store
                .commit(Transition {
                    company: company.clone(),
                    revocation: None,
                    expected_generation: Some(cur.generation),
                    lease_owner: None,
                    next,
                    actions,
                    tokens: Some(contract::pair(1)),
                    authorized_by: Some("admin".into()),
                    actor: Some("admin".into()),
                    now: Timestamp(0),
                    events: vec![OutboxEvent {
                        id: format!("msg_{i}"),
                        event: WebhookEvent::new(
                            EventType::Granted,
                            company,
                            AuthorizationStatus::Active,
                            Timestamp(0),
                        ),
                        endpoints: vec!["http://a".into()],
                    }],
                })
                .await
                .unwrap();
        }
        let (now, until) = (Timestamp(5 * H), Timestamp(5 * H + 60_000));
        let workers = stores
            .iter()
            .take(4)
            .enumerate()
            .map(|(n, store)| async move {
                let owner = format!("host-{n}");
                let (mut refreshes, mut deliveries) = (Vec::new(), Vec::new());
                loop {
                    let due = store.claim_due(&owner, now, until, 3).await.unwrap();
                    let claimed = store.claim_deliveries(&owner, now, until, 3).await.unwrap();
                    if due.is_empty() && claimed.is_empty() {
                        break;
                    }
                    deliveries.extend(claimed.into_iter().map(|d| d.event_id));
                    for company in due {
                        let claim = Claim {
                            company: company.clone(),
                            owner: owner.clone(),
                            kind: ClaimKind::Refresh,
                            now,
                            until,
                        };
                        // Leased by the scan: its owner's claim always succeeds.
                        let outcome = store.claim(claim).await.unwrap();
                        assert!(matches!(outcome, ClaimOutcome::Acquired(_)), "{outcome:?}");
                        refreshes.push(company);
                    }
                }
                (refreshes, deliveries)
            });
        let results = futures_util::future::join_all(workers).await;
        for (what, taken) in [
            (
                "refreshes",
                results.iter().flat_map(|r| r.0.clone()).collect::<Vec<_>>(),
            ),
            (
                "deliveries",
                results.iter().flat_map(|r| r.1.clone()).collect(),
            ),
        ] {
            let distinct: HashSet<_> = taken.iter().collect();
            assert_eq!(
                (taken.len(), distinct.len()),
                (40, 40),
                "{what}: each taken by exactly one instance"
            );
        }

        // A row lock held elsewhere past lock_timeout (shortened through the URL's options):
        // the claim fails as transient (the caller answers 503) instead of waiting on.
        let impatient = PgStore::open(
            &format!("{url}?options=-c%20lock_timeout%3D200ms"),
            TokenCipher::new(&key),
        )
        .await
        .unwrap();
        let mut holder = stores[1].engine.conn().await.unwrap();
        let held = holder.transaction().await.unwrap();
        held.execute(
            "SELECT 1 FROM authorizations WHERE company = 'c01' FOR UPDATE",
            &[],
        )
        .await
        .unwrap();
        let started = std::time::Instant::now();
        let err = impatient
            .claim(Claim {
                company: "c01".into(),
                owner: "host-9".into(),
                kind: ClaimKind::Use,
                now,
                until,
            })
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(4));
        held.rollback().await.unwrap();

        stores[0]
            .engine
            .conn()
            .await
            .unwrap()
            .execute("INSERT INTO schema_migrations (version) VALUES (9999)", &[])
            .await
            .unwrap();
        // A caller that goes away mid-commit (a request timeout, a client that hung up) does
        // not roll the change back: it runs to its end, as on SQLite's blocking pool.
        let store = &stores[0];
        let cur = store.authorization("c00").await.unwrap();
        let (next, actions) = cur
            .state
            .handle(Event::Cleared, now, &RefreshPolicy::default());
        let commit = store.commit(Transition {
            company: "c00".into(),
            revocation: None,
            expected_generation: Some(cur.generation),
            lease_owner: None,
            next,
            actions,
            tokens: None,
            authorized_by: None,
            actor: Some("admin".into()),
            now,
            events: Vec::new(),
        });
        let abandoned = tokio::time::timeout(Duration::ZERO, commit).await;
        assert!(
            abandoned.is_err(),
            "the commit was dropped before it finished"
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while store.authorization("c00").await.unwrap().generation == cur.generation {
            assert!(
                std::time::Instant::now() < deadline,
                "the abandoned commit was rolled back"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            store.authorization("c00").await.unwrap().state.status(),
            AuthorizationStatus::Cleared
        );

        // A server without TLS: a URL that requires it is refused, never connected in the
        // clear.
        let tls = PgStore::open(&format!("{url}?sslmode=require"), TokenCipher::new(&key)).await;
        assert!(tls.is_err(), "{tls:?}");
        let newer = PgStore::open(&url, TokenCipher::new(&key)).await;
        assert!(
            matches!(&newer, Err(StoreError::Corrupt(m)) if m.contains("newer")),
            "{newer:?}"
        );
    }
}
