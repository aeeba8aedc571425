//! The demo login: a picker of the demo's users (no password: this is the demo portal, not
//! the product), and logout.

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use maud::html;
use serde::Deserialize;

use super::demo_users::DEMO_USERS;
use super::{layout, same_origin, secure, Portal};
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
    let current = portal.user.as_ref().map(|(u, _)| u.id);
    let companies = &state.config().companies;
    layout(
        &state,
        &portal,
        "Sign in",
        "",
        None,
        html! {
            h1 { "Sign in" }
            form.card method="post" action="/login" {
                fieldset {
                    legend { "Sign in as" }
                    @for user in &DEMO_USERS {
                        label.choice {
                            input type="radio" name="user" value=(user.id)
                                checked[current.map_or(user.id == DEMO_USERS[0].id, |c| c == user.id)];
                            strong { (user.name) } " — " (user.describe(companies))
                        }
                    }
                }
                button type="submit" { "Sign in" }
            }
        },
    )
    .into_response()
}

/// Sign in as one of the demo users.
pub(super) async fn login(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&state, &headers) {
        return (StatusCode::FORBIDDEN, "foreign origin").into_response();
    }
    let Some(user) = DEMO_USERS.iter().find(|u| u.id == form.user) else {
        return (
            StatusCode::BAD_REQUEST,
            "user must be one of the demo's users",
        )
            .into_response();
    };
    state.sessions().remove(&portal.id);
    let id = state.sessions().create(Some(user.id));
    let (name, value) = cookie::set_cookie(&id, secure(&state));
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(name, value);
    response
}

/// Sign out: the session is ended and replaced by a signed-out one, so the next page asks
/// who you are instead of signing the first demo user in again.
pub(super) async fn logout(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&state, &headers) {
        return (StatusCode::FORBIDDEN, "foreign origin").into_response();
    }
    state.sessions().remove(&portal.id);
    let id = state.sessions().create(None);
    let (name, value) = cookie::set_cookie(&id, secure(&state));
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(name, value);
    response
}
