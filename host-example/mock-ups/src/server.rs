//! The running mock: shared state behind one lock, the router, serving, [`spawn`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;

use crate::config::{MockConfig, Settings};
use crate::faults::Faults;
use crate::model::{self, PasswordChange, State};
use crate::stats::MockStats;

/// The running mock: cheap to clone (an `Arc` inside), shared by its handlers and the
/// code that drives it.
#[derive(Clone)]
pub struct MockUps {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Settings,
    state: Mutex<State>,
}

impl std::fmt::Debug for MockUps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockUps")
            .field("public_url", &self.inner.settings.public_url)
            .finish_non_exhaustive()
    }
}

impl MockUps {
    /// A mock with `config`.
    pub fn new(config: MockConfig) -> Self {
        let settings = Settings {
            public_url: config.public_url.trim_end_matches('/').to_owned(),
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            code_ttl: config.code_ttl,
            keep_refresh_tokens: config.keep_refresh_tokens,
            no_refresh_tokens: config.no_refresh_tokens,
        };
        let state = State::new(&config);
        Self {
            inner: Arc::new(Inner {
                settings,
                state: Mutex::new(state),
            }),
        }
    }

    /// The mock's origin (`public_url` of its config, without a trailing slash).
    pub fn public_url(&self) -> &str {
        &self.inner.settings.public_url
    }

    /// All endpoints (see the crate docs). Serve it with
    /// `into_make_service_with_connect_info::<SocketAddr>()` so the `/mock/*` control
    /// endpoints can check that the peer is on loopback.
    pub fn router(&self) -> Router {
        crate::http::router(self.clone())
    }

    /// Serve [`MockUps::router`] on `listener` (with peer addresses) until the task is dropped.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    }

    /// Serve [`MockUps::router`] on `listener` (with peer addresses) until `shutdown`
    /// completes, then finish the requests in flight and return (graceful shutdown; a request
    /// held by a `timeout` fault holds the return up to [`TIMEOUT_HANG`](crate::TIMEOUT_HANG)).
    pub async fn serve_until(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            listener,
            self.router()
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }

    /// Replace the faults in effect.
    pub fn set_faults(&self, faults: Faults) {
        tracing::info!(?faults, "mock UPS: faults set");
        self.lock().faults = faults;
    }

    /// The faults in effect (with `times` counted down).
    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    /// Change `user`'s UPS.com password: every refresh token, access token and unused code of
    /// that user is revoked (refresh then answers `invalid_grant`, the data API 401), and the
    /// new password is the one the sign-in screen accepts. Unknown users are ignored (logged).
    pub fn change_password(&self, user: &str, new_password: &str) {
        if self.password_change(user, new_password).is_none() {
            tracing::warn!(
                user,
                "mock UPS: password change for an unknown user ignored"
            );
        }
    }

    pub(crate) fn password_change(&self, user: &str, new_password: &str) -> Option<PasswordChange> {
        let change = self.lock().change_password(user, new_password)?;
        tracing::info!(
            user = change.user,
            revoked_access_tokens = change.revoked_access_tokens,
            revoked_refresh_tokens = change.revoked_refresh_tokens,
            "mock UPS: password changed"
        );
        Some(change)
    }

    /// Revoke every live access token but keep the refresh tokens (as a provider does after a
    /// security event): data calls answer 401 until the client refreshes. Returns how many.
    pub fn revoke_access_tokens(&self) -> usize {
        let n = self.lock().revoke_access_tokens();
        tracing::info!(revoked = n, "mock UPS: access tokens revoked");
        n
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MockStats {
        self.lock().stats(model::now_ms())
    }

    /// Register one more redirect URI for `client_id` (e.g. a host bound to an ephemeral
    /// port). Unknown clients are ignored (logged).
    pub fn add_redirect_uri(&self, client_id: &str, uri: &str) {
        if !self.lock().add_redirect_uri(client_id, uri) {
            tracing::warn!(
                client_id,
                "mock UPS: add_redirect_uri for an unknown client ignored"
            );
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters for a test double; keep serving.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Bind `127.0.0.1:0`, set `public_url` to the bound address, and serve the mock in a tokio
/// task (for tests). Returns the address and a handle to drive the mock.
pub async fn spawn(mut config: MockConfig) -> std::io::Result<(SocketAddr, MockUps)> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    config.public_url = format!("http://{addr}");
    let mock = MockUps::new(config);
    let server = mock.clone();
    tokio::spawn(async move {
        if let Err(e) = server.serve(listener).await {
            tracing::error!(error = %e, "mock UPS server stopped");
        }
    });
    Ok((addr, mock))
}
