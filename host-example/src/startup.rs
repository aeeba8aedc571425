//! Starting a host process: bind, read the secrets, open the store, build the provider (and
//! the mock UPS when it is the provider), then serve until told to stop.
//!
//! [`Application::build`] does everything that can fail before serving, so `main` and the
//! tests (which start the real application on port 0) see the same errors;
//! [`Application::run_until_stopped`] starts the jobs, writes the ready file, prints the
//! banner and serves.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use oauth2::ClientSecret;
use token_manager_core::config::ProviderConfig;
use token_manager_core::lifecycle::RefreshPolicy;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::access::{Access, ApiKeys, ApiKeysSource, SessionSigner, API_KEY_ENV};
use crate::config::HostConfig;
use crate::crypto::{KeySource, TokenCipher, TokenKey, KEY_ENV, OLD_KEYS_ENV};
use crate::provider::{discovery, Provider};
use crate::sessions::DEMO_USER;
use crate::settings::{Database, ProviderSettings, Settings};
use crate::state::AppState;
use crate::store::{PgStore, SqliteStore, Store};
use crate::webhooks::{WebhookSecret, Webhooks};
use crate::{app, jobs, ops};

/// Why the host could not start (or stopped with an error); the text says what to fix.
pub type StartupError = Box<dyn std::error::Error + Send + Sync>;

/// A host process, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    mock: Option<MockServer>,
    host_url: String,
    provider_line: String,
    key_source: KeySource,
    api_key_source: ApiKeysSource,
    settings: Settings,
    /// The demo portal's own API key (its retrieval worker calls the proxy with it).
    demo_key: Option<String>,
}

#[cfg(feature = "mock")]
struct MockServer {
    mock: mock_ups::MockUps,
    listener: TcpListener,
}

#[cfg(not(feature = "mock"))]
enum MockServer {}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("host_url", &self.host_url)
            .field("provider", &self.provider_line)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Bind, read keys and secrets, open and migrate the store (re-encrypting under the
    /// current key when old keys are given), build the provider, seed history.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        // Bind first: with port 0 the URLs are only known afterwards.
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
        let public_url = match &settings.public_url {
            Some(u) => u.clone(),
            None => origin_of(listener.local_addr()?)?,
        };
        let config = host_config(&settings, public_url)?;
        let redirect_uri = config.redirect_uri();
        let (provider_config, secret, api_base, mock, provider_line) =
            provider(&settings, &redirect_uri).await?;
        let (store, signer, key_source) = open_store(&settings).await?;
        let (mut api_keys, api_key_source) =
            ApiKeys::load(settings.api_key_env.as_deref(), &settings.api_key_file)?;
        // The demo portal's backend gets a key of its own, valid while this process runs.
        let demo_key = (api_base.is_some() && !settings.retrieval_interval.is_zero()).then(|| {
            let key = ApiKeys::generate();
            api_keys.add(&key).map(|_| key)
        });
        let demo_key = demo_key.transpose()?;
        let access = Access {
            api_keys,
            sessions: signer,
        };
        let webhooks = webhooks(&settings)?;
        if let Some(base) = &api_base {
            // The proxy sends the company's bearer token there.
            let loopback = token_manager_core::config::is_loopback(base);
            if base.scheme() != "https" && !(base.scheme() == "http" && loopback) {
                return Err(format!(
                    "--api-base {base}: the provider API must be https (http only on loopback)"
                )
                .into());
            }
        }
        let provider = Provider::new(provider_config, secret, settings.limits, api_base)?;
        let state = AppState::new(config, provider, store, access, webhooks);
        for (company, count) in &settings.seed_history {
            let n = ops::seed_history(&state, company, *count, DEMO_USER)
                .await
                .map_err(|e| format!("--seed-history {company}:{count}: {e}"))?;
            if n > 0 {
                tracing::info!(company, rows = n, "seeded history");
            }
        }
        let host_url = origin_text(&state.config().public_url);
        Ok(Self {
            listener,
            state,
            mock,
            host_url,
            provider_line,
            key_source,
            api_key_source,
            settings,
            demo_key,
        })
    }

    /// The port the host listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// The host's origin (`http://127.0.0.1:PORT` unless `--public-url` says otherwise).
    pub fn host_url(&self) -> &str {
        &self.host_url
    }

    /// The mock UPS's origin, when it is the provider.
    pub fn mock_url(&self) -> Option<String> {
        #[cfg(feature = "mock")]
        {
            self.mock.as_ref().map(|m| m.mock.public_url().to_owned())
        }
        #[cfg(not(feature = "mock"))]
        {
            None
        }
    }

    /// The state the host serves (tests inspect it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serve until `shutdown` is cancelled: the jobs and the mock start, the ready file is
    /// written, the banner printed. In-flight requests and refreshes finish before it returns.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), StartupError> {
        banner(&self);
        let mut jobs = jobs::spawn(&self.state, &shutdown);
        if let Some(key) = self.demo_key {
            // The worker is a backend beside the host: it calls the listening address, not the
            // public URL (which may name a proxy or a hostname only browsers resolve).
            let local = origin_text(&origin_of(self.listener.local_addr()?)?);
            let worker = crate::DemoWorker::new(&local, key)?;
            let interval = self.state.config().retrieval_interval;
            jobs.push(tokio::spawn(worker.run(
                self.state.clone(),
                interval,
                shutdown.clone(),
            )));
        }
        let (mock_url, mock_task) = serve_mock(self.mock);
        if let Some(path) = &self.settings.ready_file {
            write_ready_file(path, &self.host_url, mock_url.as_deref())?;
        }
        let limits = self.settings.limits;
        crate::http::serve::serve(
            self.listener,
            app(self.state),
            self.settings.edge,
            shutdown.clone(),
        )
        .await?;
        // The refresher finishes (commits or rolls back) what it started; the mock is dropped.
        if let Some(task) = mock_task {
            task.abort();
        }
        let finish = async {
            for job in jobs {
                let _ = job.await;
            }
        };
        if tokio::time::timeout(limits.timeout + Duration::from_secs(5), finish)
            .await
            .is_err()
        {
            tracing::warn!("background jobs did not stop in time");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn host_config(settings: &Settings, public_url: Url) -> Result<HostConfig, StartupError> {
    let mut config = HostConfig::new(public_url);
    if let Some(page) = &settings.redirect_uri {
        // The panel on that page calls the host, so its origin must be one the host admits (CORS
        // and the CSRF check). Scheme and fragment are core's rules (ProviderConfig, below).
        let origin = page.origin().ascii_serialization();
        if origin != config.public_origin() && !settings.allowed_origins.contains(&origin) {
            return Err(format!(
                "--redirect-uri {page}: its origin {origin} must be the host's ({}) or an --allowed-origin",
                config.public_origin()
            )
            .into());
        }
        config.redirect_page = Some(page.clone());
    }
    config.companies = settings.companies.clone();
    config.allowed_origins = settings.allowed_origins.clone();
    config.trusted_proxies = settings.trusted_proxies.clone();
    config.static_dir = settings.static_dir.clone();
    config.refresh_policy = RefreshPolicy {
        skew: settings.refresh_skew,
        jitter_percent: settings.refresh_jitter_percent,
        ..RefreshPolicy::default()
    };
    config.refresh_tick = settings.refresh_tick;
    config.refresh_concurrency = settings.refresh_concurrency.max(1);
    config.retrieval_interval = settings.retrieval_interval;
    config.exchange_per_minute = settings.exchange_per_minute;
    config.max_in_flight = settings.max_in_flight.max(1);
    let limits = settings.limits;
    // A lease outlives the longest provider call made under it, and a request outlives a
    // refresh it waits for.
    config.lease_ttl = (limits.timeout * 3).max(limits.refresh_timeout + Duration::from_secs(5));
    config.request_timeout =
        (limits.timeout * 2).max(limits.refresh_timeout + Duration::from_secs(2));
    Ok(config)
}

type ProviderParts = (
    ProviderConfig,
    ClientSecret,
    Option<Url>,
    Option<MockServer>,
    String,
);

/// The provider's settings, client secret, data API and banner line (and the mock, bound).
async fn provider(settings: &Settings, redirect_uri: &str) -> Result<ProviderParts, StartupError> {
    match &settings.provider {
        ProviderSettings::Mock(m) => mock_provider(settings, m, redirect_uri).await,
        ProviderSettings::Ups {
            host,
            client_id,
            secret_file,
        } => {
            let secret = read_secret(secret_file)?;
            let provider = ProviderConfig::ups_with(
                host,
                client_id,
                redirect_uri,
                settings.ups.entry,
                settings.ups.flow,
            )?;
            let line = format!("UPS at {host}");
            let api_base = match &settings.api_base {
                Some(u) => u.clone(),
                None => Url::parse(&format!("{}/api/", host.trim_end_matches('/')))?,
            };
            Ok((provider, secret, Some(api_base), None, line))
        }
        ProviderSettings::Generic {
            issuer,
            client_id,
            secret_file,
            scope,
            prompt,
            authorize_params,
        } => {
            let secret = read_secret(secret_file)?;
            let metadata = discovery::fetch_metadata(issuer, settings.limits).await?;
            let provider = ProviderConfig::from_discovery(
                &metadata,
                issuer,
                client_id,
                redirect_uri,
                scope,
                &settings.discovery,
            )
            .map_err(|e| format!("--issuer {issuer}: {e}"))?;
            let mut provider = provider;
            for (k, v) in authorize_params {
                provider.extra_params.insert(k.clone(), v.clone());
            }
            // OpenID Connect Core §11: offline_access needs prompt=consent, else most servers
            // issue no refresh token.
            let offline = scope.split_whitespace().any(|s| s == "offline_access");
            match prompt.as_deref() {
                Some("") => {
                    provider.extra_params.remove("prompt");
                }
                Some(p) => {
                    provider.extra_params.insert("prompt".into(), p.to_owned());
                }
                None if offline => {
                    provider
                        .extra_params
                        .entry("prompt".into())
                        .or_insert_with(|| "consent".into());
                }
                None => {}
            }
            let line = format!("{} (generic OAuth 2.0)", origin_text(issuer));
            Ok((provider, secret, settings.api_base.clone(), None, line))
        }
    }
}

#[cfg(feature = "mock")]
async fn mock_provider(
    settings: &Settings,
    m: &crate::settings::MockSettings,
    redirect_uri: &str,
) -> Result<ProviderParts, StartupError> {
    use mock_ups::{Faults, MockClient, MockConfig, MockUps};

    let listener = TcpListener::bind(m.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (mock UPS): {e}", m.listen))?;
    let mock_url = origin_of(listener.local_addr()?)?;
    let secret = match &m.secret_file {
        Some(p) => read_secret(p)?,
        None => ClientSecret::new("demo-secret".into()),
    };
    let faults: Faults = match &m.faults {
        Some(json) => json.parse().map_err(|e| format!("--mock-faults: {e}"))?,
        None => Faults::default(),
    };
    let defaults = MockConfig::default();
    let users = defaults.users.clone();
    let mock_config = MockConfig {
        public_url: origin_text(&mock_url),
        clients: vec![MockClient {
            client_id: m.client_id.clone(),
            client_secret: secret.secret().clone(),
            redirect_uris: vec![redirect_uri.to_owned()],
        }],
        access_ttl: m.access_ttl,
        refresh_ttl: m.refresh_ttl,
        faults,
        ..defaults
    };
    let provider = ProviderConfig::ups_with(
        mock_url.as_str(),
        &m.client_id,
        redirect_uri,
        settings.ups.entry,
        settings.ups.flow,
    )?;
    let api_base = match &settings.api_base {
        Some(u) => u.clone(),
        None => mock_url.join("api/")?,
    };
    let line = format!(
        "mock UPS at {} (sign in as {} / {})",
        origin_text(&mock_url),
        users.first().map_or("?", |u| u.0.as_str()),
        users.first().map_or("?", |u| u.1.as_str()),
    );
    let server = MockServer {
        mock: MockUps::new(mock_config),
        listener,
    };
    Ok((provider, secret, Some(api_base), Some(server), line))
}

#[cfg(not(feature = "mock"))]
async fn mock_provider(
    _: &Settings,
    _: &crate::settings::MockSettings,
    _: &str,
) -> Result<ProviderParts, StartupError> {
    Err("this build has no mock UPS (cargo feature `mock`); use --provider ups or generic".into())
}

#[cfg(feature = "mock")]
fn serve_mock(mock: Option<MockServer>) -> (Option<String>, Option<tokio::task::JoinHandle<()>>) {
    let Some(MockServer { mock, listener }) = mock else {
        return (None, None);
    };
    let url = mock.public_url().to_owned();
    let task = tokio::spawn(async move {
        if let Err(e) = mock.serve(listener).await {
            tracing::error!(error = %e, "mock UPS stopped");
        }
    });
    (Some(url), Some(task))
}

#[cfg(not(feature = "mock"))]
fn serve_mock(mock: Option<MockServer>) -> (Option<String>, Option<tokio::task::JoinHandle<()>>) {
    match mock {
        None => (None, None),
        Some(never) => match never {},
    }
}

/// The webhook endpoints and their signing secret (created on first run); none configured:
/// no events are written. Endpoints must be https, or http on loopback (as every other URL).
fn webhooks(settings: &Settings) -> Result<Webhooks, StartupError> {
    if settings.webhook_urls.is_empty() {
        return Ok(Webhooks::disabled());
    }
    for url in &settings.webhook_urls {
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
            return Err(format!(
                "--webhook-url {url}: events must be sent over https (http only to loopback)"
            )
            .into());
        }
    }
    let (secret, source) = WebhookSecret::load(&settings.webhook_secret_file)?;
    tracing::info!(
        endpoints = settings.webhook_urls.len(),
        secret = source.describe("--webhook-secret-file"),
        "webhooks on"
    );
    Ok(Webhooks::new(
        settings
            .webhook_urls
            .iter()
            .map(|u| u.as_str().to_owned())
            .collect(),
        secret,
        settings.webhook_retry,
    ))
}

/// The store over the current key, everything under old keys re-encrypted first, and the
/// session-token signer derived from the same keys.
async fn open_store(
    settings: &Settings,
) -> Result<(Arc<dyn Store>, SessionSigner, KeySource), StartupError> {
    let keys = &settings.key;
    let (key, key_source) = TokenKey::load(keys.env.as_deref(), &keys.file)?;
    let mut old_keys = match &keys.old_env {
        Some(v) => TokenKey::list_from_base64(v, OLD_KEYS_ENV)?,
        None => Vec::new(),
    };
    for path in &keys.old_files {
        old_keys.push(TokenKey::from_file(path)?);
    }
    let rotating = !old_keys.is_empty();
    let cipher = TokenCipher::with_old_keys(&key, &old_keys);
    let signer = SessionSigner::new(&key, &old_keys);
    drop((key, old_keys));
    let store: Arc<dyn Store> = match &settings.db {
        Database::Sqlite(path) => {
            let path = path.clone();
            Arc::new(
                tokio::task::spawn_blocking(move || SqliteStore::open(&path, cipher))
                    .await?
                    .map_err(|e| format!("database {}: {e}", settings.db))?,
            )
        }
        // Several processes may start at once: the migrations take an advisory lock.
        Database::Postgres(url) => Arc::new(
            PgStore::open_with(url, cipher, &settings.db_tls)
                .await
                .map_err(|e| format!("database {}: {}", settings.db, with_causes(&e)))?,
        ),
    };
    if rotating {
        // Key rotation: everything still sealed under an old key is re-sealed now, in one
        // transaction (values a host still on the old key writes later keep opening too).
        let resealed = store
            .reencrypt()
            .await
            .map_err(|e| format!("key rotation in {}: {e}", settings.db))?;
        tracing::info!(
            values = resealed,
            "key rotation: re-encrypted stored tokens with the current key"
        );
    }
    Ok((store, signer, key_source))
}

/// `error: source: …`, each cause once: a failed PostgreSQL connection says why (refused, no
/// such host, authentication) only in its sources.
fn with_causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

/// `http://<addr>`, with a wildcard address replaced by loopback (what a browser can open).
fn origin_of(addr: SocketAddr) -> Result<Url, StartupError> {
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

fn read_secret(path: &Path) -> Result<ClientSecret, StartupError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("client secret file {}: {e}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(format!("client secret file {} is empty", path.display()).into());
    }
    Ok(ClientSecret::new(secret.to_owned()))
}

fn write_ready_file(path: &Path, host: &str, mock: Option<&str>) -> Result<(), StartupError> {
    let body = serde_json::json!({ "host": host, "mock": mock });
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{body}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("ready file {}: {e}", path.display()))?;
    Ok(())
}

fn banner(app: &Application) {
    let (state, host, provider) = (&app.state, &app.host_url, &app.provider_line);
    let widget = if state.config().static_dir.join("index.js").is_file() {
        format!("{}", state.config().static_dir.display())
    } else {
        format!(
            "{} (not built yet: run scripts/build-widget.sh)",
            state.config().static_dir.display()
        )
    };
    let key = app.key_source.describe(KEY_ENV);
    // The file's path, never a key.
    let api_keys = app.api_key_source.describe(API_KEY_ENV);
    println!(
        "\nToken Manager host example\n\
         \x20 portal         {host}/\n\
         \x20 token manager  {host}/admin/token-manager\n\
         \x20 exports        {host}/exports\n\
         \x20 widget API     {host}/api/optin  (OpenAPI: {host}/api/optin/openapi.json)\n\
         \x20 server API     {host}/api/v1  (OpenAPI: {host}/api/v1/openapi.json; API keys: {api_keys})\n\
         \x20 provider       {provider}\n\
         \x20 database       {}  (key: {key})\n\
         \x20 widget files   {widget}\n\
         Press Ctrl-C to stop.\n",
        app.settings.db
    );
}
