//! The demo portal: server-rendered pages around the widget (the seed's "Intelligent Data
//! Management" shell), its users and login, and the security headers every page carries. The
//! only demo-only folder of the host.
//!
//! The demo is a client of the host's session API as any portal would be: its pages mint a
//! session token server-side for the signed-in demo user (`ops::mint_session`, the code
//! behind `POST /api/v1/sessions`) and hand it to `<token-manager session-token=…>`;
//! `POST /portal/session-token` gives the panel a fresh one when it asks. The demo's cookie
//! identifies the demo user to these pages only.

use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use maud::{html, Markup};
use rand::RngCore;
use serde::Deserialize;
use token_manager_core::api::CSRF_HEADER;

use crate::access::{KeyId, Role};
use crate::auth::cookie;
use crate::config::Company;
use crate::ops::{self, MintedSession, SessionRequest};
use crate::sessions::{Session, DEMO_USER};
use crate::state::AppState;

mod demo_users;
mod exports;
mod home;
mod layout;
mod login;
mod token_manager;
pub(crate) mod worker;

use demo_users::DemoUser;
use layout::layout;

const CSS: &str = include_str!("../../assets/portal.css");
const JS: &str = include_str!("../../assets/portal.js");

/// The request's portal session (set by the session middleware), its demo user, and its CSP
/// nonce.
#[derive(Debug, Clone)]
pub(super) struct Portal {
    id: String,
    session: Session,
    /// The signed-in demo user and the companies they may see; `None` when signed out.
    user: Option<(&'static DemoUser, Vec<(Company, Role)>)>,
    nonce: String,
}

impl Portal {
    /// The companies the signed-in user may see (none when signed out).
    fn companies(&self) -> &[(Company, Role)] {
        self.user.as_ref().map_or(&[], |(_, c)| c.as_slice())
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct CompanyParam {
    company: Option<String>,
    /// `popup` shows the panel in popup mode (the sign-in opens in a popup window).
    mode: Option<String>,
}

/// A portal page's request: the state, the session (with its CSP nonce), the query and the
/// company it resolves to. Signed out: a redirect to the login page; a company the user may
/// not see (or that does not exist): the portal's 404 page.
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
        if portal.user.is_none() {
            return Err(Redirect::to("/login").into_response());
        }
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
            Some(&self.company),
            body,
        )
        .into_response()
    }

    /// The signed-in user's role at the page's company.
    pub(super) fn role(&self) -> Role {
        self.portal
            .companies()
            .iter()
            .find(|(c, _)| c.id == self.company.id)
            .map_or(Role::Viewer, |(_, r)| *r)
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
        .route("/portal/session-token", post(session_token))
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            portal_session,
        ))
        .route("/static/portal.css", get(css))
        .route("/static/portal.js", get(js))
        // Browsers ask for it on every portal page; an empty answer keeps their consoles clean.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

/// Whether the portal is served over https (the `__Host-` cookie, `Secure`).
fn secure(state: &AppState) -> bool {
    state.config().public_url.scheme() == "https"
}

/// The signed-in demo user of a session, with their companies.
fn demo_user(
    state: &AppState,
    session: &Session,
) -> Option<(&'static DemoUser, Vec<(Company, Role)>)> {
    let user = DemoUser::find(session.user.as_deref()?)?;
    Some((user, user.companies(&state.config().companies)))
}

/// Auto-login (the first demo user) on a browser's first visit, a CSP nonce per response,
/// security headers.
async fn portal_session(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let secure = secure(&state);
    let existing = cookie::session_id(request.headers(), secure)
        .and_then(|id| state.sessions().get(id).map(|s| (id.to_owned(), s)));
    let (id, session, created) = match existing {
        Some((id, s)) => (id, s, false),
        None => {
            let id = state.sessions().create(Some(DEMO_USER));
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
        user: demo_user(&state, &session),
        session,
        nonce: nonce.clone(),
    });
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    // A handler that set its own session cookie (login, logout) wins over the automatic one.
    let handler_set_session = headers.get_all(header::SET_COOKIE).iter().any(|v| {
        v.as_bytes()
            .starts_with(cookie::cookie_name(secure).as_bytes())
    });
    if created && !handler_set_session {
        let (name, value) = cookie::set_cookie(&id, secure);
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

/// Resolve the page's company among the user's: `?company=` (remembered in the session), else
/// the session's last choice (the provider's redirect back carries no company), else the
/// first.
fn company(
    state: &AppState,
    portal: &Portal,
    param: Option<&str>,
) -> Result<Company, (StatusCode, Html<String>)> {
    let mine = portal.companies();
    let find = |id: &str| {
        mine.iter()
            .find(|(c, _)| c.id == id)
            .map(|(c, _)| c.clone())
    };
    match param {
        Some(id) => match find(id) {
            Some(c) => {
                state.sessions().set_company(&portal.id, &c.id);
                Ok(c)
            }
            None => Err((
                StatusCode::NOT_FOUND,
                layout(
                    state,
                    portal,
                    "Unknown company",
                    "",
                    None,
                    html! {
                        h1 { "Unknown company" }
                        p { "There is no company " code { (id) } " in this portal for you. "
                            a href="/" { "Back to Home" } }
                    },
                ),
            )),
        },
        None => portal
            .session
            .company
            .as_deref()
            .and_then(find)
            .or_else(|| mine.first().map(|(c, _)| c.clone()))
            .ok_or_else(|| {
                (
                    StatusCode::NOT_FOUND,
                    layout(
                        state,
                        portal,
                        "No company",
                        "",
                        None,
                        html! { h1 { "No company" } p { "You may not see any company of this portal." } },
                    ),
                )
            }),
    }
}

/// A session token for the signed-in demo user, minted as the portal's backend would.
pub(super) async fn mint_for(
    state: &AppState,
    portal: &Portal,
) -> Result<MintedSession, ops::OpError> {
    let (user, companies) = portal
        .user
        .as_ref()
        .ok_or(ops::OpError::InvalidRequest("signed out".into()))?;
    let request = SessionRequest {
        user_id: user.id.to_owned(),
        user_name: user.name.to_owned(),
        companies: companies
            .iter()
            .map(|(c, role)| (c.id.clone(), c.name.clone(), *role))
            .collect(),
        ttl: ops::DEFAULT_TTL,
    };
    ops::mint_session(state, request, KeyId("demo-portal".into())).await
}

/// Did a page of ours send this request (a form post or a fetch)? Browsers say so in
/// `Sec-Fetch-Site` (`same-origin`, or `none` when the user typed it), whatever the referrer
/// policy; without it (older browsers) an `Origin`, when sent, must be ours. Our pages are served
/// with `Referrer-Policy: no-referrer`, under which Chromium sends `Origin: null` on a form post,
/// so `Origin` alone would refuse our own login form.
fn same_origin(state: &AppState, headers: &axum::http::HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or_default());
    if let Some(site) = text("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    text(header::ORIGIN.as_str()).is_none_or(|o| o == state.config().public_origin())
}

/// `POST /portal/session-token`: a fresh session token for the panel (its `getSessionToken`),
/// for the signed-in demo user. Same-origin only (`X-Token-Manager` header, `Origin` checked).
async fn session_token(
    State(state): State<AppState>,
    axum::Extension(portal): axum::Extension<Portal>,
    headers: axum::http::HeaderMap,
) -> Response {
    if headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()) != Some("1")
        || !same_origin(&state, &headers)
    {
        return (StatusCode::FORBIDDEN, "same-origin requests only").into_response();
    }
    if portal.user.is_none() {
        return (StatusCode::UNAUTHORIZED, "signed out").into_response();
    }
    match mint_for(&state, &portal).await {
        Ok(s) => Json(serde_json::json!({
            "session_token": s.token,
            "expires_at": s.expires_at,
        }))
        .into_response(),
        Err(e) => crate::error::AppError::from(e).into_response(),
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
