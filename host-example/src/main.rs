//! `host-example` binary: flags → settings → [`Application`], served until Ctrl-C or SIGTERM.

use std::process::ExitCode;

use host_example::cli::Cli;
use host_example::startup::Application;
use tokio_util::sync::CancellationToken;

/// Threads for blocking work (storage calls, DNS, static files). Storage calls are already
/// admitted a few at a time inside the store; tokio's default of 512 let bursts and the
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
        // Colours only on a terminal: a log file or a log collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let settings = match Cli::settings_from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("host-example: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = async {
        let app = Application::build(settings).await?;
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing in-flight requests and refreshes");
            signal.cancel();
        });
        app.run_until_stopped(shutdown).await
    };
    match result.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("host-example: {e}");
            ExitCode::FAILURE
        }
    }
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
