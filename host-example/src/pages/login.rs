//! The demo login: any user name, no password (this is the demo portal, not the product).

use axum::extract::{Form, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::html;
use serde::Deserialize;

use super::{layout, Portal};
use crate::auth::cookie;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    user: String,
}

pub(super) async fn login_page(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
) -> Response {
    let company = state.config().companies.first().clone();
    layout(
        &state,
        &portal,
        "Sign in",
        "",
        &company,
        html! {
            h1 { "Sign in" }
            form.card method="post" action="/login" {
                label for="user" { "Sign in name" }
                input #user name="user" autocomplete="username" required maxlength="64" value=(portal.session.user);
                button type="submit" { "Sign in" }
            }
        },
    )
    .into_response()
}

/// Demo login: any user name (no password: this is the demo portal, not the product).
pub(super) async fn login(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    headers: axum::http::HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Some(origin) = headers.get(header::ORIGIN) {
        if origin.to_str().ok() != Some(state.config().public_origin().as_str()) {
            return (StatusCode::FORBIDDEN, "foreign origin").into_response();
        }
    }
    let user = form.user.trim();
    if user.is_empty() || user.len() > 64 || user.chars().any(char::is_control) {
        return (
            StatusCode::BAD_REQUEST,
            "user must be 1-64 printable characters",
        )
            .into_response();
    }
    state.sessions().remove(&portal.id);
    let id = state.sessions().create(user);
    let (name, value) = cookie::set_cookie(&id, state.config().public_url.scheme() == "https");
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(name, value);
    response
}
