//! The command line: clap flags (each also an env variable `TM_<FLAG>`) and their translation
//! into [`Settings`]. No IO here: files named by flags are read at startup.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use url::Url;

use crate::access::API_KEY_ENV;
use crate::config::{Companies, HttpLimits, DEFAULT_COMPANIES};
use crate::crypto::{KEY_ENV, OLD_KEYS_ENV};
use crate::settings::{
    Database, KeySettings, MockSettings, ProviderSettings, Settings, UpsSettings, DEFAULT_UPS_HOST,
};
use token_manager_core::config::{UpsEntry, UpsFlow};

/// Which provider the host talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderChoice {
    /// The built-in mock UPS on `--mock-listen`.
    Mock,
    /// UPS (`--ups-host`, `--client-id`, `--client-secret-file`).
    Ups,
    /// Any RFC 6749 server described by RFC 8414 metadata at `--issuer`.
    Generic,
}

/// `--ups-entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpsEntryChoice {
    /// `GET /security/v1/oauth/authorize`.
    Authorize,
    /// `GET /security/v1/oauth/validate-client`.
    ValidateClient,
}

/// `--ups-flow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpsFlowChoice {
    /// Auth-Code with PKCE.
    Pkce,
    /// Plain Auth-Code (Basic, no verifier).
    Plain,
}

/// Example Token Manager host: widget API, server API (access token, proxy, webhooks), demo
/// portal and its retrieval worker, refresher, mock UPS.
#[derive(Debug, Parser)]
#[command(name = "host-example", version, about)]
pub struct Cli {
    /// Host address (port 0 = ephemeral).
    #[arg(long, env = "TM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Mock UPS address (port 0 = ephemeral); unused when --provider is real.
    #[arg(long, env = "TM_MOCK_LISTEN", default_value = "127.0.0.1:8081")]
    mock_listen: SocketAddr,
    /// Origin the browser uses for the host [default: http://<listen>].
    #[arg(long, env = "TM_PUBLIC_URL")]
    public_url: Option<Url>,
    /// The portal page the provider sends the browser back to (registered with the provider; the
    /// page that embeds the panel) [default: {public-url}/admin/token-manager]. Its origin must be
    /// the host's or an --allowed-origin.
    #[arg(long, env = "TM_REDIRECT_URI")]
    redirect_uri: Option<Url>,
    /// SQLite database file (created and migrated on start), or a PostgreSQL URL
    /// (postgres://user@host:port/db, migrated on start) that several host processes share.
    #[arg(long, env = "TM_DB", default_value = "./token-manager.db")]
    db: Database,
    /// PostgreSQL with `?sslmode=require`: PEM file of the CA the server's certificate must
    /// chain to [default: Mozilla's roots]. The certificate and the host name are verified.
    #[arg(long, env = "TM_DB_CA_FILE")]
    db_ca_file: Option<PathBuf>,
    /// AES key file, created with mode 0600 on first run (unless TOKEN_MANAGER_KEY is set).
    #[arg(long, env = "TM_KEY_FILE", default_value = "./token-manager.key")]
    key_file: PathBuf,
    /// The portal backend's API keys, one per line (created with mode 0600 holding one random
    /// key on first run), unless TOKEN_MANAGER_API_KEY is set.
    #[arg(
        long,
        env = "TM_API_KEY_FILE",
        default_value = "./token-manager.api-key"
    )]
    api_key_file: PathBuf,
    /// Key rotation: a previous AES key file (repeatable). Tokens sealed under it are
    /// re-encrypted with the current key on start (as are those under TOKEN_MANAGER_OLD_KEYS).
    #[arg(long = "old-key-file", env = "TM_OLD_KEY_FILE", value_delimiter = ',')]
    old_key_files: Vec<PathBuf>,
    /// Built npm package served at /assets/token-manager/.
    #[arg(long, env = "TM_STATIC_DIR", default_value = "pkg/dist")]
    static_dir: PathBuf,
    /// Provider: mock, ups or generic.
    #[arg(long, env = "TM_PROVIDER", value_enum, default_value_t = ProviderChoice::Mock)]
    provider: ProviderChoice,
    /// UPS host (--provider ups), e.g. https://wwwcie.ups.com or https://onlinetools.ups.com.
    #[arg(long, env = "TM_UPS_HOST", default_value = DEFAULT_UPS_HOST)]
    ups_host: String,
    /// Where a UPS opt-in starts: `authorize` (UPS's spec since 2023-11-06) or
    /// `validate-client` (the 2022 spec, for accounts that still need it).
    #[arg(long, env = "TM_UPS_ENTRY", value_enum, default_value_t = UpsEntryChoice::Authorize)]
    ups_entry: UpsEntryChoice,
    /// UPS token flow: `pkce` (code_challenge at /authorize; client_id + code_verifier at
    /// /token, no Basic header) or `plain` (Basic, no verifier). Refresh uses Basic in both.
    #[arg(long, env = "TM_UPS_FLOW", value_enum, default_value_t = UpsFlowChoice::Pkce)]
    ups_flow: UpsFlowChoice,
    /// A host other than the issuer's that a generic provider's endpoints may be on
    /// (repeatable); by default every endpoint must be on the issuer's host.
    #[arg(
        long = "allow-endpoint-host",
        env = "TM_ALLOW_ENDPOINT_HOST",
        value_delimiter = ','
    )]
    allow_endpoint_hosts: Vec<String>,
    /// Accept a generic provider that does not list S256 in code_challenge_methods_supported.
    #[arg(long, env = "TM_ALLOW_WITHOUT_S256")]
    allow_without_s256: bool,
    /// Development only: accept a plain-http --issuer on loopback.
    #[arg(long, env = "TM_DEV_ALLOW_HTTP_ISSUER")]
    dev_allow_http_issuer: bool,
    /// `prompt` sent to a generic provider [default: `consent` when the scope has
    /// `offline_access` (OpenID Connect Core §11: no refresh token without it), else none;
    /// `--prompt ''` sends none].
    #[arg(long, env = "TM_PROMPT")]
    prompt: Option<String>,
    /// Extra authorize-URL parameter for a generic provider, `NAME=VALUE` (repeatable; the
    /// parameters the flow sets itself cannot be overridden).
    #[arg(long = "authorize-param", env = "TM_AUTHORIZE_PARAM", value_delimiter = ',', value_parser = parse_param)]
    authorize_params: Vec<(String, String)>,
    /// Issuer of a generic provider (RFC 8414 metadata is read from it).
    #[arg(long, env = "TM_ISSUER")]
    issuer: Option<Url>,
    /// OAuth client id [mock default: demo-client].
    #[arg(long, env = "TM_CLIENT_ID")]
    client_id: Option<String>,
    /// File holding the OAuth client secret [mock default: demo-secret].
    #[arg(long, env = "TM_CLIENT_SECRET_FILE")]
    client_secret_file: Option<PathBuf>,
    /// Scope requested from a generic provider.
    #[arg(long, env = "TM_SCOPE", default_value = "")]
    scope: String,
    /// Mock UPS access token lifetime.
    #[arg(long, env = "TM_ACCESS_TTL_SECS", default_value_t = 3_599)]
    access_ttl_secs: u64,
    /// Mock UPS refresh token lifetime.
    #[arg(long, env = "TM_REFRESH_TTL_SECS", default_value_t = 5_183_999)]
    refresh_ttl_secs: u64,
    /// Refresh this long before the access token expires (capped at half its lifetime).
    #[arg(long, env = "TM_REFRESH_SKEW_SECS", default_value_t = 300)]
    refresh_skew_secs: u64,
    /// How often the refresher looks for due work when it has none (with a backlog it takes
    /// more as soon as refreshes finish).
    #[arg(long, env = "TM_REFRESH_TICK_MS", default_value_t = 1000)]
    refresh_tick_ms: u64,
    /// Refreshes in flight at once in this process. Each mostly waits on the provider, so one
    /// instance renews about this many per provider round trip; several instances on one
    /// PostgreSQL database split the due work.
    #[arg(long, env = "TM_REFRESH_CONCURRENCY", default_value_t = 32,
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    refresh_concurrency: u16,
    /// Spread refresh times over this much more of the lead, in percent (0-100): each grant
    /// is refreshed between skew and skew × (1 + P/100) before it expires, so grants made in
    /// one burst do not come due in one burst at every renewal.
    #[arg(long, env = "TM_REFRESH_JITTER_PERCENT", default_value_t = 50,
          value_parser = clap::value_parser!(u8).range(0..=100))]
    refresh_jitter_percent: u8,
    /// Period of the demo portal's retrieval worker (calls the proxy; 0 = off).
    #[arg(long, env = "TM_RETRIEVAL_INTERVAL_MS", default_value_t = 30_000)]
    retrieval_interval_ms: u64,
    /// After binding, write {"host":"http://…","mock":"http://…"} here.
    #[arg(long, env = "TM_READY_FILE")]
    ready_file: Option<PathBuf>,
    /// Companies of the demo portal: id=Name,…
    #[arg(long, env = "TM_COMPANIES", default_value = DEFAULT_COMPANIES)]
    companies: Companies,
    /// Extra origin allowed to call the API with credentials (repeatable).
    #[arg(
        long = "allowed-origin",
        env = "TM_ALLOWED_ORIGIN",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Mock UPS faults from the start, as JSON (see the mock's docs).
    #[arg(long, env = "TM_MOCK_FAULTS")]
    mock_faults: Option<String>,
    /// Insert COUNT synthetic past history rows for COMPANY at start if it has none
    /// (COMPANY:COUNT, repeatable).
    #[arg(long = "seed-history", env = "TM_SEED_HISTORY", value_delimiter = ',', value_parser = parse_seed)]
    seed_history: Vec<(String, u32)>,
    /// Base URL of the provider API the proxy (/api/v1/companies/{c}/proxy/…) forwards to
    /// [ups: {ups-host}/api/; mock: the mock's /api/; generic: none, the proxy is off].
    #[arg(long, env = "TM_API_BASE")]
    api_base: Option<Url>,
    /// Webhook endpoint of the portal's backend (repeatable); every change of an authorization
    /// is delivered there, signed per the Standard Webhooks specification.
    #[arg(long = "webhook-url", env = "TM_WEBHOOK_URL", value_delimiter = ',')]
    webhook_urls: Vec<Url>,
    /// Standard Webhooks secret (whsec_…), created with mode 0600 on first run.
    #[arg(
        long,
        env = "TM_WEBHOOK_SECRET_FILE",
        default_value = "./token-manager.webhook-secret"
    )]
    webhook_secret_file: PathBuf,
    /// First retry delay of a failed webhook delivery (doubles up to --webhook-retry-max-ms).
    #[arg(long, env = "TM_WEBHOOK_RETRY_MIN_MS", default_value_t = 1000)]
    webhook_retry_min_ms: u64,
    /// Longest retry delay of a failed webhook delivery.
    #[arg(long, env = "TM_WEBHOOK_RETRY_MAX_MS", default_value_t = 3_600_000)]
    webhook_retry_max_ms: u64,
    /// Give up a webhook delivery this long after its event (marked failed, listed, and
    /// redeliverable).
    #[arg(long, env = "TM_WEBHOOK_GIVE_UP_SECS", default_value_t = 259_200)]
    webhook_give_up_secs: u64,
    /// Connect timeout of provider calls.
    #[arg(long, env = "TM_HTTP_CONNECT_TIMEOUT_MS", default_value_t = 3000)]
    http_connect_timeout_ms: u64,
    /// Total timeout of provider calls.
    #[arg(long, env = "TM_HTTP_TIMEOUT_MS", default_value_t = 10_000)]
    http_timeout_ms: u64,
    /// Total timeout of a refresh call [default: twice --http-timeout-ms]: a refresh answer lost
    /// after the provider rotated the refresh token ends the opt-in.
    #[arg(long, env = "TM_HTTP_REFRESH_TIMEOUT_MS")]
    http_refresh_timeout_ms: Option<u64>,
    /// A request's headers must arrive within this time (slow clients are cut off; idle
    /// keep-alive connections are closed after it too).
    #[arg(long, env = "TM_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Most client connections open at once (more wait in the listen backlog).
    #[arg(long, env = "TM_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// A reverse proxy (address or CIDR, repeatable) whose `Forwarded` / `X-Forwarded-For`
    /// headers name the client in the request log; from any other peer they are ignored.
    #[arg(long = "trusted-proxy", env = "TM_TRUSTED_PROXY", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Most requests handled at once by the whole host; beyond it a request is answered 503
    /// with Retry-After at once (not queued).
    #[arg(long, env = "TM_MAX_IN_FLIGHT", default_value_t = 512)]
    max_in_flight: usize,
    /// Opt-in attempts (/start, /exchange) allowed per portal user and company per minute.
    #[arg(long, env = "TM_EXCHANGE_PER_MINUTE", default_value_t = 20)]
    exchange_per_minute: u32,
}

/// `10.0.0.0/8`, `fd00::/8`, or one address (`10.0.0.2`, a /32 or /128).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an IP address nor a CIDR block (e.g. 10.0.0.0/8)"))
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not NAME=VALUE"))?;
    if k.trim().is_empty() {
        return Err(format!("{s:?} has no name"));
    }
    Ok((k.trim().to_owned(), v.to_owned()))
}

fn parse_seed(s: &str) -> Result<(String, u32), String> {
    let (company, count) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} is not COMPANY:COUNT"))?;
    let count = count
        .parse::<u32>()
        .map_err(|_| format!("{count:?} is not a row count"))?;
    Ok((company.to_owned(), count))
}

/// The secrets the environment may carry instead of files.
#[derive(Debug, Default, Clone)]
pub struct SecretEnv {
    /// `TOKEN_MANAGER_KEY`.
    pub key: Option<String>,
    /// `TOKEN_MANAGER_OLD_KEYS`.
    pub old_keys: Option<String>,
    /// `TOKEN_MANAGER_API_KEY`.
    pub api_key: Option<String>,
}

impl SecretEnv {
    /// Read from the process environment.
    pub fn from_process() -> Self {
        Self {
            key: std::env::var(KEY_ENV).ok(),
            old_keys: std::env::var(OLD_KEYS_ENV).ok(),
            api_key: std::env::var(API_KEY_ENV).ok(),
        }
    }
}

impl Cli {
    /// The settings these flags describe, with the secrets the environment carries. Fails on a
    /// provider that lacks what it needs.
    pub fn into_settings(self, env: SecretEnv) -> Result<Settings, String> {
        let provider = match self.provider {
            ProviderChoice::Mock => ProviderSettings::Mock(MockSettings {
                listen: self.mock_listen,
                client_id: self.client_id.unwrap_or_else(|| "demo-client".into()),
                secret_file: self.client_secret_file,
                access_ttl: Duration::from_secs(self.access_ttl_secs),
                refresh_ttl: Duration::from_secs(self.refresh_ttl_secs),
                faults: self.mock_faults,
            }),
            ProviderChoice::Ups => ProviderSettings::Ups {
                host: self.ups_host,
                client_id: self.client_id.ok_or("--provider ups needs --client-id")?,
                secret_file: self
                    .client_secret_file
                    .ok_or("--provider ups needs --client-secret-file")?,
            },
            ProviderChoice::Generic => ProviderSettings::Generic {
                issuer: self.issuer.ok_or("--provider generic needs --issuer")?,
                client_id: self
                    .client_id
                    .ok_or("--provider generic needs --client-id")?,
                secret_file: self
                    .client_secret_file
                    .ok_or("--provider generic needs --client-secret-file")?,
                scope: self.scope,
                prompt: self.prompt,
                authorize_params: self.authorize_params,
            },
        };
        let ups = UpsSettings {
            entry: match self.ups_entry {
                UpsEntryChoice::Authorize => UpsEntry::Authorize,
                UpsEntryChoice::ValidateClient => UpsEntry::ValidateClient,
            },
            flow: match self.ups_flow {
                UpsFlowChoice::Pkce => UpsFlow::Pkce,
                UpsFlowChoice::Plain => UpsFlow::Plain,
            },
        };
        Ok(Settings {
            edge: crate::config::EdgeLimits {
                header_timeout: Duration::from_millis(self.header_timeout_ms.max(1)),
                max_connections: self.max_connections.max(1),
                ..crate::config::EdgeLimits::default()
            },
            ups,
            discovery: token_manager_core::config::DiscoveryRules {
                allowed_endpoint_hosts: self.allow_endpoint_hosts,
                allow_without_s256: self.allow_without_s256,
                allow_http_loopback: self.dev_allow_http_issuer,
            },
            listen: self.listen,
            public_url: self.public_url,
            redirect_uri: self.redirect_uri,
            db: self.db,
            db_tls: crate::config::PgTls {
                ca_file: self.db_ca_file,
            },
            key: KeySettings {
                file: self.key_file,
                env: env.key,
                old_env: env.old_keys,
                old_files: self.old_key_files,
            },
            api_key_file: self.api_key_file,
            api_key_env: env.api_key,
            static_dir: self.static_dir,
            provider,
            refresh_skew: Duration::from_secs(self.refresh_skew_secs),
            refresh_tick: Duration::from_millis(self.refresh_tick_ms),
            refresh_concurrency: usize::from(self.refresh_concurrency),
            refresh_jitter_percent: self.refresh_jitter_percent,
            retrieval_interval: Duration::from_millis(self.retrieval_interval_ms),
            ready_file: self.ready_file,
            companies: self.companies,
            allowed_origins: self
                .allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            trusted_proxies: self.trusted_proxies,
            seed_history: self.seed_history,
            api_base: self.api_base,
            webhook_urls: self.webhook_urls,
            webhook_secret_file: self.webhook_secret_file,
            webhook_retry: token_manager_core::webhook::RetryPolicy {
                min: Duration::from_millis(self.webhook_retry_min_ms.max(1)),
                max: Duration::from_millis(self.webhook_retry_max_ms.max(1)),
                give_up_after: Duration::from_secs(self.webhook_give_up_secs),
            },
            limits: HttpLimits {
                connect_timeout: Duration::from_millis(self.http_connect_timeout_ms),
                timeout: Duration::from_millis(self.http_timeout_ms),
                refresh_timeout: Duration::from_millis(
                    self.http_refresh_timeout_ms
                        .unwrap_or(self.http_timeout_ms.saturating_mul(2)),
                ),
            },
            exchange_per_minute: self.exchange_per_minute,
            max_in_flight: self.max_in_flight.max(1),
        })
    }

    /// The settings from the process's arguments and environment.
    pub fn settings_from_env() -> Result<Settings, String> {
        Self::parse().into_settings(SecretEnv::from_process())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn trusted_proxies_are_addresses_or_cidr_blocks() {
        let parse = |args: &[&str]| Cli::try_parse_from(["host-example"].iter().chain(args));
        let settings = parse(&[
            "--trusted-proxy",
            "10.0.0.0/8,192.0.2.1",
            "--trusted-proxy",
            "fd00::/8",
        ])
        .unwrap()
        .into_settings(SecretEnv::default())
        .unwrap();
        let shown: Vec<String> = settings
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["10.0.0.0/8", "192.0.2.1/32", "fd00::/8"]);
        let err = parse(&["--trusted-proxy", "proxy.internal"])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("neither an IP address nor a CIDR block"),
            "{err}"
        );
        let max = parse(&["--max-in-flight", "7"])
            .unwrap()
            .into_settings(SecretEnv::default())
            .unwrap();
        assert_eq!(max.max_in_flight, 7);
    }

    #[test]
    fn db_is_a_sqlite_path_unless_a_postgres_url() {
        let db = |args: &[&str]| {
            Cli::try_parse_from(["host-example"].iter().chain(args))
                .unwrap()
                .into_settings(SecretEnv::default())
                .unwrap()
                .db
        };
        assert_eq!(db(&[]), Database::Sqlite("./token-manager.db".into()));
        assert_eq!(
            db(&["--db", "/var/lib/tm/tm.db"]),
            Database::Sqlite("/var/lib/tm/tm.db".into())
        );
        let url = "postgres://tm@127.0.0.1:5432/tm";
        assert_eq!(db(&["--db", url]), Database::Postgres(url.into()));
    }

    #[test]
    fn defaults_and_provider_requirements() {
        let s = Cli::try_parse_from(["host-example"])
            .unwrap()
            .into_settings(SecretEnv::default())
            .unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert!(
            matches!(&s.provider, ProviderSettings::Mock(m) if m.listen.port() == 8081 && m.client_id == "demo-client")
        );
        assert_eq!(s.exchange_per_minute, 20);
        let err = Cli::try_parse_from(["host-example", "--provider", "ups"])
            .unwrap()
            .into_settings(SecretEnv::default())
            .unwrap_err();
        assert_eq!(err, "--provider ups needs --client-id");
        let s = Cli::try_parse_from([
            "host-example",
            "--allowed-origin",
            "http://a.test/, ,http://b.test",
            "--seed-history",
            "acme:23",
        ])
        .unwrap()
        .into_settings(SecretEnv::default())
        .unwrap();
        assert_eq!(s.allowed_origins, ["http://a.test", "http://b.test"]);
        let g = Cli::try_parse_from([
            "host-example",
            "--provider",
            "generic",
            "--issuer",
            "https://idp.example",
            "--client-id",
            "c",
            "--client-secret-file",
            "s",
            "--prompt",
            "",
            "--authorize-param",
            "acr_values=mfa",
            "--dev-allow-http-issuer",
        ])
        .unwrap()
        .into_settings(SecretEnv::default())
        .unwrap();
        assert!(g.discovery.allow_http_loopback);
        assert!(matches!(
            &g.provider,
            ProviderSettings::Generic { prompt: Some(p), authorize_params, .. }
                if p.is_empty() && authorize_params == &[("acr_values".to_owned(), "mfa".to_owned())]
        ));
        assert!(Cli::try_parse_from(["host-example", "--authorize-param", "novalue"]).is_err());
        assert_eq!(s.seed_history, [("acme".to_owned(), 23)]);
    }
}
