//! The HTTP layer: parses requests, calls the model under the mock's lock, renders answers.
//!
//! - `oauth`: validate-client, authorize, token, refresh (UPS's JSON and error shapes) and
//!   the data API;
//! - `signin`: the sign-in screens' handlers, `pages`: their HTML and CSS;
//! - `control`: the loopback-only `/mock/*` endpoints.

mod control;
mod oauth;
mod pages;
mod signin;

use axum::routing::{get, post};
use axum::Router;
use token_manager_core::config::ups;

use crate::{MockUps, ECHO_PATH, QUANTUM_VIEW_PATH, SIGNIN_PATH, TRACK_PATH};

/// All endpoints of `mock` (see the crate docs).
pub(crate) fn router(mock: MockUps) -> Router {
    let control = Router::new()
        .route("/mock/stats", get(control::stats))
        .route(
            "/mock/faults",
            get(control::get_faults).post(control::post_faults),
        )
        .route("/mock/password-change", post(control::password_change))
        .route("/mock/reset", post(control::reset))
        .route_layer(axum::middleware::from_fn(control::loopback_only));
    Router::new()
        .route("/", get(signin::index))
        .route(ups::VALIDATE_CLIENT_PATH, get(oauth::validate_client))
        .route(ups::AUTHORIZE_PATH, get(oauth::authorize))
        .route(ups::TOKEN_PATH, post(oauth::token))
        .route(ups::REFRESH_PATH, post(oauth::refresh))
        .route(TRACK_PATH, get(oauth::track))
        .route(ECHO_PATH, axum::routing::any(oauth::echo))
        .route(QUANTUM_VIEW_PATH, post(oauth::quantum_view))
        .route(SIGNIN_PATH, get(signin::start).post(signin::submit))
        .route(pages::CSS_PATH, get(pages::css))
        .route("/favicon.ico", get(signin::favicon))
        .merge(control)
        .with_state(mock)
}
