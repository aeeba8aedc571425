//! The demo portal: server-rendered pages around the widget (the seed's "Intelligent Data
//! Management" shell), its login, and the security headers every page carries.

use axum::extract::{Form, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Extension, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use rand::RngCore;
use serde::Deserialize;
use token_manager_core::AuthorizationStatus;

use crate::config::Company;
use crate::session::{self, Session, DEMO_USER};
use crate::state::{AppState, RetrievalOutcome};

const CSS: &str = include_str!("../assets/portal.css");
const JS: &str = include_str!("../assets/portal.js");

/// The request's portal session (set by the session middleware) and its CSP nonce.
#[derive(Debug, Clone)]
struct Portal {
    id: String,
    session: Session,
    nonce: String,
}

#[derive(Debug, Deserialize)]
struct CompanyParam {
    company: Option<String>,
    /// `popup` shows the panel in popup mode (the sign-in opens in a popup window).
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    user: String,
}

/// The page routes (each behind the session + security-header middleware).
pub(crate) fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/exports", get(exports))
        .route("/users", get(users))
        .route("/groups", get(groups))
        .route(
            "/admin",
            get(|| async { Redirect::to("/admin/token-manager") }),
        )
        .route("/admin/token-manager", get(token_manager))
        .route("/login", get(login_page).post(login))
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
    let existing = session::session_id(request.headers())
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
        .any(|v| v.as_bytes().starts_with(session::COOKIE_NAME.as_bytes()));
    if created && !handler_set_session {
        let (name, value) = session::set_cookie(&id, state.config().public_url.scheme() == "https");
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

fn layout(
    state: &AppState,
    portal: &Portal,
    title: &str,
    active: &str,
    company: &Company,
    body: Markup,
) -> Html<String> {
    let menu = [
        ("home", "Home", "/"),
        ("exports", "Exports", "/exports"),
        ("users", "Users", "/users"),
        ("groups", "Groups", "/groups"),
        ("admin", "Admin", "/admin/token-manager"),
    ];
    let path = menu
        .iter()
        .find(|(key, _, _)| *key == active)
        .map_or("/", |(_, _, p)| *p);
    Html(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Intelligent Data Management" }
                link rel="stylesheet" href="/static/portal.css";
                script src="/static/portal.js" defer {}
            }
            body {
                header.topbar {
                    span.brand { "Intelligent Data Management" }
                    form.company method="get" action=(path) {
                        label for="company" { "Company" }
                        select #company name="company" data-autosubmit {
                            @for c in state.config().companies.all() {
                                option value=(c.id) selected[c.id == company.id] { (c.name) }
                            }
                        }
                        noscript { button type="submit" { "Switch" } }
                    }
                    span.user { "Signed in as " strong { (portal.session.user) } }
                }
                div.shell {
                    nav.menu aria-label="Main menu" {
                        ul {
                            @for (key, label, href) in menu {
                                li {
                                    a href={ (href) "?company=" (company.id) }
                                      aria-current=[(key == active).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    main #main { (body) }
                }
            }
        }
    }
    .into_string())
}

async fn home(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    Query(q): Query<CompanyParam>,
) -> Response {
    let company = match company(&state, &portal, q.company.as_deref()) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let id = company.id.clone();
    let status = state
        .db(move |s| s.authorization(&id))
        .await
        .map(|r| r.state.status());
    layout(
        &state,
        &portal,
        "Home",
        "home",
        &company,
        html! {
            h1 { "Welcome" }
            p.lead { "You are managing " strong { (company.name) } "." }
            section.card {
                h2 { "UPS.com data access" }
                @match status {
                    Ok(s) => p { "Token Manager status: " span.badge data-status=(status_key(s)) { (status_label(s)) } }
                    Err(_) => p.error { "The token status is unavailable right now." }
                }
                p { a.button href={ "/admin/token-manager?company=" (company.id) } { "Open Token Manager" } }
            }
        },
    )
    .into_response()
}

async fn token_manager(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    Query(q): Query<CompanyParam>,
) -> Response {
    let company = match company(&state, &portal, q.company.as_deref()) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let built = state.config().static_dir.join("index.js").is_file();
    let mode = q.mode.as_deref().filter(|m| *m == "popup");
    let boot = r#"import { defineTokenManager } from "/assets/token-manager/index.js"; await defineTokenManager();"#;
    layout(
        &state,
        &portal,
        "Token Manager",
        "admin",
        &company,
        html! {
            h1 { "Token Manager" }
            p.lead { "Authorize this portal to retrieve " strong { (company.name) } "'s data from UPS.com on your behalf, review the tokens it holds, or clear the authorization." }
            @if built {
                token-manager api="/api/optin" company=(company.id) mode=[mode] {}
                script type="module" nonce=(portal.nonce) { (PreEscaped(boot)) }
            } @else {
                section.card.notice role="status" {
                    h2 { "Widget not built" }
                    p { "The Token Manager widget is not in " code { (state.config().static_dir.display()) } " yet. "
                        "Run " code { "scripts/build-widget.sh" } " and reload this page." }
                    p { "The API it will use is live at " a href="/api/optin/openapi.json" { code { "/api/optin" } } "." }
                }
            }
        },
    )
    .into_response()
}

async fn exports(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    Query(q): Query<CompanyParam>,
) -> Response {
    let company = match company(&state, &portal, q.company.as_deref()) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    let reports = state.retrieval_reports();
    let id = company.id.clone();
    let status = state
        .db(move |s| s.authorization(&id))
        .await
        .map(|r| r.state.status())
        .ok();
    let report = reports.get(&company.id);
    let every = state.config().retrieval_interval.as_secs_f64();
    layout(
        &state,
        &portal,
        "Exports",
        "exports",
        &company,
        html! {
            h1 { "Exports" }
            p.lead { "Data retrieved from UPS.com on " strong { (company.name) } "'s behalf, every " (format!("{every:.0}")) " s while the authorization is active." }
            @if !state.provider().has_data_api() {
                p.notice { "No data API is configured for this provider, so the retrieval job is off." }
            }
            section.card #retrieval {
                h2 { "Last retrieval" }
                dl {
                    dt { "Authorization" }
                    dd { @match status { Some(s) => span.badge data-status=(status_key(s)) { (status_label(s)) }, None => "unavailable" } }
                    @match report {
                        None => { dt { "Result" } dd #result data-outcome="none" { "No retrieval yet." } }
                        Some(r) => {
                            dt { "When" }
                            dd { time datetime=(r.at.to_iso8601()) title=(r.at.to_iso8601()) { (r.at.format_grid(0)) " UTC" } }
                            dt { "Calls since start" }
                            dd #calls { (r.calls) }
                            dt { "Result" }
                            @match &r.outcome {
                                RetrievalOutcome::Data(d) => dd #result data-outcome="data" {
                                    "HTTP " (d.status)
                                    pre { (d.summary) }
                                },
                                RetrievalOutcome::Failed(why) => dd #result data-outcome="failed" { (why) },
                                RetrievalOutcome::Stopped(why) => dd #result data-outcome="stopped" { (why) },
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}

async fn users(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    Query(q): Query<CompanyParam>,
) -> Response {
    placeholder(&state, &portal, q, "Users", "users")
}

async fn groups(
    State(state): State<AppState>,
    Extension(portal): Extension<Portal>,
    Query(q): Query<CompanyParam>,
) -> Response {
    placeholder(&state, &portal, q, "Groups", "groups")
}

fn placeholder(
    state: &AppState,
    portal: &Portal,
    q: CompanyParam,
    title: &str,
    key: &str,
) -> Response {
    let company = match company(state, portal, q.company.as_deref()) {
        Ok(c) => c,
        Err(r) => return r.into_response(),
    };
    layout(
        state,
        portal,
        title,
        key,
        &company,
        html! {
            h1 { (title) }
            p { "This demo portal does not manage " (title.to_lowercase()) ". See "
                a href={ "/admin/token-manager?company=" (company.id) } { "Admin › Token Manager" } "." }
        },
    )
    .into_response()
}

async fn login_page(
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
async fn login(
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
    let (name, value) = session::set_cookie(&id, state.config().public_url.scheme() == "https");
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(name, value);
    response
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

fn status_label(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "Not authorized",
        AuthorizationStatus::Active => "Active",
        AuthorizationStatus::Cleared => "Cleared",
        AuthorizationStatus::Invalidated => "Invalidated",
    }
}

fn status_key(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "not_authorized",
        AuthorizationStatus::Active => "active",
        AuthorizationStatus::Cleared => "cleared",
        AuthorizationStatus::Invalidated => "invalidated",
    }
}
