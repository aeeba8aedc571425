//! Hostile input against `app(state)`: a table of requests that try to break the widget API
//! (sizes, content types, encodings, JSON shapes, SQL-ish and HTML strings, paging extremes,
//! CSRF, Origin, sessions, redirect-URI look-alikes, code/verifier limits). Each must get its
//! stable 4xx answer, and the SQLite file must be **byte-identical** before and after.
//! Also: callback tampering as the host sees it (code replay, HTML from a hostile provider, HTML
//! in the callback query), and secrets in logs.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::harness::*;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use host_example::crypto::TokenKey;
use host_example::jobs::refresh_due;
use host_example::ops::RefreshOutcome;
use serde_json::{json, Value};
use token_manager_core::config::ups;
use token_manager_core::AuthorizationStatus;

// ---------------------------------------------------------------------------------------------
// Log capture: every test in this file logs (at TRACE, every crate) into one buffer.

#[derive(Clone)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Buffer(buf.clone());
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        buf
    })
}

// ---------------------------------------------------------------------------------------------
// The database, byte for byte.

/// Checkpoint the WAL into the main file (separate connection) and return every byte SQLite
/// keeps on disk (main file + WAL) plus a textual dump of the schema and every row.
fn snapshot(db: &Path) -> (Vec<u8>, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let (busy, _, _): (i64, i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })
        .unwrap();
    assert_eq!(busy, 0, "checkpoint blocked");
    let dump = dump(&conn);
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    bytes.extend(std::fs::read(format!("{}-wal", db.display())).unwrap_or_default());
    (bytes, dump)
}

fn dump(conn: &rusqlite::Connection) -> String {
    let mut out = String::new();
    for (table, order) in [
        ("sqlite_master", "name"),
        ("authorizations", "company"),
        ("history", "id"),
    ] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY {order}"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, rusqlite::types::Value>(i))
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            out.push_str(&format!("{table}: {:?}\n", row.unwrap()));
        }
    }
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    out.push_str(&format!("user_version: {v}\n"));
    out
}

// ---------------------------------------------------------------------------------------------
// The table.

/// A request under construction: starts as a well-formed same-origin widget call.
#[derive(Clone)]
struct Req {
    method: Method,
    uri: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    stream: bool,
}

impl Req {
    fn api(method: Method, uri: &str, auth: &Auth) -> Self {
        let mut headers = vec![
            (
                header::AUTHORIZATION.to_string(),
                auth.bearer.as_bytes().to_vec(),
            ),
            (header::COOKIE.to_string(), auth.cookie.as_bytes().to_vec()),
        ];
        if method != Method::GET && method != Method::OPTIONS {
            headers.push((
                header::CONTENT_TYPE.to_string(),
                b"application/json".to_vec(),
            ));
            headers.push((header::ORIGIN.to_string(), PUBLIC.as_bytes().to_vec()));
            headers.push(("x-token-manager".into(), b"1".to_vec()));
        }
        Self {
            method,
            uri: uri.to_owned(),
            headers,
            body: Vec::new(),
            stream: false,
        }
    }
    fn json(mut self, v: &Value) -> Self {
        self.body = v.to_string().into_bytes();
        self
    }
    fn raw(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }
    fn set(self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        let mut r = self.without(name);
        r.headers.push((name.to_owned(), value.into()));
        r
    }
    /// Send the body as a stream of 8 KiB chunks with no length hint (chunked upload).
    fn streamed(mut self) -> Self {
        self.stream = true;
        self
    }
    fn build(&self) -> Request<Body> {
        let mut b = Request::builder()
            .method(self.method.clone())
            .uri(self.uri.as_str());
        for (n, v) in &self.headers {
            b = b.header(n.as_str(), HeaderValue::from_bytes(v).unwrap());
        }
        let body = if self.stream {
            let chunks: Vec<Result<Bytes, std::io::Error>> = self
                .body
                .chunks(8192)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Body::from_stream(futures_util::stream::iter(chunks))
        } else {
            Body::from(self.body.clone())
        };
        b.body(body).unwrap()
    }
}

/// What a case must produce.
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// A JSON error with this status and stable code.
    Error(StatusCode, &'static str),
    /// A success (clamped paging and the like) with this status.
    Ok(StatusCode),
    /// An HTML page with this status that must not contain the given raw text.
    Html(StatusCode, &'static str),
    /// No `Access-Control-Allow-Origin` for a foreign origin.
    NoCors,
}

struct Case {
    name: String,
    req: Req,
    expect: Expect,
}

fn case(name: impl Into<String>, req: Req, expect: Expect) -> Case {
    Case {
        name: name.into(),
        req,
        expect,
    }
}

const E400: Expect = Expect::Error(StatusCode::BAD_REQUEST, "invalid_request");
const E401: Expect = Expect::Error(StatusCode::UNAUTHORIZED, "unauthenticated");
const E403: Expect = Expect::Error(StatusCode::FORBIDDEN, "csrf_rejected");
const E403F: Expect = Expect::Error(StatusCode::FORBIDDEN, "forbidden");
const E404: Expect = Expect::Error(StatusCode::NOT_FOUND, "not_found");
const E405: Expect = Expect::Error(StatusCode::METHOD_NOT_ALLOWED, "invalid_request");
const E413: Expect = Expect::Error(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request");
const E415: Expect = Expect::Error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request");
const ENOPEND: Expect = Expect::Error(StatusCode::BAD_REQUEST, "no_pending_authorization");
const EMISMATCH: Expect = Expect::Error(StatusCode::BAD_REQUEST, "state_mismatch");

/// How a table request authenticates: its `Authorization` header (a session token) and the
/// portal's cookie (for the demo pages).
struct Auth {
    bearer: String,
    cookie: String,
}

/// The sessions and states the table needs besides the harness's own.
struct Others {
    /// A viewer of every company.
    viewer: String,
    /// An admin of `acme` only.
    acme_admin: String,
    /// A token signed under another host's key.
    foreign_key: String,
    /// A token of this host that expired.
    expired: String,
    /// The harness's token with one character of its payload changed.
    tampered: String,
    /// A state another user (`bob`) started for `COMPANY`.
    bobs_state: String,
}

fn cases(auth: &Auth, fresh: &Value, others: &Others) -> Vec<Case> {
    let ex = || Req::api(Method::POST, "/api/optin/exchange", auth);
    let cl = || Req::api(Method::POST, "/api/optin/clear", auth);
    let st = || Req::api(Method::POST, "/api/optin/start", auth);
    let get = |uri: &str| Req::api(Method::GET, uri, auth);
    let bearer = |t: &str| format!("Bearer {t}");
    let with = |base: &Value, field: &str, value: Value| {
        let mut j = base.clone();
        j[field] = value;
        j
    };
    let f = |field: &str, value: Value| with(fresh, field, value);
    let fresh_text = fresh.to_string();
    let mut v = vec![
        // --- sizes and transport ---
        case("exchange: 20 KiB body", ex().json(&f("code", json!("x".repeat(20_000)))), E413),
        case("exchange: 1 MiB body", ex().raw(vec![b' '; 1 << 20]), E413),
        case("exchange: 1 MiB chunked body, no length", ex().raw(vec![b'['; 1 << 20]).streamed(), E413),
        case("clear: 64 KiB body", cl().json(&json!({"company": "x".repeat(65_536)})), E413),
        // --- content types ---
        case("exchange: text/plain", ex().json(fresh).set("content-type", "text/plain"), E415),
        case("exchange: no Content-Type", ex().json(fresh).without("content-type"), E415),
        case("exchange: form-encoded", ex().raw(b"company=demo-co&code=x".to_vec()).set("content-type", "application/x-www-form-urlencoded"), E415),
        case("exchange: text/html with markup", ex().raw(b"<html><script>alert(1)</script>".to_vec()).set("content-type", "text/html"), E415),
        case("exchange: multipart", ex().raw(b"--b\r\n\r\nx\r\n--b--".to_vec()).set("content-type", "multipart/form-data; boundary=b"), E415),
        case("clear: application/xml", cl().raw(b"<company>demo-co</company>".to_vec()).set("content-type", "application/xml"), E415),
        // --- encodings and JSON shapes ---
        case("exchange: invalid UTF-8 in a string", ex().raw(fresh_text.replacen("\"code\":\"", "\"code\":\"\u{1}", 1).into_bytes().into_iter().map(|b| if b == 1 { 0xFF } else { b }).collect::<Vec<u8>>()), E400),
        case("exchange: overlong UTF-8 encoding", ex().raw([b"{\"company\":\"\xC0\xAF\"}".as_slice()].concat()), E400),
        case("exchange: lone surrogate escape", ex().raw(br#"{"company":"\ud800","code":"a","state":"b"}"#.to_vec()), E400),
        case("exchange: empty body", ex(), E400),
        case("exchange: truncated JSON", ex().raw(fresh_text.as_bytes()[..fresh_text.len() / 2].to_vec()), E400),
        case("exchange: JSON null", ex().raw(b"null".to_vec()), E400),
        case("exchange: JSON array", ex().json(&json!([fresh])), E400),
        case("exchange: JSON string", ex().json(&json!("company=demo-co")), E400),
        case("exchange: missing fields", ex().json(&json!({"company": COMPANY})), E400),
        case("exchange: code is a number", ex().json(&f("code", json!(12345))), E400),
        case("exchange: code is an object", ex().json(&f("code", json!({"$ne": null}))), E400),
        case("exchange: company is an array", ex().json(&f("company", json!([COMPANY, "acme"]))), E400),
        case("exchange: duplicate field (state twice)", ex().raw(format!(r#"{{"company":"{COMPANY}","code":"a","state":"{}","state":"other"}}"#, fresh["state"].as_str().unwrap_or_default()).into_bytes()), E400),
        case("exchange: duplicate field (company twice)", ex().raw(format!(r#"{{"company":"nope","company":"{COMPANY}","code":"a","state":"{}"}}"#, fresh["state"].as_str().unwrap_or_default()).into_bytes()), E400),
        // A verifier or redirect URI in the body is not the host's to take: the body has no
        // such fields any more, and without a state it is refused before any lookup.
        case("exchange: verifier and redirect_uri instead of a state", ex().json(&json!({"company": COMPANY, "code": "a", "code_verifier": "v".repeat(43), "redirect_uri": REDIRECT})), E400),
        case("exchange: 5,000-deep nested arrays", ex().raw(format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes()), E400),
        case("exchange: deep nesting inside a field", ex().raw(format!(r#"{{"company":{}1{}}}"#, "[".repeat(3000), "]".repeat(3000)).into_bytes()), E400),
        case("exchange: 10^400 number", ex().raw(format!(r#"{{"company":1{}}}"#, "0".repeat(400)).into_bytes()), E400),
        case("exchange: trailing garbage after the object", ex().raw(format!("{fresh_text}<script>").into_bytes()), E400),
        case("exchange: NUL byte in the body", ex().raw(b"{\"company\":\"demo-co\"\x00}".to_vec()), E400),
        // --- company (not one of the session's, or none at all: the same 403), code, state ---
    ];
    #[rustfmt::skip]
    let field_rows = [
        ("unknown company", "company", json!("nope"), E403F),
        ("SQL-ish company", "company", json!("demo-co' OR '1'='1"), E403F),
        ("company with NUL", "company", json!("demo-co\u{0}"), E403F),
        ("company in upper case", "company", json!("DEMO-CO"), E403F),
        ("company with trailing space", "company", json!("demo-co "), E403F),
        ("company with homoglyph", "company", json!("dеmo-co"), E403F),
        ("empty code", "code", json!(""), E400),
        ("code of 2,049 bytes", "code", json!("c".repeat(2049)), E400),
        ("code with a space", "code", json!("a b"), E400),
        ("code with a newline (header injection)", "code", json!("a\r\nX-Evil: 1"), E400),
        ("code with non-ASCII", "code", json!("cödé"), E400),
        ("code with DEL", "code", json!("abc\u{7f}"), E400),
        ("SQL with spaces as code", "code", json!("'; DROP TABLE history; --"), E400),
        ("empty state", "state", json!(""), E400),
        ("state of 129", "state", json!("s".repeat(129)), E400),
        ("state with a space", "state", json!("a b"), E400),
        ("state with non-ASCII", "state", json!("stäte"), E400),
    ];
    for (name, field, value, expect) in field_rows {
        v.push(case(
            format!("exchange: {name}"),
            ex().json(&f(field, value)),
            expect,
        ));
    }
    v.extend([
        case("exchange: state never started", ex().json(&f("state", json!("never-started-state"))), ENOPEND),
        case("exchange: state started by another user", ex().json(&f("state", json!(others.bobs_state))), EMISMATCH),
        case("exchange: another user's state for another company", ex().json(&with(&f("state", json!(others.bobs_state)), "company", json!("acme"))), EMISMATCH),
        // --- CSRF, Origin, session (with a valid, unspent code in the body) ---
        case("csrf: header missing", ex().json(fresh).without("x-token-manager"), E403),
        case("csrf: header 0", ex().json(fresh).set("x-token-manager", "0"), E403),
        case("csrf: header 'true'", ex().json(fresh).set("x-token-manager", "true"), E403),
        case("csrf: header '1 ' (padded)", ex().json(fresh).set("x-token-manager", "1 "), E403),
        case("origin: foreign", ex().json(fresh).set("origin", "https://evil.example"), E403),
        case("origin: null (sandboxed frame)", ex().json(fresh).set("origin", "null"), E403),
        case("origin: other port (the mock's)", ex().json(fresh).set("origin", "http://127.0.0.1:8081"), E403),
        case("origin: https look-alike", ex().json(fresh).set("origin", "https://127.0.0.1:8080"), E403),
        case("origin: trailing slash", ex().json(fresh).set("origin", "http://127.0.0.1:8080/"), E403),
        case("origin: suffix attack", ex().json(fresh).set("origin", "http://127.0.0.1:8080.evil.example"), E403),
        case("origin: invalid UTF-8 bytes", ex().json(fresh).set("origin", b"http://\xff\xfe".to_vec()), E403),
        case("session: no token", ex().json(fresh).without("authorization"), E401),
        case("session: the portal's cookie instead of a token", ex().json(fresh).without("authorization").set("cookie", auth.cookie.clone()), E401),
        case("session: empty bearer", ex().json(fresh).set("authorization", "Bearer "), E401),
        case("session: Basic scheme", ex().json(fresh).set("authorization", "Basic YWRtaW46YWRtaW4="), E401),
        case("session: forged token", ex().json(fresh).set("authorization", bearer("tms1.eyJ2IjoxfQ.AAAA")), E401),
        case("session: an API key instead of a token", ex().json(fresh).set("authorization", bearer("tmk_not-a-session-token-0123456789")), E401),
        case("session: another host's key", ex().json(fresh).set("authorization", bearer(&others.foreign_key)), E401),
        case("session: expired", ex().json(fresh).set("authorization", bearer(&others.expired)), E401),
        case("session: tampered payload", ex().json(fresh).set("authorization", bearer(&others.tampered)), E401),
        case("session: 20 KiB token", ex().json(fresh).set("authorization", bearer(&"t".repeat(20_000))), E401),
        // --- roles: a viewer reads, never authorizes or clears; an admin of one company only that one ---
        case("role: viewer exchanges", ex().json(fresh).set("authorization", bearer(&others.viewer)), E403F),
        case("role: viewer starts", st().json(&json!({"company": COMPANY})).set("authorization", bearer(&others.viewer)), E403F),
        case("role: viewer clears", cl().json(&json!({"company": COMPANY})).set("authorization", bearer(&others.viewer)), E403F),
        case("role: acme's admin exchanges for demo-co", ex().json(fresh).set("authorization", bearer(&others.acme_admin)), E403F),
        case("role: acme's admin clears demo-co", cl().json(&json!({"company": COMPANY})).set("authorization", bearer(&others.acme_admin)), E403F),
        case("role: acme's admin reads demo-co", get(&format!("/api/optin/tokens?company={COMPANY}")).set("authorization", bearer(&others.acme_admin)), E403F),
        case("role: acme's admin starts for demo-co", st().json(&json!({"company": COMPANY})).set("authorization", bearer(&others.acme_admin)), E403F),
        case("start: unknown company", st().json(&json!({"company": "nope"})), E403F),
        case("start: no token", st().json(&json!({"company": COMPANY})).without("authorization"), E401),
        case("start: CSRF header missing", st().json(&json!({"company": COMPANY})).without("x-token-manager"), E403),
        // --- clear: valid body for the authorized company, but hostile around it ---
        case("clear: CSRF header missing", cl().json(&json!({"company": COMPANY})).without("x-token-manager"), E403),
        case("clear: foreign Origin", cl().json(&json!({"company": COMPANY})).set("origin", "https://evil.example"), E403),
        case("clear: no session", cl().json(&json!({"company": COMPANY})).without("authorization"), E401),
        case("clear: text/plain", cl().raw(format!(r#"{{"company":"{COMPANY}"}}"#).into_bytes()).set("content-type", "text/plain"), E415),
        case("clear: unknown company", cl().json(&json!({"company": "nope"})), E403F),
        case("clear: SQL-ish company", cl().json(&json!({"company": "x' OR 1=1; --"})), E403F),
        case("clear: company with NUL", cl().json(&json!({"company": "demo-co\u{0}"})), E403F),
        case("clear: company twice", cl().raw(format!(r#"{{"company":"nope","company":"{COMPANY}"}}"#).into_bytes()), E400),
        case("clear: company as array", cl().json(&json!({"company": [COMPANY]})), E400),
        case("clear: company as number", cl().json(&json!({"company": 1})), E400),
        case("clear: empty object", cl().json(&json!({})), E400),
        case("clear: invalid UTF-8", cl().raw(b"{\"company\":\"demo-co\xff\"}".to_vec()), E400),
        // --- paging and queries ---
        case("tokens: per_page=1000000", get("/api/optin/tokens?company=acme&per_page=1000000"), E400),
        case("tokens: per_page=0", get("/api/optin/tokens?company=acme&per_page=0"), E400),
        case("tokens: per_page=-10", get("/api/optin/tokens?company=acme&per_page=-10"), E400),
        case("tokens: per_page=1e2", get("/api/optin/tokens?company=acme&per_page=1e2"), E400),
        case("tokens: per_page=2^64", get("/api/optin/tokens?company=acme&per_page=18446744073709551616"), E400),
        case("tokens: page=-1", get("/api/optin/tokens?company=acme&page=-1"), E400),
        case("tokens: page=2^32 (u32 overflow)", get("/api/optin/tokens?company=acme&page=4294967296"), E400),
        case("tokens: page=abc", get("/api/optin/tokens?company=acme&page=abc"), E400),
        case("tokens: page empty", get("/api/optin/tokens?company=acme&page="), E400),
        case("tokens: page=0 is clamped to 1", get("/api/optin/tokens?company=acme&page=0"), Expect::Ok(StatusCode::OK)),
        case("tokens: page=u32::MAX is clamped to the last page", get("/api/optin/tokens?company=acme&page=4294967295&per_page=100"), Expect::Ok(StatusCode::OK)),
        case("tokens: company twice", get("/api/optin/tokens?company=acme&company=demo-co"), E400),
        case("tokens: no company", get("/api/optin/tokens"), E400),
        case("tokens: SQL-ish company", get("/api/optin/tokens?company=acme%27%20OR%20%271%27%3D%271"), E403F),
        case("tokens: UNION injection", get("/api/optin/tokens?company=x%27%20UNION%20SELECT%20access_ct%20FROM%20authorizations--"), E403F),
        case("tokens: invalid UTF-8 percent-escape", get("/api/optin/tokens?company=acme%FF"), E403F),
        case("tokens: 8 KiB company", get(&format!("/api/optin/tokens?company={}", "a".repeat(8192))), E403F),
        case("tokens: no session", get("/api/optin/tokens?company=acme").without("authorization"), E401),
        case("status: NUL company", get("/api/optin/status?company=demo-co%00"), E403F),
        case("config: unknown company", get("/api/optin/config?company=..%2F..%2Fetc%2Fpasswd"), E403F),
        // --- routing ---
        case("route: unknown API path", get("/api/optin/admin"), E404),
        case("route: dot segments", get("/api/optin/exchange/../tokens?company=acme"), E404),
        case("route: GET /exchange", get("/api/optin/exchange"), E405),
        case("route: PUT /clear", Req::api(Method::PUT, "/api/optin/clear", auth).json(&json!({"company": COMPANY})), E405),
        case("route: DELETE /tokens", Req::api(Method::DELETE, "/api/optin/tokens?company=demo-co", auth), E405),
        case(
            "cors: preflight from a foreign origin gets no allow-origin",
            Req::api(Method::OPTIONS, "/api/optin/exchange", auth)
                .set("origin", "https://evil.example")
                .set("access-control-request-method", "POST")
                .set("access-control-request-headers", "x-token-manager,content-type"),
            Expect::NoCors,
        ),
        // --- pages: reflected input is escaped ---
        case("page: HTML in ?company= is escaped", get("/admin/token-manager?company=%3Cscript%3Ealert(1)%3C%2Fscript%3E"), Expect::Html(StatusCode::NOT_FOUND, "<script>alert(1)")),
        case("page: HTML in error_description is not reflected", get("/admin/token-manager?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x"), Expect::Html(StatusCode::OK, "alert(1)")),
        case("page: HTML in ?company= on /exports", get("/exports?company=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"), Expect::Html(StatusCode::NOT_FOUND, "<img src=x")),
    ]);
    // Every field with a value of the wrong JSON type.
    for field in ["company", "code", "state"] {
        for (what, value) in [("null", Value::Null), ("true", json!(true))] {
            v.push(case(
                format!("exchange: {field} is {what}"),
                ex().json(&f(field, value)),
                E400,
            ));
        }
    }
    v
}

async fn run_case(h: &Harness, c: &Case) -> Result<(), String> {
    let response = {
        use tower::ServiceExt;
        h.app().oneshot(c.req.build()).await.unwrap()
    };
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if headers
        .get(header::X_CONTENT_TYPE_OPTIONS)
        .map(|v| v.as_bytes())
        != Some(b"nosniff")
    {
        return Err("no X-Content-Type-Options: nosniff".into());
    }
    match c.expect {
        Expect::Error(want, code) => {
            if status != want {
                return Err(format!("status {status}, wanted {want}: {text:.300}"));
            }
            if !ctype.starts_with("application/json") {
                return Err(format!("content-type {ctype:?} for an API error"));
            }
            let body: Value = serde_json::from_slice(&bytes)
                .map_err(|e| format!("error body is not JSON ({e}): {text:.300}"))?;
            let got = body["error"]["code"].as_str().unwrap_or("<none>");
            if got != code {
                return Err(format!("code {got:?}, wanted {code:?}: {text:.300}"));
            }
            // Markup in rejected input or provider codes is \u-escaped, never raw.
            if text.contains(['<', '>']) {
                return Err(format!("raw markup in an error body: {text:.300}"));
            }
            let message = body["error"]["message"].as_str().unwrap_or("");
            if message.is_empty() || message.len() > 400 {
                return Err(format!(
                    "message empty or unbounded ({} bytes)",
                    message.len()
                ));
            }
        }
        Expect::Ok(want) => {
            if status != want {
                return Err(format!("status {status}, wanted {want}: {text:.300}"));
            }
        }
        Expect::Html(want, forbidden) => {
            if status != want {
                return Err(format!("status {status}, wanted {want}"));
            }
            if !ctype.starts_with("text/html") {
                return Err(format!("content-type {ctype:?}"));
            }
            if text.contains(forbidden) {
                return Err(format!("page reflects {forbidden:?} unescaped"));
            }
        }
        Expect::NoCors => {
            if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                || headers.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS)
            {
                return Err(format!("CORS headers for a foreign origin: {headers:?}"));
            }
            if status.is_success() && !bytes.is_empty() {
                return Err(format!("preflight answered {status} with a body"));
            }
        }
    }
    Ok(())
}

/// The table's other sessions and a state started by another user (all made before the
/// snapshot: starting writes a row).
async fn others(h: &Harness) -> Others {
    use host_example::access::{CompanyGrant, KeyId, Role, SessionClaims, SessionSigner};
    use token_manager_core::Timestamp;
    let all = |role| vec![(COMPANY.to_owned(), role), ("acme".to_owned(), role)];
    let viewer = h.mint_session("viewer", &all(Role::Viewer)).await;
    let acme_admin = h
        .mint_session("acme-admin", &[("acme".to_owned(), Role::Admin)])
        .await;
    let claims = |expires: i64| SessionClaims {
        user: "admin".into(),
        name: "Ada".into(),
        companies: vec![CompanyGrant {
            id: COMPANY.into(),
            role: Role::Admin,
        }],
        issued_at: Timestamp(chrono_now() - 7_200_000),
        expires_at: Timestamp(expires),
        key_id: KeyId("test".into()),
    };
    let foreign_key =
        SessionSigner::new(&TokenKey::generate(), &[]).mint(&claims(chrono_now() + 3_600_000));
    let expired = SessionSigner::new(&h.key, &[]).mint(&claims(chrono_now() - 1_000));
    let token = h.auth.trim_start_matches("Bearer ").to_owned();
    let (payload, tag) = token.rsplit_once('.').unwrap();
    let mut chars: Vec<char> = payload.chars().collect();
    let i = chars.len() - 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{}.{tag}", chars.into_iter().collect::<String>());
    let bob = h.mint_session("bob", &all(Role::Admin)).await;
    let (s, _, started) = h
        .send(
            Request::post("/api/optin/start")
                .header(header::AUTHORIZATION, format!("Bearer {bob}"))
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ORIGIN, PUBLIC)
                .header("X-Token-Manager", "1")
                .body(Body::from(json!({ "company": COMPANY }).to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let started: token_manager_core::api::StartResponse = serde_json::from_value(started).unwrap();
    Others {
        viewer,
        acme_admin,
        foreign_key,
        expired,
        tampered,
        bobs_state: started.pending.state().secret().clone(),
    }
}

#[tokio::test]
async fn hostile_requests_get_their_4xx_and_leave_the_database_byte_identical() {
    logs();
    let h = Harness::builder()
        .exchange_per_minute(100_000)
        .start()
        .await;
    // Something worth protecting: an active authorization and a history to page through.
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    host_example::ops::seed_history(&h.state, "acme", 23, "admin")
        .await
        .unwrap();
    let tokens_before = h.stored_tokens(COMPANY).await.unwrap();
    // A valid, unspent code: the hostile variants wrap it, and it must still work afterwards.
    let fresh = exchange_json(&h.sign_in(COMPANY).await);
    let stats_before = h.stats();

    let others = others(&h).await;
    let auth = Auth {
        bearer: h.auth.clone(),
        cookie: h.portal_cookie.clone(),
    };

    let (bytes_before, dump_before) = snapshot(&h.db);
    let table = cases(&auth, &fresh, &others);
    let mut failures = Vec::new();
    let mut by_status = std::collections::BTreeMap::<String, usize>::new();
    for c in &table {
        match run_case(&h, c).await {
            Ok(()) => {}
            Err(why) => failures.push(format!("{}: {why}", c.name)),
        }
        let key = match c.expect {
            Expect::Error(s, code) => format!("{} {code}", s.as_u16()),
            Expect::Ok(s) => format!("{} (clamped)", s.as_u16()),
            Expect::Html(s, _) => format!("{} html, escaped", s.as_u16()),
            Expect::NoCors => "no CORS grant".to_owned(),
        };
        *by_status.entry(key).or_default() += 1;
    }
    let (bytes_after, dump_after) = snapshot(&h.db);
    println!(
        "hostile table: {} requests, by expected status {by_status:?}, {} failures",
        table.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} hostile requests misbehaved:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
    assert!(table.len() >= 50);
    assert_eq!(dump_before, dump_after, "table contents changed");
    assert_eq!(
        bytes_before.len(),
        bytes_after.len(),
        "database size changed"
    );
    assert!(
        bytes_before == bytes_after,
        "database bytes changed ({} bytes)",
        bytes_after.len()
    );
    // Nothing reached the provider.
    let stats = h.stats();
    assert_eq!(stats.token_requests, stats_before.token_requests);
    assert_eq!(stats.tokens_issued, stats_before.tokens_issued);
    // The stored pair is intact and the wrapped code was never spent.
    let tokens_after = h.stored_tokens(COMPANY).await.unwrap();
    assert_eq!(tokens_before.access.secret(), tokens_after.access.secret());
    let (s, b) = h.post("/api/optin/exchange", &fresh).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    // The comparison is real: a write is seen.
    let (bytes_written, dump_written) = snapshot(&h.db);
    assert_ne!(dump_written, dump_after);
    assert!(bytes_written != bytes_after);
}

/// Shape-valid exchanges with a live state of this user reach the provider's token endpoint;
/// the provider refuses each (the code was never issued) and nothing is stored. (Each uses up
/// its state, so they are not in the byte-identical table above.)
#[tokio::test]
async fn shape_valid_unknown_codes_reach_the_provider_and_store_nothing() {
    logs();
    let h = Harness::builder()
        .exchange_per_minute(100_000)
        .start()
        .await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let tokens_before = h.stored_tokens(COMPANY).await.unwrap();
    let stats_before = h.stats();
    let codes = [
        ("unknown code", json!("never-issued-code")),
        (
            "SQL-ish code without spaces",
            json!("x');DROP/**/TABLE/**/history;--"),
        ),
        ("HTML as code", json!("<script>alert(1)</script>")),
        ("code of exactly 2,048 bytes", json!("c".repeat(2048))),
    ];
    for (name, code) in &codes {
        let started = h.start(COMPANY).await.expect(StatusCode::OK);
        let mut body = json!({
            "company": COMPANY, "code": code, "state": started.pending.state().secret(),
        });
        if *name == "unknown code" {
            // Extra fields (grant type, secrets, tokens, another redirect URI) are not
            // forwarded: the provider sees the host's own request.
            body["grant_type"] = json!("client_credentials");
            body["client_secret"] = json!("attacker");
            body["access_token"] = json!("attacker");
            body["redirect_uri"] = json!("https://evil.example/");
        }
        let (s, b) = h.post("/api/optin/exchange", &body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_grant")),
            "{name}: {b}"
        );
        assert!(!b.to_string().contains(['<', '>']), "{name}: {b}");
    }
    let stats = h.stats();
    assert_eq!(
        stats.token_requests - stats_before.token_requests,
        codes.len() as u64
    );
    assert_eq!(stats.tokens_issued, stats_before.tokens_issued);
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.total, 1);
    assert_eq!(tokens.status, AuthorizationStatus::Active);
    let after = h.stored_tokens(COMPANY).await.unwrap();
    assert_eq!(after.access.secret(), tokens_before.access.secret());
}

// ---------------------------------------------------------------------------------------------
// Callback tampering, as far as the host sees it.

#[tokio::test]
async fn a_replayed_code_is_refused_stores_nothing_and_kills_the_grant_it_produced() {
    logs();
    let h = Harness::new().await;
    let body = exchange_json(&h.sign_in(COMPANY).await);
    let (s, first) = h.post("/api/optin/exchange", &body).await;
    assert_eq!(s, StatusCode::CREATED);
    let (bytes, dump) = snapshot(&h.db);
    // The same return again (an attacker who read it from a log or a Referer): its state was
    // used up, so the host refuses it without asking the provider.
    let (s, b) = h.post("/api/optin/exchange", &body).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("no_pending_authorization"))
    );
    let (bytes2, dump2) = snapshot(&h.db);
    assert_eq!(dump, dump2);
    assert!(bytes == bytes2, "a refused replay changed the database");
    assert_eq!(h.stats().codes_replayed, 0);
    // The same code under a fresh state of this user's: it reaches the provider, which
    // refuses it.
    let fresh = h.start(COMPANY).await.expect(StatusCode::OK);
    let mut again = body.clone();
    again["state"] = json!(fresh.pending.state().secret());
    let (s, b) = h.post("/api/optin/exchange", &again).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.total, 1);
    assert_eq!(json!(tokens.rows[0].id), first["record"]["id"]);
    // RFC 6749 §4.1.2: the provider revokes what the code produced; the host learns it at the
    // next refresh and ends the authorization cleanly (Invalidated, tokens wiped).
    assert_eq!(h.stats().codes_replayed, 1);
    h.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(
            COMPANY.to_owned(),
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated)
        )]
    );
    assert!(h.ciphertexts(COMPANY).iter().all(Option::is_none));
}

/// A provider that answers every token request with an error full of markup.
async fn hostile_provider(status: u16, body: &'static str) -> String {
    let app = Router::new()
        .route(
            ups::TOKEN_PATH,
            post(move || async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }),
        )
        // Enough of validate-client for `/start` to build a sign-in URL.
        .route(
            ups::VALIDATE_CLIENT_PATH,
            axum::routing::get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"result":"success","type":"ups_com_api","LassoRedirectURL":"https://www.ups.com/lasso/signin"}"#,
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn html_from_a_hostile_provider_comes_back_only_as_json_text() {
    logs();
    let h = Harness::new().await;
    for (status, body) in [
        (
            400,
            r#"{"error":"invalid_grant","error_description":"<script>alert(document.cookie)</script>"}"#,
        ),
        (
            400,
            r#"{"response":{"errors":[{"code":"<img src=x onerror=alert(1)>","message":"<script>alert(2)</script>"}]}}"#,
        ),
        (502, "<html><body><script>alert(3)</script></body></html>"),
        (200, r#"{"access_token":"<script>alert(4)</script>"}"#),
    ] {
        let base = hostile_provider(status, body).await;
        let state = h.host_against(
            &base,
            &h.dir
                .path()
                .join(format!("hostile-{status}-{}.db", body.len())),
        );
        let auth = Auth {
            bearer: h.auth.clone(),
            cookie: String::new(),
        };
        // A real start, so the exchange reaches the (hostile) token endpoint.
        let start = {
            use tower::ServiceExt;
            let req = Req::api(Method::POST, "/api/optin/start", &auth)
                .json(&json!({ "company": COMPANY }))
                .build();
            host_example::app(state.clone()).oneshot(req).await.unwrap()
        };
        assert_eq!(start.status(), StatusCode::OK);
        let started: token_manager_core::api::StartResponse = serde_json::from_slice(
            &http_body_util::BodyExt::collect(start.into_body())
                .await
                .unwrap()
                .to_bytes(),
        )
        .unwrap();
        let req = Req::api(Method::POST, "/api/optin/exchange", &auth)
            .json(&json!({
                "company": COMPANY, "code": "some-code",
                "state": started.pending.state().secret(),
            }))
            .build();
        let response = {
            use tower::ServiceExt;
            host_example::app(state.clone()).oneshot(req).await.unwrap()
        };
        let st = response.status();
        let ctype = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(ctype.starts_with("application/json"), "{ctype}");
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        let bytes = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let v: Value = serde_json::from_str(&text).unwrap();
        // Whatever the provider sent, no markup byte reaches the browser: its description is
        // never passed on, its code only as a \u-escaped JSON string.
        assert!(!text.contains(['<', '>']), "{text}");
        let row = state.store().authorization(COMPANY).await.unwrap();
        if status == 200 {
            // Core accepts a bare access token (RFC 6749 makes the rest optional); the answer
            // carries metadata only, the token is stored encrypted.
            assert_eq!(st, StatusCode::CREATED, "{text}");
            assert_eq!(row.state.status(), AuthorizationStatus::Active);
            assert!(!text.contains("alert(4)"), "{text}");
        } else {
            assert!(
                st.is_client_error() || st.is_server_error(),
                "{st} for {body}"
            );
            assert!(v["error"]["message"].as_str().unwrap().len() < 400);
            if let Some(code) = v["error"]["provider_code"].as_str() {
                assert!(code.len() <= 256, "{code}");
            }
            assert!(!text.contains("alert(document.cookie)") && !text.contains("alert(2)"));
            assert_eq!(row.state.status(), AuthorizationStatus::NotAuthorized);
        }
        println!("hostile provider {status} → {st} {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets.

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_api() {
    let buf = logs();
    // A host whose key the test knows, so it can look for it.
    let base = Harness::new().await;
    let mut key_bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key_bytes);
    let key_b64 = B64.encode(key_bytes);
    let key = TokenKey::from_base64(&key_b64, "test key").unwrap();
    let db = base.dir.path().join("secrets.db");
    let h = base.on_database(db, key);
    // A session of this host (the base's token is signed under another key).
    let everything = [(COMPANY.to_owned(), host_example::access::Role::Admin)];
    let h = Harness {
        auth: format!("Bearer {}", h.mint_session("admin", &everything).await),
        ..h
    };
    let body = h.sign_in(COMPANY).await;
    // The verifier never left the host: read it from the sealed pending row, to look for it.
    let verifier = {
        let conn = rusqlite::Connection::open(&h.db).unwrap();
        let (ct, nonce): (Vec<u8>, Vec<u8>) = conn
            .query_row(
                "SELECT sealed, nonce FROM pending_authorizations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let sealed = host_example::crypto::Sealed {
            nonce: nonce.try_into().unwrap(),
            ciphertext: ct,
        };
        let json = host_example::crypto::TokenCipher::new(&h.key)
            .open(COMPANY, host_example::crypto::Field::Pending, &sealed)
            .unwrap();
        let v: Value = serde_json::from_str(&json).unwrap();
        v["code_verifier"].as_str().unwrap().to_owned()
    };
    assert_eq!(verifier.len(), 43);
    let (code, state_value) = (body.code.clone(), body.state.clone());
    let (s, exchanged) = h.post("/api/optin/exchange", &exchange_json(&body)).await;
    assert_eq!(s, StatusCode::CREATED);
    let first = h.stored_tokens(COMPANY).await.unwrap();
    // A refresh (rotation), a failing refresh, a retrieval, a replay, then Clear.
    h.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]
    );
    h.clock.reset();
    let second = h.stored_tokens(COMPANY).await.unwrap();
    assert_eq!(h.track_on(&h.state, COMPANY).await.0, StatusCode::OK);
    let (s, replay) = h.post("/api/optin/exchange", &exchange_json(&body)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let tokens = serde_json::to_string(&h.tokens(COMPANY).await).unwrap();
    let status = h
        .get(&format!("/api/optin/status?company={COMPANY}"))
        .await
        .1;
    let (s, cleared) = h
        .post("/api/optin/clear", &json!({"company": COMPANY}))
        .await;
    assert_eq!(s, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(50)).await;

    let secrets = [
        ("first access token", first.access.secret().clone()),
        (
            "first refresh token",
            first.refresh.as_ref().unwrap().secret().clone(),
        ),
        ("second access token", second.access.secret().clone()),
        (
            "second refresh token",
            second.refresh.as_ref().unwrap().secret().clone(),
        ),
        ("authorization code", code),
        ("PKCE verifier", verifier),
        ("state", state_value),
        (
            "session token",
            h.auth.trim_start_matches("Bearer ").to_owned(),
        ),
        ("API key", h.api_key.clone()),
        ("client secret", "demo-secret".to_owned()),
        ("user password", "demo-password".to_owned()),
        ("key (base64)", key_b64.clone()),
        (
            "key (hex)",
            key_bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
        ),
    ];
    let logged = String::from_utf8_lossy(&buf.lock().unwrap()).into_owned();
    assert!(logged.contains("authorized"), "the capture works");
    assert!(logged.contains("cleared"), "the capture works");
    let api = format!("{exchanged} {replay} {tokens} {status} {cleared}");
    for (what, secret) in &secrets {
        assert!(secret.len() >= 8, "{what}");
        assert!(!logged.contains(secret.as_str()), "{what} is in the logs");
        assert!(!api.contains(secret.as_str()), "{what} is in an API answer");
    }
    // And the file holds none of them in plain text (wiped by Clear, encrypted before).
    let raw = h.raw_db_bytes();
    for (what, secret) in &secrets[..4] {
        assert!(
            !contains(&raw, secret.as_bytes()),
            "{what} is in the database file"
        );
    }
    assert!(
        !contains(&raw, &key_bytes),
        "the key is in the database file"
    );
    println!(
        "log capture: {} bytes, {} lines at TRACE; {} secrets checked",
        logged.len(),
        logged.lines().count(),
        secrets.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Open redirects through `return_to` (decided by core; the cases core's own tests lack).

#[test]
fn return_to_rejects_every_open_redirect_shape() {
    use token_manager_core::flow::is_safe_return_to;
    for bad in [
        "///evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "\\/evil.example",
        "/\r\n/evil.example",
        "/\u{0}/evil.example",
        " /evil.example",
        "//evil.example/admin/token-manager",
        "//127.0.0.1:8080@evil.example",
        "http://127.0.0.1:8080/admin",
        "https:evil.example",
        "https:/evil.example",
        "HTTPS://evil.example",
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "/\t\t/evil.example",
        "/\u{b}/evil.example",
        "",
        "?next=//evil.example",
        "#//evil.example",
        "evil.example",
        &format!("/{}", "a".repeat(100_000)),
    ] {
        assert!(!is_safe_return_to(bad), "accepted {bad:?}");
    }
    for ok in [
        "/admin/token-manager",
        "/admin/token-manager?company=acme",
        "/%2F%2Fevil.example",
        "/a/../b",
        "/?next=https://evil.example",
    ] {
        assert!(is_safe_return_to(ok), "refused {ok:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The fuzz corpus of `host-example/fuzz` (target `api_bodies`), replayed on stable.

#[path = "../../fuzz/check.rs"]
mod fuzz_check;

#[test]
fn fuzz_corpus_replays_through_the_body_parsers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut replayed = 0;
    for dir in [
        root.join("corpus").join("api_bodies"),
        root.join("artifacts").join("api_bodies"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| fuzz_check::check(&data));
                assert!(outcome.is_ok(), "{} broke a promise", path.display());
                replayed += 1;
            }
        }
    }
    assert!(replayed >= 8, "the committed seeds are there");
    println!("fuzz corpus: {replayed} inputs replayed");
}

/// The global limit of requests in flight (`--max-in-flight`, 2 here): two access-token calls
/// held by a slow refresh fill it; a third request, to any route, is answered 503 with
/// `Retry-After` at once instead of waiting; once they finish, requests are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_the_in_flight_limit_are_shed_at_once() {
    let h = Harness::builder()
        .companies("co-a,co-b")
        .host(|c| c.max_in_flight = 2)
        .start()
        .await;
    for c in ["co-a", "co-b"] {
        assert_eq!(h.authorize(c).await.status, StatusCode::CREATED, "{c}");
    }
    let base = h.serve(&h.state).await;
    h.clock.advance(FOUR_HOURS);
    h.mock.set_faults(slow_refreshes(1_500));
    let http = reqwest::Client::new();
    let held: Vec<_> = ["co-a", "co-b"]
        .into_iter()
        .map(|c| {
            let request = http
                .post(format!("{base}/api/v1/companies/{c}/access-token"))
                .bearer_auth(&h.api_key)
                .send();
            tokio::spawn(request)
        })
        .collect();
    // Both are at the provider (counted there on arrival).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.stats().refresh_requests < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "refreshes not started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = std::time::Instant::now();
    let shed = http
        .get(format!("{base}/api/v1/companies/co-a"))
        .bearer_auth(&h.api_key)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_millis(500), "it waited");
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: Value = shed.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many requests in progress"),
        "{body}"
    );
    for call in held {
        assert_eq!(call.await.unwrap().unwrap().status(), StatusCode::OK);
    }
    let served = http
        .get(format!("{base}/api/v1/companies/co-a"))
        .bearer_auth(&h.api_key)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), StatusCode::OK);
}
