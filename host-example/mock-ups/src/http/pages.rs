//! The HTML and CSS of the sign-in screens: **Log In** (Email or Username, the agreement
//! checkbox, Continue), **Welcome back, &lt;user&gt;** (Password, Login) and the error page.
//! Plain HTML and CSS, no script, no inline style, a strict CSP on every page.

use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use url::Url;

use crate::model::Txn;
use crate::{APP_DISPLAY_NAME, SIGNIN_PATH};

/// Where the stylesheet is served (CSP `style-src 'self'`, no inline style).
pub(super) const CSS_PATH: &str = "/lasso/assets/signin.css";

/// Longest username / password accepted.
pub(super) const MAX_USERNAME: usize = 254;
pub(super) const MAX_PASSWORD: usize = 256;

/// The agreement text UPS.com shows on its Log In screen, with the application's name.
fn agreement_text() -> String {
    format!(
        "By continuing, I agree to the UPS Technology Agreement and authorize {APP_DISPLAY_NAME} \
         to access data associated with my UPS.com username listed above, including UPS shipping \
         account numbers, contact information, rates, and package tracking status."
    )
}

/// HTML-escape text for element content and quoted attribute values.
pub(super) fn esc(s: &str) -> String {
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
pub(super) fn page(status: StatusCode, form_action: Option<&Url>, main: &str) -> Response {
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
pub(super) fn error_page(status: StatusCode, message: &str) -> Response {
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
pub(super) enum IdentifyField {
    Username,
    Agree,
}

/// Screen 1: Log In.
pub(super) fn identify_page(
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
pub(super) fn password_page(txn_id: &str, txn: &Txn, typed: &str, error: Option<&str>) -> Response {
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
}
