//! `mock-ups` binary: one mock UPS on its own port, which several hosts can share (each
//! host points its provider at the mock's origin). Serves until Ctrl-C or SIGTERM, then
//! finishes the requests in flight.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_ups::{Faults, MockClient, MockConfig, MockUps};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Mock UPS OAuth API (sign-in screens, token and refresh endpoints, data API, faults,
/// loopback-only /mock/* control endpoints), in memory, on its own origin.
#[derive(Debug, Parser)]
#[command(name = "mock-ups", version, about)]
struct Cli {
    /// Address to listen on (port 0 = ephemeral).
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The mock's origin as browsers and hosts reach it (its sign-in screens' address)
    /// [default: http://<bound address>, a wildcard address replaced by loopback].
    #[arg(long)]
    public_url: Option<url::Url>,
    /// OAuth client id of the one registered client.
    #[arg(long, default_value = "demo-client")]
    client_id: String,
    /// File holding that client's secret (surrounding whitespace is ignored)
    /// [default: the secret is demo-secret].
    #[arg(long)]
    client_secret_file: Option<PathBuf>,
    /// Registered redirect URI of the client, compared exactly (repeatable).
    #[arg(
        long = "redirect-uri",
        default_value = "http://127.0.0.1:8080/admin/token-manager"
    )]
    redirect_uris: Vec<String>,
    /// Access token lifetime (`expires_in`).
    #[arg(long, default_value_t = 3_599)]
    access_ttl_secs: u64,
    /// Refresh token lifetime (`refresh_token_expires_in`).
    #[arg(long, default_value_t = 5_183_999)]
    refresh_ttl_secs: u64,
    /// Faults from the start, as JSON, e.g. '{"refresh":{"kind":"status_503","times":2}}'
    /// (the shape of POST /mock/faults).
    #[arg(long)]
    faults: Option<Faults>,
    /// After binding, write {"mock":"http://…"} here (atomically: written aside, then renamed).
    #[arg(long)]
    ready_file: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-ups: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), BoxError> {
    let client_secret = match &cli.client_secret_file {
        Some(path) => read_secret(path)?,
        None => "demo-secret".to_owned(),
    };
    // Bind first: with port 0 the origin is only known afterwards.
    let listener = TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", cli.listen))?;
    let public_url = match &cli.public_url {
        Some(u) => u.as_str().trim_end_matches('/').to_owned(),
        None => origin_of(listener.local_addr()?),
    };
    let config = MockConfig {
        public_url,
        clients: vec![MockClient {
            client_id: cli.client_id.clone(),
            client_secret,
            redirect_uris: cli.redirect_uris.clone(),
        }],
        access_ttl: Duration::from_secs(cli.access_ttl_secs),
        refresh_ttl: Duration::from_secs(cli.refresh_ttl_secs),
        faults: cli.faults.clone().unwrap_or_default(),
        ..MockConfig::default()
    };
    let users: Vec<&str> = config.users.iter().map(|(u, _)| u.as_str()).collect();
    tracing::info!(
        public_url = config.public_url,
        client_id = cli.client_id,
        redirect_uris = ?cli.redirect_uris,
        ?users,
        "mock UPS listening (sign in as demo / demo-password)"
    );
    let mock = MockUps::new(config);
    let shutdown = shutdown_signal().map_err(|e| format!("cannot listen for signals: {e}"))?;
    if let Some(path) = &cli.ready_file {
        write_ready_file(path, mock.public_url())?;
    }
    mock.serve_until(listener, shutdown).await?;
    tracing::info!("mock UPS stopped");
    Ok(())
}

/// `http://<addr>`, with a wildcard address replaced by loopback (what a browser can open).
fn origin_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

fn read_secret(path: &Path) -> Result<String, BoxError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("client secret file {}: {e}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(format!("client secret file {} is empty", path.display()).into());
    }
    Ok(secret.to_owned())
}

/// Write `{"mock":"<origin>"}` next to `path`, then rename it into place, so a reader never
/// sees a partial file.
fn write_ready_file(path: &Path, mock: &str) -> Result<(), BoxError> {
    let body = serde_json::json!({ "mock": mock });
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{body}\n"))
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("ready file {}: {e}", path.display()))?;
    Ok(())
}

/// Completes on Ctrl-C (or SIGTERM on Unix). On Unix the handlers are installed by this call,
/// before the ready file is written: a signal sent as soon as the file appears already stops
/// the mock gracefully.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::info!("shutting down: finishing the requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::error!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("shutting down: finishing the requests in flight");
        })
    }
}
