//! The demo portal: server-rendered pages around the widget (the seed's "Intelligent Data
//! Management" shell), its login, and the security headers every page carries. The only
//! demo-only folder of the host.

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use maud::{html, Markup};
use rand::RngCore;
use serde::Deserialize;

use crate::auth::cookie;
use crate::config::Company;
use crate::sessions::{Session, DEMO_USER};
use crate::state::AppState;

mod exports;
mod home;
mod layout;
mod login;
mod token_manager;

use layout::layout;

const CSS: &str = include_str!("../../assets/portal.css");
const JS: &str = include_str!("../../assets/portal.js");

/// The request's portal session (set by the session middleware) and its CSP nonce.
#[derive(Debug, Clone)]
pub(super) struct Portal {
    id: String,
    session: Session,
    nonce: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct CompanyParam {
    company: Option<String>,
    /// `popup` shows the panel in popup mode (the sign-in opens in a popup window).
    mode: Option<String>,
}

/// A portal page's request: the state, the session (with its CSP nonce), the query and the
/// company it resolves to. An unknown company is answered with the portal's 404 page.
pub(super) struct Page {
    pub(super) state: AppState,
    pub(super) portal: Portal,
    pub(super) query: CompanyParam,
    pub(super) company: Company,
}

impl FromRequestParts<AppState> for Page {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let portal = parts.extensions.get::<Portal>().cloned().ok_or_else(|| {
            (StatusCode::INTERNAL_SERVER_ERROR, "no portal session").into_response()
        })?;
        let Query(query) = Query::<CompanyParam>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let company = company(state, &portal, query.company.as_deref())
            .map_err(IntoResponse::into_response)?;
        Ok(Self {
            state: state.clone(),
            portal,
            query,
            company,
        })
    }
}

impl Page {
    /// `body` in the portal's frame, `active` the menu entry to highlight.
    pub(super) fn render(&self, title: &str, active: &str, body: Markup) -> Response {
        layout(
            &self.state,
            &self.portal,
            title,
            active,
            &self.company,
            body,
        )
        .into_response()
    }
}

/// The page routes (each behind the session + security-header middleware).
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/exports", get(exports::exports))
        .route("/users", get(home::users))
        .route("/groups", get(home::groups))
        .route(
            "/admin",
            get(|| async { Redirect::to("/admin/token-manager") }),
        )
        .route("/admin/token-manager", get(token_manager::token_manager))
        .route("/login", get(login::login_page).post(login::login))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            portal_session,
        ))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        // Browsers ask for it on every portal page; an empty answer keeps their consoles clean.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

/// Auto-login (`admin`) on the first visit, a CSP nonce per response, security headers.
async fn portal_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let existing = cookie::session_id(request.headers())
        .and_then(|id| state.sessions().get(id).map(|s| (id.to_owned(), s)));
    let (id, session, created) = match existing {
        Some((id, s)) => (id, s, false),
        None => {
            let id = state.sessions().create(DEMO_USER);
            let s = state
                .sessions()
                .get(&id)
                .expect("a session just created is live");
            (id, s, true)
        }
    };
    let mut nonce = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut nonce);
    let nonce = B64.encode(nonce);
    request.extensions_mut().insert(Portal {
        id: id.clone(),
        session,
        nonce: nonce.clone(),
    });
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler that set its own session cookie (login) wins over the automatic one.
    let handler_set_session = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(cookie::COOKIE_NAME.as_bytes()));
    if created && !handler_set_session {
        let (name, value) = cookie::set_cookie(&id, state.config().public_url.scheme() == "https");
        headers.append(name, value);
    }
    let csp = format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' 'nonce-{nonce}'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&csp).expect("base64 nonce and fixed text are valid header bytes"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Resolve the page's company: `?company=` (remembered in the session), else the session's
/// last choice (the provider's redirect back carries no company), else the first.
fn company(
    state: &AppState,
    portal: &Portal,
    param: Option<&str>,
) -> Result<Company, (StatusCode, Html<String>)> {
    let companies = &state.config().companies;
    match param {
        Some(id) => match companies.get(id) {
            Some(c) => {
                state.sessions().set_company(&portal.id, &c.id);
                Ok(c.clone())
            }
            None => Err((
                StatusCode::NOT_FOUND,
                layout(
                    state,
                    portal,
                    "Unknown company",
                    "",
                    companies.first(),
                    html! {
                        h1 { "Unknown company" }
                        p { "There is no company " code { (id) } " in this portal. "
                            a href="/" { "Back to Home" } }
                    },
                ),
            )),
        },
        None => Ok(portal
            .session
            .company
            .as_deref()
            .and_then(|id| companies.get(id))
            .unwrap_or_else(|| companies.first())
            .clone()),
    }
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}
