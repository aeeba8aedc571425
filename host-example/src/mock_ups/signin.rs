//! The UPS.com sign-in screens (`/lasso/signin`), as in the seed: **Log In** (Email or
//! Username, the agreement checkbox, Continue), then **Welcome back, &lt;user&gt;** (Password,
//! Login), then the redirect back to the application. Plain HTML and CSS, no script; the
//! transaction lives server-side under a random id carried in a hidden field.

use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use url::Url;

use super::oauth::parse_query;
use super::state::{now_ms, random_secret, valid_challenge, Step, Txn, MAX_PASSWORD_ATTEMPTS};
use super::{MockUps, APP_DISPLAY_NAME, SIGNIN_PATH};

/// Where the stylesheet is served (CSP `style-src 'self'`, no inline style).
pub(super) const CSS_PATH: &str = "/lasso/assets/signin.css";

/// Longest username / password accepted.
const MAX_USERNAME: usize = 254;
const MAX_PASSWORD: usize = 256;

/// The agreement text of the seed, with the application's name.
fn agreement_text() -> String {
    format!(
        "By continuing, I agree to the UPS Technology Agreement and authorize {APP_DISPLAY_NAME} \
         to access data associated with my UPS.com username listed above, including UPS shipping \
         account numbers, contact information, rates, and package tracking status."
    )
}

/// HTML-escape text for element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// CSP `form-action` source for the redirect target: the browser checks the redirect that
/// follows a form submission against it.
fn form_action_source(redirect: &Url) -> String {
    let origin = redirect.origin();
    if origin.is_tuple() {
        origin.ascii_serialization()
    } else {
        format!("{}:", redirect.scheme())
    }
}

fn security_headers(h: &mut HeaderMap, csp: &str) {
    let pairs: [(header::HeaderName, &str); 5] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    for (name, value) in pairs {
        h.insert(name, HeaderValue::from_static(value));
    }
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
}

/// A complete page. `form_action` lists the extra `form-action` source (the redirect URI's
/// origin) for pages with a form; `None` forbids forms.
fn page(status: StatusCode, form_action: Option<&Url>, main: &str) -> Response {
    let form_src = match form_action {
        Some(u) => format!("'self' {}", form_action_source(u)),
        None => "'none'".into(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {form_src}; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Log In</title>
<link rel="stylesheet" href="{CSS_PATH}">
</head>
<body>
<header class="ups-header">
  <span class="ups-logo" aria-hidden="true">ups</span>
  <span class="ups-brand">UPS.com <span class="mock-tag">local mock for testing</span></span>
</header>
<main class="card" aria-labelledby="page-title">
{main}
</main>
<footer class="ups-footer">This page imitates the UPS.com sign-in for development and tests. It is not UPS.</footer>
</body>
</html>
"#
    );
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response();
    security_headers(resp.headers_mut(), &csp);
    resp
}

/// The page shown when the mock cannot send the browser back (bad client, unregistered
/// redirect URI, expired transaction): it never redirects to an unverified URI.
fn error_page(status: StatusCode, message: &str) -> Response {
    let main = format!(
        r#"<h1 id="page-title">We can't complete this sign-in</h1>
<div class="error" role="alert"><p>{}</p></div>
<p>Go back to the application and start the authorization again. If this keeps happening,
contact the application's administrator.</p>"#,
        esc(message)
    );
    page(status, None, &main)
}

fn error_block(error: Option<&str>) -> String {
    error
        .map(|e| {
            format!(
                r#"<div class="error" role="alert" id="form-error"><p>{}</p></div>"#,
                esc(e)
            )
        })
        .unwrap_or_default()
}

fn invalid_attrs(error: Option<&str>) -> &'static str {
    if error.is_some() {
        r#" aria-invalid="true" aria-describedby="form-error""#
    } else {
        ""
    }
}

/// The Log In field an error is about (it gets focus and `aria-invalid`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IdentifyField {
    Username,
    Agree,
}

/// Screen 1: Log In.
fn identify_page(
    txn_id: &str,
    txn: &Txn,
    username: &str,
    agreed: bool,
    error: Option<(&str, IdentifyField)>,
) -> Response {
    let on = |field: IdentifyField| {
        let is_target = error.map_or(field == IdentifyField::Username, |(_, f)| f == field);
        let attrs = invalid_attrs(error.filter(|(_, f)| *f == field).map(|(e, _)| e));
        if is_target {
            format!(" autofocus{attrs}")
        } else {
            attrs.to_owned()
        }
    };
    let main = format!(
        r#"<h1 id="page-title">Log In</h1>
<p class="signup">Don't have a profile? <a class="inert" aria-disabled="true">Sign up</a></p>
{error_block}
<form method="post" action="{SIGNIN_PATH}" class="signin">
  <input type="hidden" name="txn" value="{txn}">
  <div class="field">
    <label for="username">Email or Username</label>
    <input id="username" name="username" type="text" value="{username}" autocomplete="username"
      autocapitalize="none" spellcheck="false" maxlength="{MAX_USERNAME}" required{username_attrs}>
  </div>
  <div class="agree">
    <input id="agree" name="agree" type="checkbox" value="yes" required{checked}{agree_attrs}>
    <label for="agree">{agreement}</label>
  </div>
  <div class="actions">
    <button type="submit" name="action" value="continue" class="primary">Continue</button>
    <a class="inert" aria-disabled="true">Forgot Username/Password</a>
  </div>
  <div class="secondary-actions">
    <button type="submit" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>
  </div>
</form>
<p class="note">Note: once you log in, you authorize {app} to use your information.</p>"#,
        error_block = error_block(error.map(|(e, _)| e)),
        txn = esc(txn_id),
        username = esc(username),
        username_attrs = on(IdentifyField::Username),
        agree_attrs = on(IdentifyField::Agree),
        checked = if agreed { " checked" } else { "" },
        agreement = esc(&agreement_text()),
        app = esc(APP_DISPLAY_NAME),
    );
    page(StatusCode::OK, Some(&txn.redirect_uri), &main)
}

/// Screen 2: "Welcome back, &lt;user&gt;" / Password.
fn password_page(txn_id: &str, txn: &Txn, typed: &str, error: Option<&str>) -> Response {
    let main = format!(
        r#"<h1 id="page-title">Welcome back, {user}</h1>
<p class="sub">Enter your UPS.com password.</p>
{error_block}
<form method="post" action="{SIGNIN_PATH}" class="signin">
  <input type="hidden" name="txn" value="{txn}">
  <input type="text" name="username" value="{user}" autocomplete="username" hidden readonly>
  <div class="field">
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password"
      maxlength="{MAX_PASSWORD}" required autofocus{invalid}>
  </div>
  <div class="actions">
    <button type="submit" name="action" value="login" class="primary">Login</button>
    <a class="inert" aria-disabled="true">Forgot Username/Password</a>
  </div>
  <div class="secondary-actions">
    <button type="submit" name="action" value="switch" class="link-button" formnovalidate>Not {user}? Use another username</button>
    <button type="submit" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>
  </div>
</form>
<p class="warning"><strong>Warning:</strong> changing the UPS.com password of the user who opted in
invalidates the opt-in; the company admin then has to opt in again.</p>"#,
        user = esc(typed),
        error_block = error_block(error),
        txn = esc(txn_id),
        invalid = invalid_attrs(error),
    );
    page(StatusCode::OK, Some(&txn.redirect_uri), &main)
}

/// 302 to the application's (verified) redirect URI with `params` added to its query.
fn redirect_back(redirect_uri: &Url, params: &[(&str, &str)]) -> Response {
    let mut target = redirect_uri.clone();
    {
        let mut q = target.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    match HeaderValue::from_str(target.as_str()) {
        Ok(loc) => {
            h.insert(header::LOCATION, loc);
        }
        Err(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                "The application's redirect URI cannot be used.",
            )
        }
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// RFC 6749 §4.1.2.1 error redirect (state echoed when there was one).
fn redirect_error(txn: &Txn, error: &str, description: &str) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = txn.state.as_deref() {
        params.push(("state", s));
    }
    redirect_back(&txn.redirect_uri, &params)
}

/// `GET /lasso/signin`: check the request, start a transaction, show Log In.
pub(super) async fn start(State(m): State<MockUps>, RawQuery(q): RawQuery) -> Response {
    let params = match parse_query(q.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &format!("The sign-in request is invalid: {e}."),
            )
        }
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let checked = m
        .lock()
        .check_client_redirect(get("client_id"), get("redirect_uri"));
    let redirect_uri = match checked {
        Ok(u) => u,
        Err(e) => {
            let message = match e.code {
                "10401" => "The application (client_id) is not registered with UPS.".to_owned(),
                _ => format!("The sign-in request is invalid: {}.", e.message),
            };
            return error_page(StatusCode::BAD_REQUEST, &message);
        }
    };
    let client_id = get("client_id").unwrap_or_default().to_owned();
    let mut txn = Txn {
        client_id,
        redirect_uri,
        state: params.get("state").cloned(),
        scope: params.get("scope").cloned().unwrap_or_default(),
        challenge: None,
        created_ms: now_ms(),
        step: Step::Identify,
        failed_passwords: 0,
    };
    // From here on the redirect URI is verified: errors go back to the application.
    if get("response_type") != Some("code") {
        return redirect_error(
            &txn,
            "unsupported_response_type",
            "response_type must be code",
        );
    }
    match (get("code_challenge"), get("code_challenge_method")) {
        (None, None) => {}
        (None, Some(_)) => {
            return redirect_error(
                &txn,
                "invalid_request",
                "code_challenge_method without code_challenge",
            )
        }
        (Some(_), Some(method)) if method != "S256" => {
            return redirect_error(
                &txn,
                "invalid_request",
                "code_challenge_method must be S256",
            )
        }
        (Some(c), _) if !valid_challenge(c) => {
            return redirect_error(
                &txn,
                "invalid_request",
                "code_challenge must be BASE64URL(SHA256(code_verifier)) (43 characters)",
            )
        }
        (Some(c), _) => txn.challenge = Some(c.to_owned()),
    }
    let id = m.lock().start_txn(txn.clone());
    identify_page(&id, &txn, "", false, None)
}

/// The sign-in form (both screens post here).
#[derive(Debug, Deserialize)]
pub(super) struct SigninForm {
    txn: Option<String>,
    action: Option<String>,
    username: Option<String>,
    agree: Option<String>,
    password: Option<String>,
}

/// `POST /lasso/signin`: Continue, Login, Cancel, or switch user.
pub(super) async fn submit(
    State(m): State<MockUps>,
    form: Result<Form<SigninForm>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "The sign-in form could not be read.",
        );
    };
    let txn_id = form.txn.unwrap_or_default();
    let now = now_ms();
    let Some(mut txn) = m.lock().txn(&txn_id, now) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired or was already completed.",
        );
    };
    let action = form.action.as_deref().unwrap_or_default();
    if action == "cancel" {
        let mut st = m.lock();
        st.end_txn(&txn_id);
        st.count_declined();
        drop(st);
        return redirect_error(
            &txn,
            "access_denied",
            "The user canceled the sign-in at UPS.com",
        );
    }
    match txn.step.clone() {
        Step::Identify => {
            let username = form
                .username
                .as_deref()
                .unwrap_or_default()
                .trim()
                .to_owned();
            let agreed = form.agree.as_deref().is_some_and(|a| !a.is_empty());
            let error = if username.is_empty() {
                Some((
                    "Enter your Email or Username.".to_owned(),
                    IdentifyField::Username,
                ))
            } else if username.chars().count() > MAX_USERNAME {
                Some((
                    format!("The Email or Username can have at most {MAX_USERNAME} characters."),
                    IdentifyField::Username,
                ))
            } else if !agreed {
                Some((
                    format!(
                        "To continue, check the box to agree to the UPS Technology Agreement \
                         and authorize {APP_DISPLAY_NAME}."
                    ),
                    IdentifyField::Agree,
                ))
            } else {
                None
            };
            if let Some((e, field)) = error {
                return identify_page(&txn_id, &txn, &username, agreed, Some((&e, field)));
            }
            // Show the configured spelling for a known user; an unknown name is kept as typed
            // (the mock, like a careful identity provider, does not reveal which names exist).
            let shown = m
                .lock()
                .known_user(&username)
                .unwrap_or(&username)
                .to_owned();
            txn.step = Step::Password {
                typed: shown.clone(),
            };
            m.lock().update_txn(&txn_id, txn.clone());
            password_page(&txn_id, &txn, &shown, None)
        }
        Step::Password { typed } => {
            if action == "switch" {
                txn.step = Step::Identify;
                m.lock().update_txn(&txn_id, txn.clone());
                return identify_page(&txn_id, &txn, "", false, None);
            }
            let password = form.password.unwrap_or_default();
            if password.is_empty() {
                return password_page(&txn_id, &txn, &typed, Some("Enter your password."));
            }
            if password.len() > MAX_PASSWORD || !m.lock().check_password(&typed, &password) {
                txn.failed_passwords += 1;
                if txn.failed_passwords >= MAX_PASSWORD_ATTEMPTS {
                    let mut st = m.lock();
                    st.end_txn(&txn_id);
                    st.count_declined();
                    drop(st);
                    return redirect_error(
                        &txn,
                        "access_denied",
                        "Too many failed sign-in attempts at UPS.com",
                    );
                }
                m.lock().update_txn(&txn_id, txn.clone());
                return password_page(
                    &txn_id,
                    &txn,
                    &typed,
                    Some("The Email or Username and password you entered don't match our records. Try again."),
                );
            }
            finish(&m, &txn_id, &txn, &typed, now)
        }
    }
}

/// Signed in: redirect back with a code (or, with faults, a declined consent or a wrong
/// state).
fn finish(m: &MockUps, txn_id: &str, txn: &Txn, user: &str, now: u64) -> Response {
    let mut st = m.lock();
    st.end_txn(txn_id);
    let faults = st.faults.clone();
    if faults.decline_consent {
        st.count_declined();
        drop(st);
        return redirect_error(
            txn,
            "access_denied",
            "The user did not authorize the application at UPS.com",
        );
    }
    let code = st.issue_code(m.settings(), txn, user, now);
    drop(st);
    tracing::info!(
        client_id = txn.client_id,
        "mock UPS: sign-in completed, code issued"
    );
    let state = if faults.wrong_state {
        Some(format!("wrong-{}", random_secret(16)))
    } else {
        txn.state.clone()
    };
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = state.as_deref() {
        params.push(("state", s));
    }
    redirect_back(&txn.redirect_uri, &params)
}

/// `GET /`: what this origin is.
pub(super) async fn index(State(m): State<MockUps>) -> Response {
    let main = format!(
        r#"<h1 id="page-title">Mock UPS</h1>
<p>A local stand-in for UPS's OAuth "Auth Code" API and UPS.com sign-in, for the Token Manager demo and tests.</p>
<ul class="endpoints">
<li><code>GET /security/v1/oauth/validate-client</code></li>
<li><code>GET /security/v1/oauth/authorize</code></li>
<li><code>GET {SIGNIN_PATH}</code></li>
<li><code>POST /security/v1/oauth/token</code></li>
<li><code>POST /security/v1/oauth/refresh</code></li>
<li><code>GET /api/track/v1/details/{{n}}</code></li>
<li><code>GET /mock/stats</code>, <code>POST /mock/faults</code>, <code>POST /mock/password-change</code>, <code>POST /mock/reset</code> (loopback only)</li>
</ul>
<p>Origin: <code>{origin}</code></p>"#,
        origin = esc(&m.settings().public_url)
    );
    page(StatusCode::OK, None, &main)
}

/// `GET /favicon.ico`: nothing (keeps browsers from logging a 404).
pub(super) async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The stylesheet: UPS-like brown and gold, visible focus, no external resources.
pub(super) async fn css() -> Response {
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SIGNIN_CSS,
    )
        .into_response();
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

const SIGNIN_CSS: &str = r#":root {
  --ups-brown: #351c15;
  --ups-gold: #ffc400;
  --ups-gold-dark: #e6a800;
  --text: #242424;
  --muted: #5f5753;
  --focus: #0662bb;
  --error: #b3261e;
  font-family: "Roboto", "Helvetica Neue", Arial, sans-serif;
  color: var(--text);
  background: #f2f1ef;
}
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: flex; flex-direction: column; }
.ups-header {
  background: var(--ups-brown);
  color: #fff;
  display: flex;
  align-items: center;
  gap: .75rem;
  padding: .75rem 1.5rem;
  border-bottom: 4px solid var(--ups-gold);
}
.ups-logo {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  width: 2.6rem;
  height: 3rem;
  background: var(--ups-gold);
  color: var(--ups-brown);
  font-weight: 800;
  font-size: 1.05rem;
  letter-spacing: -.02em;
  border-radius: .35rem .35rem 1.3rem 1.3rem;
}
.ups-brand { font-weight: 600; font-size: 1.1rem; }
.mock-tag {
  margin-left: .5rem;
  font-weight: 400;
  font-size: .8rem;
  color: var(--ups-gold);
}
.card {
  background: #fff;
  width: min(30rem, calc(100% - 2rem));
  margin: 2.5rem auto;
  padding: 2rem 2rem 1.5rem;
  border-radius: .5rem;
  box-shadow: 0 1px 4px rgb(0 0 0 / 15%);
}
h1 { font-size: 1.75rem; margin: 0 0 .5rem; color: var(--ups-brown); }
.signup, .sub, .note, .warning { color: var(--muted); margin: .25rem 0 1.25rem; }
.note, .warning { font-size: .85rem; margin-top: 1.5rem; }
.field { display: flex; flex-direction: column; gap: .35rem; margin-bottom: 1.25rem; }
label { font-weight: 600; }
input[type="text"], input[type="password"] {
  font: inherit;
  padding: .7rem .8rem;
  border: 1px solid #8c8985;
  border-radius: .3rem;
}
input[aria-invalid="true"] { border-color: var(--error); }
.agree { display: flex; gap: .6rem; align-items: flex-start; margin-bottom: 1.5rem; }
.agree input { margin-top: .2rem; width: 1.15rem; height: 1.15rem; flex: none; }
.agree label { font-weight: 400; font-size: .9rem; line-height: 1.4; }
.actions { display: flex; align-items: center; gap: 1.25rem; flex-wrap: wrap; }
.secondary-actions { display: flex; justify-content: space-between; align-items: center; gap: 1rem; margin-top: 1.25rem; flex-wrap: wrap; }
button { font: inherit; cursor: pointer; }
.primary {
  background: var(--ups-gold);
  color: var(--ups-brown);
  border: 0;
  border-radius: 2rem;
  padding: .7rem 2rem;
  font-weight: 700;
}
.primary:hover { background: var(--ups-gold-dark); }
.primary::after { content: " \203A"; }
.secondary {
  background: #fff;
  color: var(--ups-brown);
  border: 2px solid var(--ups-brown);
  border-radius: 2rem;
  padding: .5rem 1.5rem;
  font-weight: 600;
}
.link-button { background: none; border: 0; padding: 0; color: var(--focus); text-decoration: underline; }
a { color: var(--focus); }
a.inert { color: var(--focus); text-decoration: underline; cursor: default; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.error {
  border-left: 4px solid var(--error);
  background: #fdecea;
  color: var(--error);
  padding: .6rem .9rem;
  margin: 0 0 1.25rem;
  border-radius: .2rem;
}
.error p { margin: 0; }
.endpoints code, p code { background: #f2f1ef; padding: 0 .25rem; border-radius: .2rem; }
.ups-footer { margin-top: auto; padding: 1rem; text-align: center; font-size: .8rem; color: var(--muted); }
"#;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn escaping_and_form_action() {
        assert_eq!(
            esc(r#"<a href="x">'&"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
        let u = Url::parse("http://127.0.0.1:8080/admin/token-manager?x=1").unwrap();
        assert_eq!(form_action_source(&u), "http://127.0.0.1:8080");
        let custom = Url::parse("com.example.app:/callback").unwrap();
        assert_eq!(form_action_source(&custom), "com.example.app:");
    }

    #[test]
    fn redirect_keeps_existing_query() {
        let u = Url::parse("https://app.example/cb?tenant=a").unwrap();
        let resp = redirect_back(&u, &[("code", "c d"), ("state", "s")]);
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(
            resp.headers()[header::LOCATION],
            "https://app.example/cb?tenant=a&code=c+d&state=s"
        );
    }
}
