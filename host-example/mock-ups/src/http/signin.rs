//! The UPS.com sign-in screens (`/lasso/signin`), the steps of UPS.com's own: **Log In**
//! (Email or Username, the agreement checkbox, Continue), then **Welcome back, &lt;user&gt;**
//! (Password, Login), then the redirect back to the application. The transaction lives
//! server-side under a random id carried in a hidden field; the pages themselves are in
//! `pages`.

use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;
use url::Url;

use super::oauth::parse_query;
use super::pages::{
    error_page, esc, identify_page, page, password_page, IdentifyField, MAX_PASSWORD, MAX_USERNAME,
};
use crate::model::{now_ms, random_secret, valid_challenge, Step, Txn, MAX_PASSWORD_ATTEMPTS};
use crate::{MockUps, APP_DISPLAY_NAME, SIGNIN_PATH};

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
    let id = {
        let mut st = m.lock();
        // Came through `/authorize`: its challenge, kept there.
        if txn.challenge.is_none() {
            txn.challenge = st.take_challenge(
                &txn.client_id,
                get("redirect_uri").unwrap_or_default(),
                txn.state.as_deref().unwrap_or_default(),
                txn.created_ms,
            );
        }
        st.start_txn(txn.clone())
    };
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
        return decline(
            &m,
            &txn_id,
            &txn,
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
                    return decline(
                        &m,
                        &txn_id,
                        &txn,
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

/// End sign-in `txn_id` without a code (the user canceled, or typed too many wrong
/// passwords): redirect back with `error=access_denied`.
fn decline(m: &MockUps, txn_id: &str, txn: &Txn, description: &str) -> Response {
    {
        let mut st = m.lock();
        st.end_txn(txn_id);
        st.count_declined();
    }
    redirect_error(txn, "access_denied", description)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
