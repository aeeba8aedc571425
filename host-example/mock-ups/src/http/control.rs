//! The `/mock/*` control endpoints (stats, faults, password change, reset), loopback only.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{ExtensionRejection, JsonRejection};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::faults::Faults;
use crate::MockUps;

/// `{"error":{"code","message"}}` (the control API speaks the host's error shape, not UPS's).
fn control_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn json_error(e: &JsonRejection) -> Response {
    control_error(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        &format!(
            "the body must be JSON of the documented shape: {}",
            e.body_text()
        ),
    )
}

/// `127.0.0.0/8`, `::1`, and `::ffff:127.x.y.z` (an IPv4 loopback peer on a dual-stack socket).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
    }
}

/// Refuse every peer that is not on loopback (or whose address is unknown).
pub(super) async fn loopback_only(
    peer: Result<ConnectInfo<SocketAddr>, ExtensionRejection>,
    request: Request,
    next: Next,
) -> Response {
    match peer {
        Ok(ConnectInfo(addr)) if is_loopback(addr.ip()) => next.run(request).await,
        Ok(_) => control_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the mock UPS control endpoints answer only on loopback",
        ),
        Err(_) => control_error(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the mock UPS control endpoints need the peer address: serve the router with \
             into_make_service_with_connect_info::<SocketAddr>()",
        ),
    }
}

/// `GET /mock/stats`.
pub(super) async fn stats(State(m): State<MockUps>) -> Response {
    Json(m.stats()).into_response()
}

/// `GET /mock/faults`.
pub(super) async fn get_faults(State(m): State<MockUps>) -> Response {
    Json(m.faults()).into_response()
}

/// `POST /mock/faults`: replace the faults; answers the faults now in effect.
pub(super) async fn post_faults(
    State(m): State<MockUps>,
    body: Result<Json<Faults>, JsonRejection>,
) -> Response {
    match body {
        Ok(Json(faults)) => {
            m.set_faults(faults);
            Json(m.faults()).into_response()
        }
        Err(e) => json_error(&e),
    }
}

/// Body of `POST /mock/password-change`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PasswordChangeBody {
    user: String,
    new_password: String,
}

/// `POST /mock/password-change`: see [`MockUps::change_password`].
pub(super) async fn password_change(
    State(m): State<MockUps>,
    body: Result<Json<PasswordChangeBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return json_error(&e),
    };
    if body.new_password.is_empty() {
        return control_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "new_password must not be empty",
        );
    }
    match m.password_change(&body.user, &body.new_password) {
        Some(change) => Json(change).into_response(),
        None => control_error(
            StatusCode::NOT_FOUND,
            "unknown_user",
            &format!("no mock UPS user is named {:?}", body.user),
        ),
    }
}

/// `POST /mock/reset`: clear every fault.
pub(super) async fn reset(State(m): State<MockUps>) -> Response {
    m.set_faults(Faults::default());
    Json(m.faults()).into_response()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_addresses() {
        for ip in ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "192.0.2.7",
            "10.0.0.1",
            "::ffff:192.0.2.7",
            "2001:db8::1",
            "0.0.0.0",
        ] {
            assert!(!is_loopback(ip.parse().unwrap()), "{ip}");
        }
    }
}
