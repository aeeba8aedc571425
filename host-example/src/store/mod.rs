//! Storage: the async [`Store`] trait every engine implements, its types, and the one
//! behaviour suite (`store/contract.rs`, run by each engine's tests) every engine must pass.
//!
//! One row per company (core's [`Authorization`], the sealed token pair, the next refresh
//! time, a `generation` counter bumped by every change, and a lease that serialises token use
//! across host processes) and an append-only history the Token History grid pages through in
//! the database.
//!
//! Every state change is one [`Transition`] applied by [`Store::commit`] in one transaction:
//! the lifecycle's [`Action`]s are translated to SQL there, so a refreshed pair is committed in
//! the same transaction that discards the old one and a crash never loses an authorization.
//! Tokens are sealed with [`TokenCipher`](crate::crypto::TokenCipher) before they reach the
//! database; plaintext never does.
//!
//! Engines: [`SqliteStore`] (one file, one machine; its blocking calls run on tokio's blocking
//! pool, admitted [`Store::concurrency`] at a time inside the implementation) and [`PgStore`]
//! (one PostgreSQL database shared by several host processes; a pool of connections).

use async_trait::async_trait;
use token_manager_core::history::{PageWindow, PerPage, TokenRecord};
use token_manager_core::lifecycle::{Action, Authorization};
use token_manager_core::webhook::WebhookEvent;
use token_manager_core::{AuthorizationStatus, GrantTimes, PendingAuthorization, Timestamp};

use crate::crypto::OpenError;
use crate::tokens::TokenPair;

#[cfg(test)]
pub(crate) mod contract;
mod postgres;
mod sqlite;

pub use postgres::{PgStore, PgTls};
pub use sqlite::SqliteStore;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite failed.
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (or the connection to it).
    #[error("database: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool in time.
    #[error("database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// The authorization changed since it was read (another request or host won).
    #[error("the authorization changed concurrently")]
    Conflict,
    /// A stored token could not be decrypted.
    #[error(transparent)]
    Crypto(#[from] OpenError),
    /// A stored value is not what this version writes.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The caller asked for something inconsistent.
    #[error("storage misuse: {0}")]
    Misuse(&'static str),
    /// The storage settings cannot work (the text says which and why), e.g. a CA file
    /// without a certificate.
    #[error("{0}")]
    Config(String),
}

impl StoreError {
    /// The database is busy/locked past its busy timeout, or the disk is full (PostgreSQL:
    /// also unreachable, restarting, out of connections, or a serialization failure or
    /// deadlock that rolled the transaction back, or a lock not granted within
    /// `lock_timeout`): nothing was written, and the same call may succeed later. The one
    /// exception: a PostgreSQL connection lost while its `COMMIT` was in flight may have
    /// committed (no client can tell); a retry of a generation-checked commit then meets
    /// [`StoreError::Conflict`].
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(
                    rusqlite::ErrorCode::DatabaseBusy
                        | rusqlite::ErrorCode::DatabaseLocked
                        | rusqlite::ErrorCode::DiskFull
                )
            ),
            StoreError::Postgres(e) => postgres_transient(e),
            StoreError::Pool(e) => match e {
                deadpool_postgres::PoolError::Timeout(_) => true,
                deadpool_postgres::PoolError::Backend(e) => postgres_transient(e),
                _ => false,
            },
            _ => false,
        }
    }
}

/// A PostgreSQL failure that a later call may not meet: the connection is gone, could not be
/// made or timed out (no SQLSTATE), or SQLSTATE class 08 (connection), 40 (transaction rollback:
/// serialization failure, deadlock), 53 (insufficient resources: disk full, too many
/// connections), `55P03` (lock not available) or `57P01`–`57P03` (the server shutting down,
/// restarting, or not accepting connections yet).
fn postgres_transient(e: &tokio_postgres::Error) -> bool {
    match e.code().map(tokio_postgres::error::SqlState::code) {
        None => {
            e.is_closed()
                || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
                || e.to_string().starts_with("timeout")
        }
        Some(code) => {
            ["08", "40", "53"]
                .iter()
                .any(|class| code.starts_with(class))
                || matches!(code, "55P03" | "57P01" | "57P02" | "57P03")
        }
    }
}

/// A company's authorization as stored (no token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRow {
    /// Company id.
    pub company: String,
    /// Lifecycle state.
    pub state: Authorization,
    /// Bumped by every committed change.
    pub generation: i64,
    /// When the refresher should next act.
    pub next_refresh: Option<Timestamp>,
    /// Whether an encrypted pair is stored.
    pub has_tokens: bool,
    /// Who opted in.
    pub authorized_by: Option<String>,
    /// Who cleared it, when cleared.
    pub cleared_by: Option<String>,
}

impl AuthRow {
    /// The row of a company the store has never seen.
    pub fn empty(company: &str) -> Self {
        Self {
            company: company.to_owned(),
            state: Authorization::NotAuthorized,
            generation: 0,
            next_refresh: None,
            has_tokens: false,
            authorized_by: None,
            cleared_by: None,
        }
    }
}

/// What a lease is claimed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// The refresher: only when active and due (a refresh, or the expiry of a grant without a
    /// refresh token).
    Refresh,
    /// The retrieval job: only when active with an access token.
    Use,
    /// A refresh the portal's backend needs now (the access-token API, the proxy after a 401):
    /// when active and holding a refresh token, due or not.
    RefreshNow,
    /// Clear: always (tokens decrypted best effort, for revocation).
    Clear,
}

/// A request for a company's lease: who wants it, for what, when, until when.
#[derive(Debug, Clone)]
pub struct Claim {
    /// Company.
    pub company: String,
    /// The lease owner (a host process's id).
    pub owner: String,
    /// What for.
    pub kind: ClaimKind,
    /// When the claim is made.
    pub now: Timestamp,
    /// Until when the lease holds, unless released.
    pub until: Timestamp,
}

/// A held lease: nobody else (in any host process on this database) uses the company's tokens
/// until it is released or expires.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The row when claimed.
    pub row: AuthRow,
    /// The decrypted tokens, if any.
    pub tokens: Option<TokenPair>,
}

/// Result of [`Store::claim`].
#[derive(Debug)]
pub enum ClaimOutcome {
    /// The lease is ours.
    Acquired(Box<Lease>),
    /// Another owner holds it until then.
    Busy {
        /// Lease expiry.
        until: Timestamp,
    },
    /// Nothing to do (not active, not due, no tokens).
    Nothing,
}

/// A revocation receipt as stored in `history.revocation` (both engines): its JSON.
pub(crate) fn revocation_json(r: Option<&token_manager_core::api::Revocation>) -> Option<String> {
    r.and_then(|r| serde_json::to_string(r).ok())
}

/// The receipt back from `history.revocation` (none when absent or not one this version reads).
pub(crate) fn revocation_from_json(
    json: Option<String>,
) -> Option<token_manager_core::api::Revocation> {
    json.and_then(|json| serde_json::from_str(&json).ok())
}

/// One change of one company's authorization, applied atomically by [`Store::commit`].
#[derive(Debug, Clone)]
pub struct Transition {
    /// Company.
    pub company: String,
    /// Refuse with [`StoreError::Conflict`] unless the stored generation is this one.
    pub expected_generation: Option<i64>,
    /// Release the lease if this owner holds it.
    pub lease_owner: Option<String>,
    /// The state after the event.
    pub next: Authorization,
    /// The lifecycle's actions; the storage ones are applied here, in order.
    pub actions: Vec<Action>,
    /// The new pair, required when `actions` contains [`Action::StoreTokens`].
    pub tokens: Option<TokenPair>,
    /// Who opted in (new grants); refreshes keep the stored value. A grant by another user
    /// than the one who opted in to the Active records marks them `superseded` by this user
    /// (the same user opting in again: `refreshed`, as a refresh does).
    pub authorized_by: Option<String>,
    /// The portal user who caused the change, if one did (recorded as `cleared_by` by Clear).
    pub actor: Option<String>,
    /// When.
    pub now: Timestamp,
    /// The webhook events reporting this change, written to the outbox in its transaction.
    pub events: Vec<OutboxEvent>,
    /// Clear: what the provider said to the revocation, recorded on the rows it marks Cleared.
    pub revocation: Option<token_manager_core::api::Revocation>,
}

/// One event for the outbox: written in the transaction of the change it reports, one
/// delivery per endpoint. The store attaches the history row the change appended to events
/// that carry one ([`EventType::carries_record`](token_manager_core::webhook::EventType::carries_record)).
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// The Standard Webhooks `webhook-id` (`msg_…`), the same for every endpoint and every
    /// retry: receivers deduplicate by it.
    pub id: String,
    /// The event.
    pub event: WebhookEvent,
    /// Where it is delivered.
    pub endpoints: Vec<String>,
}

/// Delivery state of one event to one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet (first try or retrying).
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up (too old); an operator may redeliver.
    Failed,
}

impl DeliveryStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
    /// Parse a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        }
    }
}

/// One delivery (an event to one endpoint), as listed and as claimed by the sender.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    /// Outbox sequence number (increasing with insertion): the delivery's id.
    pub id: i64,
    /// The event's `webhook-id`.
    pub event_id: String,
    /// `authorization.*`.
    pub event_type: String,
    /// The company.
    pub company: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// State.
    pub status: DeliveryStatus,
    /// Attempts made, ever.
    pub attempts: u32,
    /// Failed attempts since the first attempt or the last redelivery (the backoff's step).
    pub streak: u32,
    /// When the event was written.
    pub created_at: Timestamp,
    /// The first attempt since it was written or redelivered (the give-up age counts from
    /// here).
    pub first_attempt_at: Option<Timestamp>,
    /// When the next attempt is due (pending).
    pub next_attempt_at: Option<Timestamp>,
    /// When the endpoint acknowledged it.
    pub delivered_at: Option<Timestamp>,
    /// HTTP status of the last attempt, if one came back.
    pub last_status: Option<u16>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// The signed body (JSON text).
    #[serde(skip)]
    pub payload: String,
}

/// What one delivery attempt did, as recorded by [`Store::finish_deliveries`].
#[derive(Debug, Clone)]
pub enum AttemptResult {
    /// 2xx.
    Delivered {
        /// HTTP status.
        status: u16,
    },
    /// Failed; try again at `next` (or give up when `None`).
    Failed {
        /// HTTP status, if an answer came.
        status: Option<u16>,
        /// Why.
        error: String,
        /// When to try again; `None` = give up (status `failed`).
        next: Option<Timestamp>,
    },
}

/// A company's authorization with its decrypted tokens, read without taking the lease (the
/// access-token API, the proxy).
#[derive(Debug, Clone)]
pub struct TokenRead {
    /// The row.
    pub row: AuthRow,
    /// The tokens, if stored.
    pub tokens: Option<TokenPair>,
    /// Another owner's lease on the company (a refresh or Clear in progress elsewhere), until.
    pub leased_until: Option<Timestamp>,
}

/// One page of authorizations (`GET /api/v1/companies`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationPage {
    /// Rows matching the filter.
    pub total: u64,
    /// This page, by company id.
    pub rows: Vec<AuthRow>,
}

/// An authorization started and not yet exchanged, as stored.
#[derive(Debug)]
pub struct PendingRecord {
    /// SHA-256 of its state: what `/exchange` finds it by.
    pub state_hash: [u8; 32],
    /// Company it is for.
    pub company: String,
    /// The portal user who started it.
    pub user: String,
    /// State, PKCE verifier, redirect URI (sealed by the store).
    pub pending: PendingAuthorization,
    /// When the host forgets it.
    pub expires_at: Timestamp,
}

/// What [`Store::take_pending`] found.
#[derive(Debug)]
pub enum PendingTake {
    /// Ours: it is removed (single use) and handed over.
    Taken(Box<PendingAuthorization>),
    /// No authorization was started with that state (or it was used already).
    Missing,
    /// Started by another user or for another company: refused, and left for its owner.
    Mismatch,
    /// Started too long ago: removed.
    Expired,
}

/// Result of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The new generation.
    pub generation: i64,
    /// The history row appended by [`Action::AppendRecord`], if any.
    pub appended: Option<TokenRecord>,
}

/// One page of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    /// Where the page falls.
    pub window: PageWindow,
    /// Its rows, newest first, statuses as stored.
    pub rows: Vec<TokenRecord>,
}

/// What the panel shows for a company: its authorization and one page of its history, read
/// from one snapshot (`GET /tokens`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryView {
    /// The authorization.
    pub row: AuthRow,
    /// The page.
    pub page: HistoryPage,
}

/// The storage contract of the host. Every engine passes the suite in `store/contract.rs`.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// How many calls the engine serves at once (its connections); more callers wait, as
    /// futures, inside the engine.
    fn concurrency(&self) -> usize;
    /// The company's authorization (`NotAuthorized` when never seen).
    async fn authorization(&self, company: &str) -> Result<AuthRow, StoreError>;
    /// Lease to `owner`, until `until`, up to `limit` companies whose refresh is due at `now`
    /// and whose lease is free; returns them earliest due first. One statement: hosts calling
    /// it at once split the due work and never get a company another holds (PostgreSQL:
    /// `FOR UPDATE SKIP LOCKED`). The caller then [`claim`](Store::claim)s each for
    /// [`ClaimKind::Refresh`] (its own lease does not stand in its way) and
    /// [`release`](Store::release)s it when done.
    async fn claim_due(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;
    /// Companies that are active and hold an access token.
    async fn active_companies(&self) -> Result<Vec<String>, StoreError>;
    /// Claim the company's lease for `kind` until `until`, in one transaction.
    async fn claim(&self, claim: Claim) -> Result<ClaimOutcome, StoreError>;
    /// Release the lease if `owner` holds it.
    async fn release(&self, company: &str, owner: &str) -> Result<(), StoreError>;
    /// Apply a transition in one transaction.
    async fn commit(&self, transition: Transition) -> Result<Committed, StoreError>;
    /// One page of the company's history, newest first, paged in the database.
    async fn history_page(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryPage, StoreError> {
        Ok(self.history_view(company, page, per_page).await?.page)
    }
    /// The authorization and one page of history, newest first, paged in the database, from one
    /// snapshot.
    async fn history_view(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Result<HistoryView, StoreError>;
    /// Insert synthetic past rows (status `refreshed`) if the company has no history yet;
    /// returns how many were inserted.
    async fn seed_history(
        &self,
        company: &str,
        rows: Vec<GrantTimes>,
        authorized_by: &str,
    ) -> Result<usize, StoreError>;
    /// Create or rename the companies (id, display name) a session names.
    async fn upsert_companies(
        &self,
        companies: Vec<(String, String)>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Keep a started authorization until it is exchanged or expires (removing expired ones).
    async fn put_pending(&self, pending: PendingRecord, now: Timestamp) -> Result<(), StoreError>;
    /// Find the authorization started with the state whose SHA-256 is `state_hash`, and take it
    /// if `user` started it for `company` and it has not expired.
    async fn take_pending(
        &self,
        state_hash: [u8; 32],
        user: &str,
        company: &str,
        now: Timestamp,
    ) -> Result<PendingTake, StoreError>;
    /// Key rotation: re-seal under the current key every stored token that only an old key
    /// opens, in one transaction, then purge. Returns how many values were re-sealed. Fails,
    /// changing nothing, if a value opens under no key at all (the company is named).
    async fn reencrypt(&self) -> Result<usize, StoreError>;
    /// Make wiped values physically unrecoverable (SQLite: checkpoint and truncate the WAL).
    async fn purge(&self) -> Result<(), StoreError>;

    /// The company's row and decrypted tokens, without claiming the lease; says whether
    /// another owner than `owner` holds the lease.
    async fn read_tokens(
        &self,
        company: &str,
        owner: &str,
        now: Timestamp,
    ) -> Result<TokenRead, StoreError>;
    /// Authorizations, by company id, optionally of one status, paged in the database.
    async fn list_authorizations(
        &self,
        status: Option<AuthorizationStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<AuthorizationPage, StoreError>;
    /// Record that API key `key_id` was handed the company's access token (audit; no token).
    async fn record_handout(
        &self,
        company: &str,
        key_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// How many hand-outs are recorded for the company.
    async fn handout_count(&self, company: &str) -> Result<u64, StoreError>;

    /// Claim up to `limit` deliveries due at `now` for `owner` until `until`: only the oldest
    /// pending delivery of each (endpoint, company), so a company's events go out in order.
    async fn claim_deliveries(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError>;
    /// Record attempts of deliveries `owner` claimed (releasing their claims), in one
    /// transaction. A delivery whose claim `owner` no longer holds is left alone.
    async fn finish_deliveries(
        &self,
        owner: &str,
        results: Vec<(i64, AttemptResult)>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// [`Store::finish_deliveries`] for one delivery.
    async fn finish_delivery(
        &self,
        id: i64,
        owner: &str,
        result: AttemptResult,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.finish_deliveries(owner, vec![(id, result)], now).await
    }
    /// Deliveries, newest first, optionally of one status, paged in the database.
    async fn list_deliveries(
        &self,
        status: Option<DeliveryStatus>,
        offset: u64,
        limit: u32,
    ) -> Result<(u64, Vec<Delivery>), StoreError>;
    /// Make a delivery pending again, due at `now`, with a fresh retry window (its backoff and
    /// give-up age restart; `attempts` keeps counting). `false` if there is no such delivery.
    async fn redeliver(&self, id: i64, now: Timestamp) -> Result<bool, StoreError>;
    /// The earliest time a delivery at the head of its queue is due (or its claim expires), if
    /// any: the sender sleeps until then.
    async fn next_delivery_due(&self) -> Result<Option<Timestamp>, StoreError>;
}
