//! The test harness: `app(state)` driven with `oneshot`, a real mock UPS on an ephemeral
//! loopback port, a temporary SQLite file, and a clock the test can move forward.
//!
//! [`Harness::builder`] sets the knobs before the host starts; [`calls`] holds the typed calls
//! of the widget API (core's `api` types in and out); [`binary`] starts the real binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use host_example::access::{
    Access, ApiKeys, CompanyGrant, KeyId, Role, SessionClaims, SessionSigner,
};
use host_example::clock::OffsetClock;
use host_example::config::{HostConfig, HttpLimits};
use host_example::crypto::TokenKey;
use host_example::provider::Provider;
use host_example::store::{Claim, ClaimKind, ClaimOutcome, Store};
use host_example::tokens::TokenPair;
use host_example::webhooks::{WebhookSecret, Webhooks};
use host_example::{app, AppState};
use http_body_util::BodyExt;
use mock_ups::{spawn, EndpointFault, FaultKind, Faults, MockConfig, MockStats, MockUps};
use oauth2::ClientSecret;
use serde_json::{json, Value};
use token_manager_core::api::ExchangeBody;
use token_manager_core::config::{ProviderConfig, UpsEntry, UpsFlow};
use token_manager_core::webhook::RetryPolicy;
use token_manager_core::Timestamp;
use tower::ServiceExt;
use url::Url;

pub mod binary;
pub mod calls;
/// The throw-away PostgreSQL cluster of `store/postgres` (std and `tempfile` only).
#[path = "../../../src/store/postgres/cluster.rs"]
pub mod cluster;
pub mod engine;

pub use calls::Reply;

pub const PUBLIC: &str = "http://127.0.0.1:8080";
pub const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";
pub const COMPANY: &str = "demo-co";
pub const FOUR_HOURS: Duration = Duration::from_secs(4 * 3600);

/// The knobs a test may turn before the host starts; [`Builder::start`] starts it.
pub struct Builder {
    host: HostConfig,
    mock: MockConfig,
    limits: HttpLimits,
    hooks: Hooks,
}

/// How every host of a harness speaks UPS (default: UPS's current spec).
#[derive(Clone, Copy, Debug)]
pub struct Ups {
    pub entry: UpsEntry,
    pub flow: UpsFlow,
}

/// The webhook settings of a harness's hosts (every host of a harness shares them).
#[derive(Clone)]
pub struct Hooks {
    /// UPS entry and flow (a provider setting, shared like the webhooks).
    pub ups: Ups,
    /// The OAuth client secret.
    pub client_secret: String,
    pub urls: Vec<String>,
    /// The secret's text form (`whsec_…`), for verifying signatures.
    pub secret: String,
    pub retry: RetryPolicy,
}

impl Hooks {
    fn build(&self) -> Webhooks {
        if self.urls.is_empty() {
            return Webhooks::disabled();
        }
        Webhooks::new(
            self.urls.clone(),
            WebhookSecret::parse(&self.secret, "test").unwrap(),
            self.retry,
        )
    }
}

impl Builder {
    /// Any host setting.
    pub fn host(mut self, f: impl FnOnce(&mut HostConfig)) -> Self {
        f(&mut self.host);
        self
    }
    /// Any mock UPS setting.
    pub fn mock(mut self, f: impl FnOnce(&mut MockConfig)) -> Self {
        f(&mut self.mock);
        self
    }
    /// Opt-in attempts per user and company per minute.
    pub fn exchange_per_minute(self, n: u32) -> Self {
        self.host(|h| h.exchange_per_minute = n)
    }
    /// The companies of the demo portal (`id=Name,…`).
    pub fn companies(self, list: &str) -> Self {
        let companies = list.parse().unwrap();
        self.host(|h| h.companies = companies)
    }
    /// Total timeout of provider calls.
    pub fn provider_timeout(mut self, d: Duration) -> Self {
        self.limits.timeout = d;
        self.limits.refresh_timeout = d;
        self
    }
    /// Total timeout of refresh calls.
    pub fn provider_refresh_timeout(mut self, d: Duration) -> Self {
        self.limits.refresh_timeout = d;
        self
    }
    /// Connect timeout of provider calls.
    pub fn provider_connect_timeout(mut self, d: Duration) -> Self {
        self.limits.connect_timeout = d;
        self
    }
    /// The OAuth client secret, at the mock and in the host.
    pub fn client_secret(mut self, secret: &str) -> Self {
        self.hooks.client_secret = secret.to_owned();
        for c in &mut self.mock.clients {
            c.client_secret = secret.to_owned();
        }
        self
    }
    /// Speak UPS with this entry point and token flow.
    pub fn ups(mut self, entry: UpsEntry, flow: UpsFlow) -> Self {
        self.hooks.ups = Ups { entry, flow };
        self
    }
    /// Give a failing webhook delivery up this long after its event.
    pub fn webhook_give_up(mut self, after: Duration) -> Self {
        self.hooks.retry.give_up_after = after;
        self
    }
    /// Deliver webhooks to `urls`, retrying after `min_retry` (doubling up to 1 s).
    pub fn webhooks(mut self, urls: &[String], min_retry: Duration) -> Self {
        self.hooks.urls = urls.to_vec();
        self.hooks.retry = RetryPolicy {
            min: min_retry,
            max: Duration::from_secs(1),
            ..self.hooks.retry
        };
        self
    }

    /// Start the mock UPS and build the host's state.
    pub async fn start(self) -> Harness {
        let (addr, mock) = spawn(self.mock).await.unwrap();
        let mock_base = format!("http://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tm.db");
        let key = TokenKey::generate();
        let api_key = ApiKeys::generate();
        let clock = Arc::new(OffsetClock::default());
        engine::prepare(&db, &key).await;
        let state = build_state(
            &db,
            &key,
            &api_key,
            &mock_base,
            self.host.clone(),
            self.limits,
            clock.clone(),
            &self.hooks,
        );
        let id = state.sessions().create(Some("admin"));
        let mut h = Harness {
            dir,
            db,
            key,
            api_key,
            mock,
            mock_base,
            state,
            clock,
            auth: String::new(),
            portal_cookie: format!("tm_session={id}"),
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            host_config: self.host,
            limits: self.limits,
            hooks: self.hooks,
        };
        // The harness's own session lives a year, signed with the host's key directly: tests
        // move the clock hours ahead. (`POST /api/v1/sessions` caps real ones at an hour; see
        // `mint_session`.)
        let claims = SessionClaims {
            user: "admin".into(),
            name: "Ada Admin".into(),
            companies: h
                .host_config
                .companies
                .all()
                .iter()
                .map(|c| CompanyGrant {
                    id: c.id.clone(),
                    role: Role::Admin,
                })
                .collect(),
            issued_at: Timestamp(chrono_now()),
            expires_at: Timestamp(chrono_now() + 365 * 24 * 3_600_000),
            key_id: KeyId("harness".into()),
        };
        h.auth = format!("Bearer {}", SessionSigner::new(&h.key, &[]).mint(&claims));
        h
    }
}

/// A host (its state, over a temporary database) and the mock UPS it talks to.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub key: TokenKey,
    /// The portal backend's API key.
    pub api_key: String,
    pub mock: MockUps,
    pub mock_base: String,
    pub state: AppState,
    pub clock: Arc<OffsetClock>,
    /// The `Authorization` header of the harness's session token: user `admin`, admin of every
    /// company.
    pub auth: String,
    /// The `Cookie` header of the demo portal's session (user `admin`), for its pages.
    pub portal_cookie: String,
    /// A client that follows no redirects, for the mock's screens.
    pub browser: reqwest::Client,
    pub host_config: HostConfig,
    pub limits: HttpLimits,
    pub hooks: Hooks,
}

impl Harness {
    /// The knobs, at the harness defaults (jobs ticking every 20 ms, 5 s provider timeout).
    pub fn builder() -> Builder {
        let mut host = HostConfig::new(Url::parse(PUBLIC).unwrap());
        host.static_dir = PathBuf::from("/nonexistent-widget-dir");
        host.retrieval_interval = Duration::from_millis(20);
        host.refresh_tick = Duration::from_millis(20);
        Builder {
            host,
            mock: MockConfig::default(),
            limits: HttpLimits {
                connect_timeout: Duration::from_secs(2),
                timeout: Duration::from_secs(5),
                refresh_timeout: Duration::from_secs(5) * 2,
            },
            hooks: Hooks {
                ups: Ups {
                    entry: UpsEntry::Authorize,
                    flow: UpsFlow::Pkce,
                },
                client_secret: "demo-secret".into(),
                urls: Vec::new(),
                secret: WebhookSecret::generate(),
                retry: RetryPolicy::default(),
            },
        }
    }

    /// A host with the defaults.
    pub async fn new() -> Self {
        Self::builder().start().await
    }

    /// Another host process on the same database file (its own store, sessions and locks; the
    /// same keys, so it accepts the same session tokens).
    pub fn second_host(&self, clock: Arc<OffsetClock>) -> AppState {
        self.state_with(&self.db, &self.key, &self.mock_base, clock)
    }

    /// This harness's host (provider, config, API key, session) over another database file
    /// sealed with `key`, with a clock of its own.
    pub fn on_database(self, db: PathBuf, key: TokenKey) -> Harness {
        let clock = Arc::new(OffsetClock::default());
        let state = self.state_with(&db, &key, &self.mock_base, clock.clone());
        Harness {
            state,
            db,
            key,
            clock,
            ..self
        }
    }

    /// The same host over another provider origin and database (e.g. a dead provider).
    pub fn host_against(&self, provider_base: &str, db: &Path) -> AppState {
        self.state_with(db, &self.key, provider_base, self.clock.clone())
    }

    /// A host with this harness's API key, config and limits over `db`, `key`, the provider at
    /// `provider_base` and `clock`.
    fn state_with(
        &self,
        db: &Path,
        key: &TokenKey,
        provider_base: &str,
        clock: Arc<OffsetClock>,
    ) -> AppState {
        build_state(
            db,
            key,
            &self.api_key,
            provider_base,
            self.host_config.clone(),
            self.limits,
            clock,
            &self.hooks,
        )
    }

    /// A call of the server API with the harness's API key: `method uri` with a JSON body
    /// (or none), on host `state`.
    pub async fn server_on(
        &self,
        state: &AppState,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.api_key));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        send_to(app(state.clone()), request.body(body).unwrap()).await
    }

    /// A server-API call on this harness's host.
    pub async fn server(
        &self,
        method: Method,
        uri: &str,
        body: Option<&Value>,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        self.server_on(&self.state, method, uri, body).await
    }

    /// A Tracking API call through the proxy for `company`, on host `state`.
    pub async fn track_on(&self, state: &AppState, company: &str) -> (StatusCode, Value) {
        let (s, _, b) = self
            .server_on(
                state,
                Method::GET,
                &format!("/api/v1/companies/{company}/proxy/track/v1/details/1Z999AA10123456784"),
                None,
            )
            .await;
        (s, b)
    }

    /// Serve `app(state)` on an ephemeral loopback port until the test ends; its origin.
    pub async fn serve(&self, state: &AppState) -> String {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(state.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        format!("http://{addr}")
    }

    pub fn app(&self) -> Router {
        app(self.state.clone())
    }

    /// Send a request through `app(state)`; returns status, headers and the body as JSON
    /// (or as a JSON string when it is not JSON).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        send_to(self.app(), request).await
    }

    /// A GET with the harness's session token (and the portal's cookie, for its pages);
    /// status and JSON body.
    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(
                Request::get(uri)
                    .header(header::AUTHORIZATION, &self.auth)
                    .header(header::COOKIE, &self.portal_cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (s, b)
    }

    /// A GET of a portal page with the portal cookie `cookie` (and no session token).
    pub async fn page(
        &self,
        uri: &str,
        cookie: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        self.send(
            Request::get(uri)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// A same-origin state-changing call, as the widget makes it.
    pub async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri(uri)
                    .header(header::AUTHORIZATION, &self.auth)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ORIGIN, PUBLIC)
                    .header("X-Token-Manager", "1")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        (s, b)
    }

    /// A session token for `user` with these companies and roles, from `POST /api/v1/sessions`
    /// with the harness's API key (what a portal backend does).
    pub async fn mint_session(&self, user: &str, companies: &[(String, Role)]) -> String {
        let body = json!({
            "user": {"id": user, "name": format!("{user} (test)")},
            "companies": companies.iter().map(|(id, role)| json!({
                "id": id,
                // The portal's names, as the demo pages mint them (no rename on every mint).
                "name": self.host_config.companies.get(id).map_or(id.as_str(), |c| c.name.as_str()),
                "role": match role { Role::Admin => "admin", Role::Viewer => "viewer" },
            })).collect::<Vec<_>>(),
            "ttl_secs": 3600,
        });
        let (s, _, b) = self
            .send(
                Request::post("/api/v1/sessions")
                    .header(header::AUTHORIZATION, format!("Bearer {}", self.api_key))
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["session_token"].as_str().unwrap().to_owned()
    }

    /// Drive the mock's screens (Log In → Password) from `authorize`; returns the redirect
    /// back to the host.
    pub async fn mock_sign_in(&self, authorize: &str, user: &str, password: &str) -> Url {
        let back = mock_ups::testing::sign_in(&self.browser, authorize, user, password)
            .await
            .unwrap();
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        back
    }

    pub fn stats(&self) -> MockStats {
        self.mock.stats()
    }

    /// The stored pair, decrypted (for assertions only).
    pub async fn stored_tokens(&self, company: &str) -> Option<TokenPair> {
        stored_tokens(self.state.store(), company).await
    }

    /// Every byte SQLite has on disk for this database (main file, WAL).
    pub fn raw_db_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-journal"] {
            let p = PathBuf::from(format!("{}{suffix}", self.db.display()));
            if let Ok(bytes) = std::fs::read(&p) {
                all.extend(bytes);
            }
        }
        all
    }

    /// One value of `sql` on this harness's database, whichever engine.
    pub fn query_one(&self, sql: &str) -> engine::SqlValue {
        engine::query_one(&self.db, sql)
    }

    /// Ciphertext columns of the company's row, read with a separate connection.
    pub fn ciphertexts(&self, company: &str) -> Vec<Option<Vec<u8>>> {
        ciphertexts(&self.db, company)
    }
}

/// Send a request through a router; status, headers, and the body as JSON (or a JSON string).
pub async fn send_to(
    router: Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}

/// The `tm_session=…` pair a response sets, for a later request's `Cookie` header.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("tm_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// The company's stored pair, decrypted through a Clear claim released at once.
pub async fn stored_tokens(store: &dyn Store, company: &str) -> Option<TokenPair> {
    let lease = store
        .claim(Claim {
            company: company.to_owned(),
            owner: "test-inspector".into(),
            kind: ClaimKind::Clear,
            now: Timestamp(0),
            until: Timestamp(1),
        })
        .await
        .unwrap();
    store.release(company, "test-inspector").await.unwrap();
    match lease {
        ClaimOutcome::Acquired(l) => l.tokens,
        other => panic!("{other:?}"),
    }
}

pub fn ciphertexts(db: &Path, company: &str) -> Vec<Option<Vec<u8>>> {
    if let Some(columns) = engine::ciphertexts(db, company) {
        return columns;
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT access_ct, access_nonce, refresh_ct, refresh_nonce FROM authorizations WHERE company = ?1",
        [company],
        |r| {
            Ok(vec![
                r.get("access_ct")?,
                r.get("access_nonce")?,
                r.get("refresh_ct")?,
                r.get("refresh_nonce")?,
            ])
        },
    )
    .unwrap()
}

#[allow(clippy::too_many_arguments)]
pub fn build_state(
    db: &Path,
    key: &TokenKey,
    api_key: &str,
    mock_base: &str,
    host: HostConfig,
    limits: HttpLimits,
    clock: Arc<OffsetClock>,
    hooks: &Hooks,
) -> AppState {
    build_state_with_keys(db, key, &[api_key], mock_base, host, limits, clock, hooks)
}

/// [`build_state`] accepting several API keys.
#[allow(clippy::too_many_arguments)]
pub fn build_state_with_keys(
    db: &Path,
    key: &TokenKey,
    api_keys: &[&str],
    mock_base: &str,
    host: HostConfig,
    limits: HttpLimits,
    clock: Arc<OffsetClock>,
    hooks: &Hooks,
) -> AppState {
    let access = Access {
        api_keys: ApiKeys::new(api_keys.iter().copied(), "test").unwrap(),
        sessions: SessionSigner::new(key, &[]),
    };
    let store = engine::store(db, key);
    let provider = Provider::new(
        ProviderConfig::ups_with(
            mock_base,
            "demo-client",
            REDIRECT,
            hooks.ups.entry,
            hooks.ups.flow,
        )
        .unwrap(),
        ClientSecret::new(hooks.client_secret.clone()),
        limits,
        Some(Url::parse(&format!("{mock_base}/api/")).unwrap()),
    )
    .unwrap();
    AppState::with_clock(host, provider, store, access, hooks.build(), clock)
}

pub fn exchange_json(body: &ExchangeBody) -> Value {
    json!({
        "company": body.company,
        "code": body.code,
        "state": body.state,
    })
}

pub fn chrono_now() -> i64 {
    host_example::clock::system_now().0
}

/// `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Mock faults that hold every refresh `ms` milliseconds at the provider (then answer it).
pub fn slow_refreshes(ms: u64) -> Faults {
    Faults {
        refresh: EndpointFault {
            kind: FaultKind::Slow,
            slow_ms: Some(ms),
            times: None,
        },
        ..Faults::default()
    }
}
