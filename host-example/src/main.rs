//! `host-example` binary: reads flags, binds the host (and the mock UPS), serves until Ctrl-C.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use host_example::config::{Companies, HostConfig, HttpLimits, DEFAULT_COMPANIES};
use host_example::crypto::{KeySource, TokenCipher, TokenKey, KEY_ENV, OLD_KEYS_ENV};
use host_example::provider::Provider;
use host_example::store::SqliteStore;
use host_example::{app, seed_history, spawn_jobs, AppState};
use mock_ups::{Faults, MockClient, MockConfig, MockUps};
use oauth2::ClientSecret;
use token_manager_core::config::{ups, ProviderConfig};
use token_manager_core::lifecycle::RefreshPolicy;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which provider the host talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProviderChoice {
    /// The built-in mock UPS on `--mock-listen`.
    Mock,
    /// UPS (`--ups-host`, `--client-id`, `--client-secret-file`).
    Ups,
    /// Any RFC 6749 server described by RFC 8414 metadata at `--issuer`.
    Generic,
}

/// Example Token Manager host: widget API, demo portal, refresher, retrieval job, mock UPS.
#[derive(Debug, Parser)]
#[command(name = "host-example", version, about)]
struct Cli {
    /// Host address (port 0 = ephemeral).
    #[arg(long, env = "TM_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Mock UPS address (port 0 = ephemeral); unused when --provider is real.
    #[arg(long, env = "TM_MOCK_LISTEN", default_value = "127.0.0.1:8081")]
    mock_listen: SocketAddr,
    /// Origin the browser uses for the host [default: http://<listen>].
    #[arg(long, env = "TM_PUBLIC_URL")]
    public_url: Option<Url>,
    /// SQLite database file (created and migrated on start).
    #[arg(long, env = "TM_DB", default_value = "./token-manager.db")]
    db: PathBuf,
    /// AES key file, created with mode 0600 on first run (unless TOKEN_MANAGER_KEY is set).
    #[arg(long, env = "TM_KEY_FILE", default_value = "./token-manager.key")]
    key_file: PathBuf,
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
    #[arg(long, env = "TM_UPS_HOST", default_value = ups::TEST_HOST)]
    ups_host: String,
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
    #[arg(long, env = "TM_ACCESS_TTL_SECS", default_value_t = 14_399)]
    access_ttl_secs: u64,
    /// Mock UPS refresh token lifetime.
    #[arg(long, env = "TM_REFRESH_TTL_SECS", default_value_t = 5_183_999)]
    refresh_ttl_secs: u64,
    /// Refresh this long before the access token expires (capped at half its lifetime).
    #[arg(long, env = "TM_REFRESH_SKEW_SECS", default_value_t = 300)]
    refresh_skew_secs: u64,
    /// How often the refresher looks for due work.
    #[arg(long, env = "TM_REFRESH_TICK_MS", default_value_t = 1000)]
    refresh_tick_ms: u64,
    /// Retrieval job period.
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
    mock_faults: Option<Faults>,
    /// Insert COUNT synthetic past history rows for COMPANY at start if it has none
    /// (COMPANY:COUNT, repeatable).
    #[arg(long = "seed-history", env = "TM_SEED_HISTORY", value_delimiter = ',', value_parser = parse_seed)]
    seed_history: Vec<(String, u32)>,
    /// Base URL of the data API the retrieval job calls [mock: the mock's origin; real: off].
    #[arg(long, env = "TM_DATA_URL")]
    data_url: Option<Url>,
    /// Connect timeout of provider calls.
    #[arg(long, env = "TM_HTTP_CONNECT_TIMEOUT_MS", default_value_t = 3000)]
    http_connect_timeout_ms: u64,
    /// Total timeout of provider calls.
    #[arg(long, env = "TM_HTTP_TIMEOUT_MS", default_value_t = 10_000)]
    http_timeout_ms: u64,
    /// /exchange attempts allowed per client IP per minute.
    #[arg(long, env = "TM_EXCHANGE_PER_MINUTE", default_value_t = 20)]
    exchange_per_minute: u32,
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

/// Threads for blocking work (storage calls, DNS, static files). Storage calls are already
/// admitted a few at a time (`Store::concurrency`); tokio's default of 512 let bursts and the
/// hand-off between admitted calls grow the pool to ~60–100 threads under the read benchmark,
/// each with its own malloc arena and stack pages: RSS that crept up through the soak.
const MAX_BLOCKING_THREADS: usize = 16;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("host-example: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve())
}

async fn serve() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=info".into()),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host-example: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `http://<addr>`, with a wildcard address replaced by loopback (what a browser can open).
fn origin_of(addr: SocketAddr) -> Result<Url, BoxError> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(Url::parse(&format!(
        "http://{}",
        SocketAddr::new(ip, addr.port())
    ))?)
}

fn origin_text(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

fn read_secret(path: &Path) -> Result<ClientSecret, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("client secret file {}: {e}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(format!("client secret file {} is empty", path.display()).into());
    }
    Ok(ClientSecret::new(secret.to_owned()))
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    // Bind first: with port 0 the URLs are only known afterwards.
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let host_addr = listener.local_addr()?;
    let mock_listener = if cli.provider == ProviderChoice::Mock {
        Some(
            TcpListener::bind(cli.mock_listen)
                .await
                .map_err(|e| format!("cannot listen on {} (mock UPS): {e}", cli.mock_listen))?,
        )
    } else {
        None
    };
    let public_url = match &cli.public_url {
        Some(u) => u.clone(),
        None => origin_of(host_addr)?,
    };

    let limits = HttpLimits {
        connect_timeout: Duration::from_millis(cli.http_connect_timeout_ms),
        timeout: Duration::from_millis(cli.http_timeout_ms),
    };
    let mut config = HostConfig::new(public_url);
    config.companies = cli.companies.clone();
    config.allowed_origins = cli
        .allowed_origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    config.static_dir = cli.static_dir.clone();
    config.refresh_policy = RefreshPolicy {
        skew: Duration::from_secs(cli.refresh_skew_secs),
        ..RefreshPolicy::default()
    };
    config.refresh_tick = Duration::from_millis(cli.refresh_tick_ms);
    config.retrieval_interval = Duration::from_millis(cli.retrieval_interval_ms);
    config.exchange_per_minute = cli.exchange_per_minute;
    config.lease_ttl = limits.timeout * 3;
    config.request_timeout = limits.timeout * 2;
    let redirect_uri = config.redirect_uri();

    // Provider (and the mock, when it is the provider).
    let mut mock = None;
    let (provider_config, secret, data_url, provider_line) = match cli.provider {
        ProviderChoice::Mock => {
            let listener = mock_listener
                .as_ref()
                .expect("the mock listener is bound when --provider mock");
            let mock_url = origin_of(listener.local_addr()?)?;
            let client_id = cli
                .client_id
                .clone()
                .unwrap_or_else(|| "demo-client".into());
            let secret = match &cli.client_secret_file {
                Some(p) => read_secret(p)?,
                None => ClientSecret::new("demo-secret".into()),
            };
            let defaults = MockConfig::default();
            let users = defaults.users.clone();
            let mock_config = MockConfig {
                public_url: origin_text(&mock_url),
                clients: vec![MockClient {
                    client_id: client_id.clone(),
                    client_secret: secret.secret().clone(),
                    redirect_uris: vec![redirect_uri.clone()],
                }],
                access_ttl: Duration::from_secs(cli.access_ttl_secs),
                refresh_ttl: Duration::from_secs(cli.refresh_ttl_secs),
                faults: cli.mock_faults.clone().unwrap_or_default(),
                ..defaults
            };
            mock = Some(MockUps::new(mock_config));
            let provider = ProviderConfig::ups(mock_url.as_str(), &client_id, &redirect_uri)?;
            let data = cli.data_url.clone().unwrap_or_else(|| mock_url.clone());
            let line = format!(
                "mock UPS at {} (sign in as {} / {})",
                origin_text(&mock_url),
                users.first().map_or("?", |u| u.0.as_str()),
                users.first().map_or("?", |u| u.1.as_str()),
            );
            (provider, secret, Some(data), line)
        }
        ProviderChoice::Ups => {
            let client_id = cli
                .client_id
                .clone()
                .ok_or("--provider ups needs --client-id")?;
            let secret = read_secret(
                cli.client_secret_file
                    .as_deref()
                    .ok_or("--provider ups needs --client-secret-file")?,
            )?;
            let provider = ProviderConfig::ups(&cli.ups_host, &client_id, &redirect_uri)?;
            let line = format!("UPS at {}", cli.ups_host);
            (provider, secret, cli.data_url.clone(), line)
        }
        ProviderChoice::Generic => {
            let issuer = cli
                .issuer
                .clone()
                .ok_or("--provider generic needs --issuer")?;
            let client_id = cli
                .client_id
                .clone()
                .ok_or("--provider generic needs --client-id")?;
            let secret = read_secret(
                cli.client_secret_file
                    .as_deref()
                    .ok_or("--provider generic needs --client-secret-file")?,
            )?;
            let metadata = fetch_metadata(&issuer, limits).await?;
            let provider =
                ProviderConfig::from_metadata(&metadata, &client_id, &redirect_uri, &cli.scope)?;
            let line = format!("{} (generic OAuth 2.0)", origin_text(&issuer));
            (provider, secret, cli.data_url.clone(), line)
        }
    };

    // Storage.
    let env_key = std::env::var(KEY_ENV).ok();
    let (key, key_source) = TokenKey::load(env_key.as_deref(), &cli.key_file)?;
    let mut old_keys = match std::env::var(OLD_KEYS_ENV) {
        Ok(v) => TokenKey::list_from_base64(&v, OLD_KEYS_ENV)?,
        Err(_) => Vec::new(),
    };
    for path in &cli.old_key_files {
        old_keys.push(TokenKey::from_file(path)?);
    }
    let rotating = !old_keys.is_empty();
    let store = SqliteStore::open(&cli.db, TokenCipher::with_old_keys(&key, &old_keys))
        .map_err(|e| format!("database {}: {e}", cli.db.display()))?;
    drop((key, old_keys));
    if rotating {
        // Key rotation: everything still sealed under an old key is re-sealed now, in one
        // transaction (values a host still on the old key writes later keep opening too).
        let resealed = store
            .reencrypt()
            .map_err(|e| format!("key rotation in {}: {e}", cli.db.display()))?;
        tracing::info!(
            values = resealed,
            "key rotation: re-encrypted stored tokens with the current key"
        );
    }

    let provider = Provider::new(provider_config, secret, limits, data_url)?;
    let state = AppState::new(config, provider, Arc::new(store));
    for (company, count) in &cli.seed_history {
        let n = seed_history(&state, company, *count)
            .await
            .map_err(|e| format!("--seed-history {company}:{count}: {e}"))?;
        if n > 0 {
            tracing::info!(company, rows = n, "seeded history");
        }
    }

    let shutdown = CancellationToken::new();
    let jobs = spawn_jobs(&state, &shutdown);
    let mut mock_url = None;
    let mut mock_task = None;
    if let (Some(mock), Some(listener)) = (mock, mock_listener) {
        mock_url = Some(mock.public_url().to_owned());
        mock_task = Some(tokio::spawn(async move {
            if let Err(e) = mock.serve(listener).await {
                tracing::error!(error = %e, "mock UPS stopped");
            }
        }));
    }

    let host_url = origin_text(&state.config().public_url);
    if let Some(path) = &cli.ready_file {
        write_ready_file(path, &host_url, mock_url.as_deref())?;
    }
    banner(&state, &cli, &host_url, &provider_line, &key_source);

    let app = app(state.clone());
    let signal = shutdown.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests and refreshes");
        signal.cancel();
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown.clone().cancelled_owned())
    .await?;

    // The refresher finishes (commits or rolls back) what it started; the mock is just dropped.
    if let Some(task) = mock_task {
        task.abort();
    }
    let finish = futures_join(jobs);
    if tokio::time::timeout(limits.timeout + Duration::from_secs(5), finish)
        .await
        .is_err()
    {
        tracing::warn!("background jobs did not stop in time");
    }
    tracing::info!("stopped");
    Ok(())
}

async fn futures_join(jobs: Vec<tokio::task::JoinHandle<()>>) {
    for job in jobs {
        let _ = job.await;
    }
}

async fn fetch_metadata(issuer: &Url, limits: HttpLimits) -> Result<Vec<u8>, BoxError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limits.connect_timeout)
        .timeout(limits.timeout)
        .build()?;
    let base = origin_text(issuer);
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let url = format!("{base}{path}");
        match client.get(&url).send().await {
            Ok(r) if r.status().is_success() => return Ok(r.bytes().await?.to_vec()),
            Ok(r) => tracing::warn!(url, status = r.status().as_u16(), "no metadata here"),
            Err(e) => tracing::warn!(url, error = %e, "metadata fetch failed"),
        }
    }
    Err(format!("no RFC 8414 / OpenID metadata found under {base}").into())
}

fn write_ready_file(path: &Path, host: &str, mock: Option<&str>) -> Result<(), BoxError> {
    let body = serde_json::json!({ "host": host, "mock": mock });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{body}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("ready file {}: {e}", path.display()))?;
    Ok(())
}

fn banner(state: &AppState, cli: &Cli, host: &str, provider: &str, key: &KeySource) {
    let widget = if state.config().static_dir.join("index.js").is_file() {
        format!("{}", state.config().static_dir.display())
    } else {
        format!(
            "{} (not built yet: run scripts/build-widget.sh)",
            state.config().static_dir.display()
        )
    };
    let key = match key {
        KeySource::Env => format!("from {KEY_ENV}"),
        KeySource::File(p) => p.clone(),
        KeySource::Created(p) => format!("{p} (created)"),
    };
    println!(
        "\nToken Manager host example\n\
         \x20 portal         {host}/\n\
         \x20 token manager  {host}/admin/token-manager\n\
         \x20 exports        {host}/exports\n\
         \x20 widget API     {host}/api/optin  (OpenAPI: {host}/api/optin/openapi.json)\n\
         \x20 provider       {provider}\n\
         \x20 database       {}  (key: {key})\n\
         \x20 widget files   {widget}\n\
         Press Ctrl-C to stop.\n",
        cli.db.display()
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
