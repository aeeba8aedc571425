//! The typed configuration of one host process: what [`crate::cli`] makes of the flags and
//! what [`crate::startup::Application::build`] needs. Tests build it directly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use token_manager_core::config::ups;
use url::Url;

use crate::config::{Companies, HttpLimits};

/// Everything a host process is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Host address (port 0 = ephemeral).
    pub listen: SocketAddr,
    /// Origin the browser uses for the host; `None`: `http://<bound address>`.
    pub public_url: Option<Url>,
    /// The page the provider returns to; `None`: `{public_url}/admin/token-manager`.
    pub redirect_uri: Option<Url>,
    /// Where the store lives: a SQLite file or a PostgreSQL database.
    pub db: Database,
    /// PostgreSQL over TLS (`sslmode=require`): the CA file, if not Mozilla's roots.
    pub db_tls: crate::config::PgTls,
    /// Where the token-encryption key comes from.
    pub key: KeySettings,
    /// The portal backend's API key file (created 0600 with one key when absent), unless
    /// `api_key_env` is set.
    pub api_key_file: PathBuf,
    /// The value of `TOKEN_MANAGER_API_KEY`, if set.
    pub api_key_env: Option<String>,
    /// Built npm package served at `/assets/token-manager/`.
    pub static_dir: PathBuf,
    /// The provider.
    pub provider: ProviderSettings,
    /// Refresh this long before the access token expires (capped at half its lifetime).
    pub refresh_skew: Duration,
    /// How often the refresher looks for due work when it has none.
    pub refresh_tick: Duration,
    /// Refreshes in flight at once in this process.
    pub refresh_concurrency: usize,
    /// Spread of each refresh time, in percent of its lead (see `RefreshPolicy::jitter_percent`).
    pub refresh_jitter_percent: u8,
    /// Retrieval job period.
    pub retrieval_interval: Duration,
    /// After binding, write `{"host":"http://…","mock":"http://…"}` here.
    pub ready_file: Option<PathBuf>,
    /// Companies of the demo portal.
    pub companies: Companies,
    /// Extra origins allowed to call the API with credentials.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose forwarding headers name the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Synthetic past history rows to insert at start: (company, count).
    pub seed_history: Vec<(String, u32)>,
    /// Base URL of the provider API the proxy forwards to [UPS: `{host}/api/`; mock: its
    /// `/api/`; generic: none].
    pub api_base: Option<Url>,
    /// Webhook endpoints (none: no events are written).
    pub webhook_urls: Vec<Url>,
    /// The Standard Webhooks secret file (created 0600 on first run).
    pub webhook_secret_file: PathBuf,
    /// When failed deliveries are retried.
    pub webhook_retry: token_manager_core::webhook::RetryPolicy,
    /// Provider call timeouts.
    pub limits: HttpLimits,
    /// Opt-in attempts (`/start`, `/exchange`) allowed per portal user and company per minute.
    pub exchange_per_minute: u32,
    /// Most requests handled at once by the whole host (`--max-in-flight`).
    pub max_in_flight: usize,
    /// UPS entry point and token flow (`--provider ups` and the mock).
    pub ups: UpsSettings,
    /// What a generic provider's metadata must satisfy.
    pub discovery: token_manager_core::config::DiscoveryRules,
    /// Header timeout and connection cap of the server.
    pub edge: crate::config::EdgeLimits,
}

/// How the UPS preset (and the mock, which speaks it) is spoken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpsSettings {
    /// Where an opt-in starts.
    pub entry: token_manager_core::config::UpsEntry,
    /// Which token flow.
    pub flow: token_manager_core::config::UpsFlow,
}

impl Default for UpsSettings {
    fn default() -> Self {
        Self {
            entry: token_manager_core::config::UpsEntry::Authorize,
            flow: token_manager_core::config::UpsFlow::Pkce,
        }
    }
}

/// Where the store lives (`--db`): a `postgres://…` or `postgresql://…` URL is a PostgreSQL
/// database, anything else a SQLite file.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file, created and migrated on start (one machine).
    Sqlite(PathBuf),
    /// A PostgreSQL database, migrated on start, that several host processes may share: its
    /// URL as libpq takes it (`postgres://user[:password]@host[:port]/db[?…]`).
    Postgres(String),
}

impl Database {
    /// Whether `s` is a PostgreSQL URL (the scheme, in any case, is `postgres` or
    /// `postgresql`).
    pub fn is_postgres_url(s: &str) -> bool {
        let scheme = s.split_once("://").map_or("", |(scheme, _)| scheme);
        scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql")
    }
}

impl std::str::FromStr for Database {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(if Self::is_postgres_url(s) {
            Database::Postgres(s.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(s))
        })
    }
}

/// The path, or the URL without its password and parameters (what the banner and errors
/// print).
impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => write!(f, "{}", path.display()),
            Database::Postgres(url) => match Url::parse(url) {
                Ok(u) => {
                    write!(f, "{}://", u.scheme())?;
                    if !u.username().is_empty() {
                        write!(f, "{}@", u.username())?;
                    }
                    write!(f, "{}", u.host_str().unwrap_or(""))?;
                    if let Some(port) = u.port() {
                        write!(f, ":{port}")?;
                    }
                    f.write_str(u.path())
                }
                Err(_) => f.write_str("postgres://[an unparsable URL]"),
            },
        }
    }
}

/// As [`Display`](std::fmt::Display): never the URL's password.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(_) => write!(f, "Sqlite({self})"),
            Database::Postgres(_) => write!(f, "Postgres({self})"),
        }
    }
}

/// The token-encryption key: `TOKEN_MANAGER_KEY` (base64) or a key file created 0600, plus
/// previous keys during a rotation.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// The key file (used unless `env` is set).
    pub file: PathBuf,
    /// The value of `TOKEN_MANAGER_KEY`, if set.
    pub env: Option<String>,
    /// Previous keys, base64, from `TOKEN_MANAGER_OLD_KEYS`.
    pub old_env: Option<String>,
    /// Previous key files.
    pub old_files: Vec<PathBuf>,
}

/// Which provider the host talks to, and how it authenticates there.
#[derive(Debug, Clone)]
pub enum ProviderSettings {
    /// The mock UPS, started in this process.
    Mock(MockSettings),
    /// UPS.
    Ups {
        /// e.g. `https://wwwcie.ups.com` or `https://onlinetools.ups.com`.
        host: String,
        /// The client id.
        client_id: String,
        /// File holding the client secret.
        secret_file: PathBuf,
    },
    /// Any RFC 6749 server described by RFC 8414 metadata at `issuer`.
    Generic {
        /// The issuer.
        issuer: Url,
        /// The client id.
        client_id: String,
        /// File holding the client secret.
        secret_file: PathBuf,
        /// Scope requested.
        scope: String,
        /// `prompt` to send (`None`: consent when the scope has offline_access).
        prompt: Option<String>,
        /// Extra authorize parameters.
        authorize_params: Vec<(String, String)>,
    },
}

/// The in-process mock UPS.
#[derive(Debug, Clone)]
pub struct MockSettings {
    /// Its address (port 0 = ephemeral).
    pub listen: SocketAddr,
    /// The client id it registers [default: demo-client].
    pub client_id: String,
    /// File holding the client secret; `None`: `demo-secret`.
    pub secret_file: Option<PathBuf>,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
    /// Faults from the start, as JSON (see the mock's docs).
    pub faults: Option<String>,
}

impl Settings {
    /// A host on `listen` over the mock UPS on `mock_listen`, every other setting at its
    /// default (what `host-example` does with no flags, on the given addresses and files).
    pub fn mock(
        listen: SocketAddr,
        mock_listen: SocketAddr,
        db: PathBuf,
        key_file: PathBuf,
    ) -> Self {
        let api_key_file = key_file.with_extension("api-key");
        let webhook_secret_file = key_file.with_extension("webhook-secret");
        Self {
            webhook_secret_file,
            api_key_file,
            api_key_env: None,
            listen,
            public_url: None,
            redirect_uri: None,
            db: Database::Sqlite(db),
            db_tls: crate::config::PgTls::default(),
            key: KeySettings {
                file: key_file,
                env: None,
                old_env: None,
                old_files: Vec::new(),
            },
            static_dir: PathBuf::from("pkg/dist"),
            provider: ProviderSettings::Mock(MockSettings {
                listen: mock_listen,
                client_id: "demo-client".into(),
                secret_file: None,
                access_ttl: Duration::from_secs(3_599),
                refresh_ttl: Duration::from_secs(5_183_999),
                faults: None,
            }),
            refresh_skew: Duration::from_secs(300),
            refresh_tick: Duration::from_millis(1000),
            refresh_concurrency: 32,
            refresh_jitter_percent: 50,
            retrieval_interval: Duration::from_millis(30_000),
            ready_file: None,
            companies: Companies::default(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            seed_history: Vec::new(),
            api_base: None,
            webhook_urls: Vec::new(),
            webhook_retry: token_manager_core::webhook::RetryPolicy::default(),
            limits: HttpLimits::default(),
            exchange_per_minute: 20,
            max_in_flight: 512,
            ups: UpsSettings::default(),
            discovery: token_manager_core::config::DiscoveryRules::default(),
            edge: crate::config::EdgeLimits::default(),
        }
    }
}

/// The UPS host used when none is given.
pub const DEFAULT_UPS_HOST: &str = ups::TEST_HOST;

#[cfg(test)]
mod tests {
    use super::Database;

    #[test]
    fn db_urls_select_postgres_and_never_print_their_password() {
        let pg: Database = "postgresql://tm:s3cret@db.internal:5433/tm?sslmode=disable"
            .parse()
            .unwrap_or_else(|e| match e {});
        assert!(matches!(&pg, Database::Postgres(u) if u.contains("s3cret")));
        for shown in [pg.to_string(), format!("{pg:?}")] {
            assert!(
                !shown.contains("s3cret") && !shown.contains("sslmode"),
                "{shown}"
            );
            assert!(
                shown.contains("postgresql://tm@db.internal:5433/tm"),
                "{shown}"
            );
        }
        assert!(matches!(
            "POSTGRES://localhost/x".parse(),
            Ok(Database::Postgres(_))
        ));
        for path in ["./token-manager.db", "postgres.db", "/var/lib/postgres://x"] {
            assert_eq!(
                path.parse::<Database>().ok(),
                Some(Database::Sqlite(path.into())),
                "{path}"
            );
        }
    }
}
