//! Test harness: `app(state)` driven with `oneshot`, a real mock UPS on an ephemeral loopback
//! port, a temporary SQLite file, and a clock the test can move forward.
#![allow(clippy::unwrap_used, dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use host_example::config::{HostConfig, HttpLimits};
use host_example::crypto::{TokenCipher, TokenKey};
use host_example::provider::Provider;
use host_example::state::OffsetClock;
use host_example::store::{ClaimKind, ClaimOutcome, SqliteStore, Store, TokenPair};
use host_example::{app, AppState};
use http_body_util::BodyExt;
use mock_ups::{spawn, EndpointFault, FaultKind, Faults, MockConfig, MockStats, MockUps};
use oauth2::ClientSecret;
use rand::RngCore;
use serde_json::{json, Value};
use token_manager_core::api::{ConfigResponse, ExchangeBody};
use token_manager_core::config::ProviderConfig;
use token_manager_core::flow::{CallbackParams, PendingAuthorization, DEFAULT_MAX_AGE};
use token_manager_core::Timestamp;
use tower::ServiceExt;
use url::Url;

pub const PUBLIC: &str = "http://127.0.0.1:8080";
pub const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";
pub const COMPANY: &str = "demo-co";

/// Knobs a test may turn before the host starts.
pub struct Setup {
    pub host: HostConfig,
    pub mock: MockConfig,
    pub limits: HttpLimits,
}

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    pub key: TokenKey,
    pub mock: MockUps,
    pub mock_base: String,
    pub state: AppState,
    pub clock: Arc<OffsetClock>,
    pub cookie: String,
    pub browser: reqwest::Client,
    pub host_config: HostConfig,
    pub limits: HttpLimits,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with(|_| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut Setup)) -> Self {
        let mut host = HostConfig::new(Url::parse(PUBLIC).unwrap());
        host.static_dir = PathBuf::from("/nonexistent-widget-dir");
        host.retrieval_interval = Duration::from_millis(20);
        host.refresh_tick = Duration::from_millis(20);
        let mut setup = Setup {
            host,
            mock: MockConfig::default(),
            limits: HttpLimits {
                connect_timeout: Duration::from_secs(2),
                timeout: Duration::from_secs(5),
            },
        };
        tweak(&mut setup);
        let (addr, mock) = spawn(setup.mock).await.unwrap();
        let mock_base = format!("http://{addr}");
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("tm.db");
        let key = TokenKey::generate();
        let clock = Arc::new(OffsetClock::default());
        let state = build_state(
            &db,
            &key,
            &mock_base,
            setup.host.clone(),
            setup.limits,
            clock.clone(),
        );
        let id = state.sessions().create("admin");
        Self {
            dir,
            db,
            key,
            mock,
            mock_base,
            state,
            clock,
            cookie: format!("tm_session={id}"),
            browser: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            host_config: setup.host,
            limits: setup.limits,
        }
    }

    /// Another host process on the same database file (its own store, sessions and locks).
    pub fn second_host(&self, clock: Arc<OffsetClock>) -> AppState {
        build_state(
            &self.db,
            &self.key,
            &self.mock_base,
            self.host_config.clone(),
            self.limits,
            clock,
        )
    }

    pub fn app(&self) -> Router {
        app(self.state.clone())
    }

    /// Send a request through `app(state)`; returns status, headers and the body as JSON
    /// (or as a JSON string when it is not JSON).
    pub async fn send(&self, request: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        let response = self.app().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, headers, body)
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(
                Request::get(uri)
                    .header(header::COOKIE, &self.cookie)
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        (s, b)
    }

    /// A same-origin state-changing call, as the widget makes it.
    pub async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        let (s, _, b) = self
            .send(
                Request::builder()
                    .method(Method::POST)
                    .uri(uri)
                    .header(header::COOKIE, &self.cookie)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header(header::ORIGIN, PUBLIC)
                    .header("X-Token-Manager", "1")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await;
        (s, b)
    }

    /// What the widget does on Authorize + return: `/config`, core's flow, the mock's
    /// sign-in screens (Log In → Password), core's callback check. Returns the exchange body.
    pub async fn sign_in(&self, company: &str) -> ExchangeBody {
        self.sign_in_with(company, "demo-password").await
    }

    pub async fn sign_in_with(&self, company: &str, password: &str) -> ExchangeBody {
        let (status, config) = self
            .get(&format!("/api/optin/config?company={company}"))
            .await;
        assert_eq!(status, StatusCode::OK, "{config}");
        let config: ConfigResponse = serde_json::from_value(config).unwrap();
        let mut entropy = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut entropy);
        let now = Timestamp(chrono_now());
        let (authorize, pending) =
            PendingAuthorization::start(&config, &entropy, now, company, None).unwrap();
        let back = self
            .mock_sign_in(authorize.as_str(), "demo", password)
            .await;
        let params = CallbackParams::parse(back.as_str()).unwrap().unwrap();
        pending
            .handle_callback(params, Timestamp(chrono_now()), DEFAULT_MAX_AGE)
            .unwrap()
            .into_body()
    }

    /// Drive the mock's two screens; returns the redirect back to the host.
    pub async fn mock_sign_in(&self, authorize: &str, user: &str, password: &str) -> Url {
        let page = self.browser.get(authorize).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.unwrap();
        assert!(html.contains("Email or Username"));
        let txn = txn_of(&html);
        let signin = format!("{}/lasso/signin", self.mock_base);
        let page = self
            .browser
            .post(&signin)
            .form(&[
                ("txn", txn.as_str()),
                ("action", "continue"),
                ("username", user),
                ("agree", "yes"),
            ])
            .send()
            .await
            .unwrap();
        assert!(page.text().await.unwrap().contains("Welcome back,"));
        let back = self
            .browser
            .post(&signin)
            .form(&[
                ("txn", txn.as_str()),
                ("action", "login"),
                ("password", password),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), StatusCode::FOUND);
        let location = back.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        Url::parse(location).unwrap()
    }

    /// Full opt-in for `company`; returns the exchange's status and body.
    pub async fn authorize(&self, company: &str) -> (StatusCode, Value) {
        self.authorize_with_password(company, "demo-password").await
    }

    pub async fn authorize_with_password(
        &self,
        company: &str,
        password: &str,
    ) -> (StatusCode, Value) {
        let body = self.sign_in_with(company, password).await;
        self.post("/api/optin/exchange", &exchange_json(&body))
            .await
    }

    pub async fn tokens(&self, company: &str) -> Value {
        let (s, b) = self
            .get(&format!("/api/optin/tokens?company={company}&per_page=100"))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    pub fn stats(&self) -> MockStats {
        self.mock.stats()
    }

    /// The stored pair, decrypted (for assertions only).
    pub async fn stored_tokens(&self, company: &str) -> Option<TokenPair> {
        let c = company.to_owned();
        let lease = self
            .state
            .db(move |s| {
                s.claim(
                    &c,
                    "test-inspector",
                    Timestamp(0),
                    Timestamp(1),
                    ClaimKind::Clear,
                )
            })
            .await
            .unwrap();
        let c = company.to_owned();
        self.state
            .db(move |s| s.release(&c, "test-inspector"))
            .await
            .unwrap();
        match lease {
            ClaimOutcome::Acquired(l) => l.tokens,
            other => panic!("{other:?}"),
        }
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

    /// Ciphertext columns of the company's row, read with a separate connection.
    pub fn ciphertexts(&self, company: &str) -> Vec<Option<Vec<u8>>> {
        ciphertexts(&self.db, company)
    }
}

pub fn ciphertexts(db: &Path, company: &str) -> Vec<Option<Vec<u8>>> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT access_ct, access_nonce, refresh_ct, refresh_nonce FROM authorizations WHERE company = ?1",
        [company],
        |r| Ok(vec![r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?]),
    )
    .unwrap()
}

pub fn build_state(
    db: &Path,
    key: &TokenKey,
    mock_base: &str,
    host: HostConfig,
    limits: HttpLimits,
    clock: Arc<OffsetClock>,
) -> AppState {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db, TokenCipher::new(key)).unwrap());
    let provider = Provider::new(
        ProviderConfig::ups(mock_base, "demo-client", REDIRECT).unwrap(),
        ClientSecret::new("demo-secret".into()),
        limits,
        Some(Url::parse(mock_base).unwrap()),
    )
    .unwrap();
    AppState::with_clock(host, provider, store, clock)
}

pub fn exchange_json(body: &ExchangeBody) -> Value {
    json!({
        "company": body.company,
        "code": body.code,
        "code_verifier": body.code_verifier,
        "redirect_uri": body.redirect_uri,
    })
}

pub fn txn_of(html: &str) -> String {
    let start = html.find(r#"name="txn" value=""#).expect("txn field") + 18;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

pub fn chrono_now() -> i64 {
    host_example::state::system_now().0
}

/// `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

pub const FOUR_HOURS: Duration = Duration::from_secs(4 * 3600);

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
