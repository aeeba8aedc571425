//! The UPS OAuth endpoints (validate-client, authorize, token, refresh) and the data API.

use std::collections::BTreeMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use token_manager_core::time::Timestamp;
use url::Url;

use crate::error::UpsError;
use crate::faults::{AppliedFault, TIMEOUT_HANG};
use crate::model::{now_ms, valid_challenge, Redemption, Request, TokenAnswer};
use crate::{token_fingerprint, MockUps, APP_DISPLAY_NAME, SIGNIN_PATH};

/// Longest query string or parameter the mock reads.
const MAX_PARAM_LEN: usize = 4096;

/// A UPS error answer.
pub(super) fn ups_error(e: UpsError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = (status, Json(e.body())).into_response();
    no_store(resp.headers_mut());
    resp
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// Query parameters as a map; a repeated parameter or an oversized query is an error
/// (RFC 6749 §3.1: parameters must not be included more than once).
pub(super) fn parse_query(q: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let q = q.unwrap_or_default();
    if q.len() > MAX_PARAM_LEN {
        return Err("the query string is too long".into());
    }
    let mut map = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("parameter {k} is repeated"));
        }
    }
    Ok(map)
}

/// The `Authorization: Basic` credentials: `None` when there is no Authorization header,
/// `Some(Err)` when it is not decodable Basic. Id and secret are form-urldecoded
/// (RFC 6749 §2.3.1).
fn basic_auth(headers: &HeaderMap) -> Option<Result<(String, String), ()>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let parsed = (|| {
        let (scheme, rest) = value.to_str().ok()?.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        // Raw `client_id:client_secret`, as UPS's SDKs send it (Go SetBasicAuth, PHP, Python,
        // Java): no RFC 6749 §2.3.1 form-encoding first, so a `+` or `%` in a secret is itself.
        let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
        let (id, secret) = decoded.split_once(':')?;
        Some((id.to_owned(), secret.to_owned()))
    })();
    Some(parsed.ok_or(()))
}

/// The `Authorization: Bearer` token, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let (scheme, token) = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim()
        .split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// `validateSuccessResponse`, properties in the spec's order.
#[derive(Serialize)]
struct ValidateAnswer<'a> {
    result: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "LassoRedirectURL")]
    lasso_redirect_url: &'a str,
}

/// `GET /security/v1/oauth/validate-client?client_id&redirect_uri`.
pub(super) async fn validate_client(State(m): State<MockUps>, RawQuery(q): RawQuery) -> Response {
    let params = match parse_query(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return ups_error(UpsError::invalid_request(e)),
    };
    let checked = {
        let mut st = m.lock();
        st.count(Request::ValidateClient);
        st.check_client_redirect(
            params.get("client_id").map(String::as_str),
            params.get("redirect_uri").map(String::as_str),
        )
    };
    match checked {
        Ok(_) => {
            let lasso = format!("{}{SIGNIN_PATH}", m.settings().public_url);
            let mut resp = Json(ValidateAnswer {
                result: "success",
                kind: "ups_com_api",
                lasso_redirect_url: &lasso,
            })
            .into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => ups_error(e),
    }
}

/// `GET /security/v1/oauth/authorize` (the current spec's entry point): check the client
/// and redirect URI, then 302 to the sign-in screens with `type=ups_com_api`.
pub(super) async fn authorize(State(m): State<MockUps>, RawQuery(q): RawQuery) -> Response {
    let params = match parse_query(q.as_deref()) {
        Ok(p) => p,
        Err(e) => return ups_error(UpsError::invalid_request(e)),
    };
    let get = |k: &str| params.get(k).map(String::as_str);
    let checked = {
        let mut st = m.lock();
        st.count(Request::Authorize);
        st.check_client_redirect(get("client_id"), get("redirect_uri"))
    };
    if let Err(e) = checked {
        return ups_error(e);
    }
    // RFC 7636 §4.3: absent means plain; UPS documents only the S256 transform.
    if get("code_challenge_method").is_some_and(|m| m != "S256") {
        return ups_error(UpsError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    if get("response_type") != Some("code") {
        return ups_error(UpsError::invalid_request("Unsupported Response Type"));
    }
    if get("code_challenge").is_some_and(|c| !valid_challenge(c)) {
        return ups_error(UpsError::invalid_request(
            "code_challenge must be BASE64URL(SHA256(code_verifier)) (43 characters)",
        ));
    }
    let Ok(mut target) = Url::parse(&format!("{}{SIGNIN_PATH}", m.settings().public_url)) else {
        return ups_error(UpsError::new(
            500,
            "server_error",
            "the mock's public_url is not a URL",
        ));
    };
    {
        let mut pairs = target.query_pairs_mut();
        for k in [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
        ] {
            if let Some(v) = get(k) {
                pairs.append_pair(k, v);
            }
        }
        pairs.append_pair("type", "ups_com_api");
    }
    // The Location carries exactly the spec's parameters; the challenge stays here, for the
    // code the sign-in will issue.
    if let Some(c) = get("code_challenge") {
        m.lock().remember_challenge(
            get("client_id").unwrap_or_default(),
            get("redirect_uri").unwrap_or_default(),
            get("state").unwrap_or_default(),
            c,
            now_ms(),
        );
    }
    let mut resp = StatusCode::FOUND.into_response();
    let h = resp.headers_mut();
    if let Ok(loc) = HeaderValue::from_str(target.as_str()) {
        h.insert(header::LOCATION, loc);
    }
    h.insert("appname", HeaderValue::from_static(APP_DISPLAY_NAME));
    h.insert("displayname", HeaderValue::from_static(APP_DISPLAY_NAME));
    no_store(h);
    resp
}

/// Count a request to the token or refresh endpoint, then answer with the fault armed for that
/// endpoint, if any (before the form is read, so no code or refresh token is spent).
async fn endpoint_fault(m: &MockUps, endpoint: Request) -> Option<Response> {
    let fault = {
        let mut st = m.lock();
        let refresh = matches!(endpoint, Request::Refresh);
        st.count(endpoint);
        let f = if refresh {
            st.faults.refresh.take()
        } else {
            st.faults.token.take()
        };
        if f.is_some() {
            st.count_fault();
        }
        f
    };
    apply_fault(fault).await
}

/// Apply an injected fault: `Some(answer)` to send instead of processing, `None` to go on
/// (after the delay of a slow fault).
async fn apply_fault(fault: Option<AppliedFault>) -> Option<Response> {
    match fault? {
        AppliedFault::Status(500) => Some(ups_error(UpsError::new(
            500,
            "server_error",
            "Internal Server Error",
        ))),
        AppliedFault::Status(status) => Some(ups_error(UpsError::new(
            status,
            "temporarily_unavailable",
            "Service Unavailable",
        ))),
        AppliedFault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            None
        }
        AppliedFault::Timeout => {
            tokio::time::sleep(TIMEOUT_HANG).await;
            Some(ups_error(UpsError::new(
                504,
                "temporarily_unavailable",
                "Gateway Timeout",
            )))
        }
        AppliedFault::Refused => Some(ups_error(UpsError::invalid_request(
            "The request could not be processed",
        ))),
        AppliedFault::MalformedJson => {
            let mut resp = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"token_type":"Bearer","issued_at":"17"#,
            )
                .into_response();
            no_store(resp.headers_mut());
            Some(resp)
        }
    }
}

fn token_answer(t: TokenAnswer) -> Response {
    let mut resp = Json(t).into_response();
    no_store(resp.headers_mut());
    resp
}

fn form_error(e: &FormRejection) -> Response {
    ups_error(UpsError::invalid_request(format!(
        "the body must be an application/x-www-form-urlencoded form: {}",
        e.body_text()
    )))
}

/// A refused token or refresh request (`what`): logged, then answered with the UPS error.
fn refused(e: UpsError, what: &str) -> Response {
    tracing::info!(
        code = e.code,
        message = e.message,
        "mock UPS: {what} refused"
    );
    ups_error(e)
}

/// Form of `POST /security/v1/oauth/token`.
#[derive(Debug, Deserialize)]
pub(super) struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    client_id: Option<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, UpsError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() && s.len() <= MAX_PARAM_LEN => Ok(s),
        Some(s) if s.len() > MAX_PARAM_LEN => Err(UpsError::invalid_request(format!(
            "parameter {name} is too long"
        ))),
        _ => Err(UpsError::invalid_request(format!(
            "Missing required parameter: {name}"
        ))),
    }
}

fn check_grant_type(v: &Option<String>, expected: &str) -> Result<(), UpsError> {
    match v.as_deref() {
        Some(g) if g == expected => Ok(()),
        None | Some("") => Err(UpsError::invalid_request(
            "Missing required parameter: grant_type",
        )),
        Some(_) => Err(UpsError::invalid_request("Invalid grant_type")),
    }
}

/// `POST /security/v1/oauth/token`.
pub(super) async fn token(
    State(m): State<MockUps>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    if let Some(resp) = endpoint_fault(&m, Request::Token).await {
        return resp;
    }
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return form_error(&e),
    };
    match exchange(&m, &headers, &form) {
        Ok(t) => {
            tracing::info!(
                client_id = t.client_id,
                access = token_fingerprint(&t.access_token),
                "mock UPS: code exchanged"
            );
            token_answer(t)
        }
        Err(e) => refused(e, "token request"),
    }
}

fn exchange(m: &MockUps, headers: &HeaderMap, form: &TokenForm) -> Result<TokenAnswer, UpsError> {
    // UPS documents two flows: Basic and no verifier, or PKCE with `client_id` + `code_verifier`
    // in the body and "no http Authorization header". A mix of the two is neither.
    if headers.contains_key(header::AUTHORIZATION) && form.code_verifier.is_some() {
        return Err(UpsError::invalid_request(
            "Invalid request: the PKCE flow takes client_id and code_verifier and no Authorization header",
        ));
    }
    let mut st = m.lock();
    let (client_id, proven) = st.authenticate(
        basic_auth(headers),
        form.client_id.as_deref().filter(|c| !c.is_empty()),
        form.code_verifier.is_some(),
    )?;
    check_grant_type(&form.grant_type, "authorization_code")?;
    let code = required(&form.code, "code")?;
    let redirect_uri = required(&form.redirect_uri, "redirect_uri")?;
    let redemption = Redemption {
        client_id: &client_id,
        secret_proven: proven,
        code,
        redirect_uri,
        code_verifier: form.code_verifier.as_deref(),
    };
    st.redeem_code(m.settings(), &redemption, now_ms())
}

/// Form of `POST /security/v1/oauth/refresh`.
#[derive(Debug, Deserialize)]
pub(super) struct RefreshForm {
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

/// `POST /security/v1/oauth/refresh`.
pub(super) async fn refresh(
    State(m): State<MockUps>,
    headers: HeaderMap,
    form: Result<Form<RefreshForm>, FormRejection>,
) -> Response {
    if let Some(resp) = endpoint_fault(&m, Request::Refresh).await {
        return resp;
    }
    let Form(form) = match form {
        Ok(f) => f,
        Err(e) => return form_error(&e),
    };
    let result = (|| {
        let mut st = m.lock();
        let (client_id, _) = st.authenticate(basic_auth(&headers), None, false)?;
        check_grant_type(&form.grant_type, "refresh_token")?;
        let token = required(&form.refresh_token, "refresh_token")?;
        st.refresh(m.settings(), &client_id, token, now_ms())
    })();
    match result {
        Ok(t) => {
            tracing::info!(
                client_id = t.client_id,
                refresh_count = t.refresh_count,
                access = token_fingerprint(&t.access_token),
                "mock UPS: token refreshed"
            );
            token_answer(t)
        }
        Err(e) => refused(e, "refresh"),
    }
}

/// `GET /api/track/v1/details/{n}` with `Authorization: Bearer`: a small answer in the
/// shape of UPS's Tracking API.
pub(super) async fn track(
    State(m): State<MockUps>,
    Path(n): Path<String>,
    headers: HeaderMap,
) -> Response {
    let now = now_ms();
    let token = bearer(&headers);
    if let Err(e) = m.lock().data_call(token.as_deref(), now) {
        return ups_error(e);
    }
    if n.is_empty() || n.len() > 35 || !n.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return ups_error(UpsError::new(400, "151018", "Invalid tracking number"));
    }
    // `2026-11-29T13:05:09.123Z` → date `20261129`, time `130509`.
    let iso = Timestamp::from_millis(i64::try_from(now).unwrap_or(i64::MAX)).to_iso8601();
    let digits: String = iso.chars().filter(char::is_ascii_digit).collect();
    let (date, time) = (
        digits.get(0..8).unwrap_or("19700101"),
        digits.get(8..14).unwrap_or("000000"),
    );
    let body = serde_json::json!({
        "trackResponse": {
            "shipment": [{
                "inquiryNumber": n,
                "package": [{
                    "trackingNumber": n,
                    "currentStatus": {"code": "011", "description": "Delivered"},
                    "activity": [{
                        "location": {"address": {"city": "ATLANTA", "stateProvince": "GA", "countryCode": "US"}},
                        "status": {"type": "D", "description": "DELIVERED", "code": "KB"},
                        "date": date,
                        "time": time
                    }]
                }]
            }]
        }
    });
    let mut resp = Json(body).into_response();
    no_store(resp.headers_mut());
    resp
}

/// `/api/mock/echo/{*rest}` (any method): a data-API endpoint for proxy tests. The bearer is
/// checked and counted as for the Tracking API; the answer echoes the request — method, path,
/// query, headers (the bearer only as its fingerprint) and body — with the status named by
/// `?status=NNN`, or a `302` to `?redirect=URL`.
pub(super) async fn echo(
    State(m): State<MockUps>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let now = now_ms();
    let token = bearer(&headers);
    if let Err(e) = m.lock().data_call(token.as_deref(), now) {
        return ups_error(e);
    }
    let query = parse_query(uri.query()).unwrap_or_default();
    if let Some(to) = query.get("redirect") {
        let mut resp = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(to) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        return resp;
    }
    let status = query
        .get("status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let shown: BTreeMap<String, String> = headers
        .iter()
        .filter(|(k, _)| *k != header::AUTHORIZATION)
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = serde_json::json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "bearer": token.as_deref().map(token_fingerprint),
        "authorization_headers": headers.get_all(header::AUTHORIZATION).iter().count(),
        "headers": shown,
        "body": String::from_utf8_lossy(&body),
        "body_len": body.len(),
    });
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut().insert(
        "set-cookie",
        HeaderValue::from_static("ups_session=1; Path=/"),
    );
    resp.headers_mut()
        .insert("x-ups-echo", HeaderValue::from_static("1"));
    resp
}

/// `POST /api/quantumview/{version}/events` with `Authorization: Bearer` (UPS's Quantum View
/// API, `QuantumView.yaml`): the bearer is checked and counted as for Tracking; a body that is
/// not a `QVEvents` request is refused; the answer has the shape of the spec's
/// `QuantumViewResponse` (no example is published: values from the schema's field examples).
pub(super) async fn quantum_view(
    State(m): State<MockUps>,
    Path(version): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let token = bearer(&headers);
    if let Err(e) = m.lock().data_call(token.as_deref(), now_ms()) {
        return ups_error(e);
    }
    if version != "v3" {
        return ups_error(UpsError::new(400, "250003", "Invalid version"));
    }
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let action = &request["QuantumViewRequest"]["Request"]["RequestAction"];
    if action != "QVEvents" {
        return ups_error(UpsError::new(
            400,
            "330001",
            "The request is not a QVEvents request",
        ));
    }
    let context =
        request["QuantumViewRequest"]["Request"]["TransactionReference"]["CustomerContext"].clone();
    let answer = serde_json::json!({
        "QuantumViewResponse": {
            "Response": {
                "TransactionReference": {"CustomerContext": context},
                "ResponseStatusCode": "1",
                "ResponseStatusDescription": "Success"
            },
            "QuantumViewEvents": {
                "SubscriberID": "demo",
                "SubscriptionEvents": [{
                    "Name": "OutboundXML",
                    "Number": "1",
                    "SubscriptionStatus": {"Code": "A", "Description": "Active"},
                    "SubscriptionFile": [{
                        "FileName": "220104_140019001",
                        "StatusType": {"Code": "U", "Description": "Unread"},
                        "Delivery": [{
                            "TrackingNumber": "1Z023E2X0214323462",
                            "ShipperNumber": "023E2X",
                            "Date": "20220104",
                            "Time": "140019"
                        }]
                    }]
                }]
            }
        }
    });
    let mut resp = Json(answer).into_response();
    no_store(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn basic_auth_parsing() {
        let mut h = HeaderMap::new();
        assert!(basic_auth(&h).is_none());
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("a%3Ab+c:s%26t"))).unwrap(),
        );
        // Taken as sent: UPS compares raw credentials.
        assert_eq!(basic_auth(&h), Some(Ok(("a%3Ab+c".into(), "s%26t".into()))));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_auth(&h), Some(Err(())));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        assert_eq!(basic_auth(&h), Some(Err(())));
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
    }

    #[test]
    fn query_rejects_repeats() {
        assert!(parse_query(Some("a=1&a=2")).is_err());
        let q = parse_query(Some("a=1&b=x%20y")).unwrap();
        assert_eq!(q["b"], "x y");
        assert!(parse_query(None).unwrap().is_empty());
    }
}
