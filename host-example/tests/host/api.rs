//! Router tests of the widget API and the demo pages: `app(state)` with `oneshot`, a real mock
//! UPS on loopback, a temporary SQLite file.

use std::time::Duration;

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use mock_ups::{EndpointFault, FaultKind, Faults};
use serde_json::{json, Value};
use token_manager_core::api::{ExchangeBody, ExchangeResponse};
use token_manager_core::config::{UpsEntry, UpsFlow};
use token_manager_core::{AuthorizationStatus, ErrorCode, RecordStatus};

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<none>")
}

#[tokio::test]
async fn full_exchange_stores_encrypted_tokens_and_a_record() {
    let h = Harness::new().await;
    let (status, body) = h
        .post(
            "/api/optin/exchange",
            &exchange_json(&h.sign_in(COMPANY).await),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Metadata only: no token in the answer.
    let text = body.to_string();
    assert!(!text.contains("access_token") && !text.contains("refresh_token"));
    let record = Reply::<ExchangeResponse>::from_json(status, body)
        .ok()
        .record;
    assert_eq!(record.company, COMPANY);
    assert_eq!(record.status, RecordStatus::Active);
    assert_eq!(record.authorized_by.as_deref(), Some("admin"));
    // UPS lifetimes, mapped by core from numbers-as-strings; the expiry counts from the
    // answer's arrival, a few ms after the mock's `issued_at`.
    let created = record.token_created.0;
    let lifetime = record.token_expires.0 - created;
    assert!((3_599_000..3_600_000).contains(&lifetime), "{lifetime}");
    assert!(record.refresh_expires.unwrap().0 > created);

    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.status, AuthorizationStatus::Active);
    assert_eq!(tokens.total, 1);
    assert_eq!(tokens.rows[0].id, record.id);
    let st = h.status(COMPANY).await;
    assert_eq!(st.status, StatusCode::OK);
    assert_eq!(st.ok().status, AuthorizationStatus::Active);
    // The other company is untouched.
    assert_eq!(
        h.tokens("acme").await.status,
        AuthorizationStatus::NotAuthorized
    );

    // Stored encrypted: the plaintext never reaches the database file.
    let pair = h.stored_tokens(COMPANY).await.unwrap();
    let raw = h.raw_db_bytes();
    assert!(!contains(&raw, pair.access.secret().as_bytes()));
    assert!(!contains(
        &raw,
        pair.refresh.as_ref().unwrap().secret().as_bytes()
    ));
    let stats = h.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 1));
    // UPS's current entry: the browser goes to /authorize; the host calls no validate-client.
    assert_eq!(stats.validate_client_requests, 0);
    assert_eq!(stats.authorize_requests, 1);
    // Nothing secret in the state's Debug (what a careless log line would print).
    let dbg = format!("{:?} {pair:?} {:?}", h.state, h.key);
    assert!(!dbg.contains("demo-secret"), "{dbg}");
    assert!(!dbg.contains(pair.access.secret().as_str()));
}

#[tokio::test]
async fn the_default_entry_is_ups_authorize_with_its_documented_parameters() {
    let h = Harness::new().await;
    let config = h.config("acme").await.expect(StatusCode::OK);
    assert_eq!(
        config.authorize_url,
        format!("{}/security/v1/oauth/authorize", h.mock_base)
    );
    assert!(config.extra_params.is_empty() && config.pkce && !config.challenge_method);
    let started = h.start("acme").await.expect(StatusCode::OK);
    let url = url::Url::parse(&started.authorize_url).unwrap();
    let mut names: Vec<String> = url.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "client_id",
            "code_challenge",
            "redirect_uri",
            "response_type",
            "scope",
            "state"
        ]
    );
    assert_eq!(h.stats().validate_client_requests, 0);
}

#[tokio::test]
async fn config_is_cached_after_one_validate_client() {
    let h = Harness::builder()
        .ups(UpsEntry::ValidateClient, UpsFlow::Pkce)
        .start()
        .await;
    for _ in 0..3 {
        let config = h.config("acme").await.expect(StatusCode::OK);
        assert_eq!(config.provider, "ups");
        assert_eq!(config.redirect_uri, REDIRECT);
        assert_eq!(
            config.extra_params.get("type").map(String::as_str),
            Some("ups_com_api")
        );
        assert!(config
            .authorize_url
            .starts_with(&format!("{}/lasso/signin", h.mock_base)));
    }
    assert_eq!(h.stats().validate_client_requests, 1);
}

#[tokio::test]
async fn config_when_the_provider_is_down_is_502_provider_unavailable() {
    // Only the validate-client entry asks the provider anything for `/config`.
    let h = Harness::builder()
        .ups(UpsEntry::ValidateClient, UpsFlow::Pkce)
        .provider_connect_timeout(Duration::from_millis(500))
        .start()
        .await;
    // A provider on a closed port.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let state = h.host_against(&format!("http://{dead}"), &h.dir.path().join("other.db"));
    let response = tower::ServiceExt::oneshot(
        host_example::app(state),
        Request::get("/api/optin/config?company=acme")
            .header(header::AUTHORIZATION, &h.auth)
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(code(&body), "provider_unavailable");
}

#[tokio::test]
async fn csrf_header_and_origin_are_required() {
    let h = Harness::new().await;
    let body = h.sign_in(COMPANY).await;
    let json = exchange_json(&body);
    for (csrf, origin) in [
        (None, Some(PUBLIC)),
        (Some("0"), Some(PUBLIC)),
        (Some("1"), Some("http://evil.example")),
    ] {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/api/optin/exchange")
            .header(header::AUTHORIZATION, &h.auth)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(v) = csrf {
            req = req.header("X-Token-Manager", v);
        }
        if let Some(o) = origin {
            req = req.header(header::ORIGIN, o);
        }
        let (s, _, b) = h
            .send(req.body(Body::from(json.to_string())).unwrap())
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{csrf:?} {origin:?}");
        assert_eq!(code(&b), "csrf_rejected");
    }
    // Nothing reached the provider and nothing was stored; the code still works.
    assert_eq!(h.stats().token_requests, 0);
    assert_eq!(h.tokens(COMPANY).await.total, 0);
    let (s, _) = h.post("/api/optin/exchange", &json).await;
    assert_eq!(s, StatusCode::CREATED);
}

/// The redirect URI and the verifier are the host's: `/start` builds the authorize URL with
/// the registered redirect URI, and what a client puts in the exchange body cannot steer
/// either (the mock refuses a token request whose redirect URI or verifier does not match).
#[tokio::test]
async fn redirect_uri_and_verifier_come_from_the_host_not_the_client() {
    let h = Harness::new().await;
    let started = h.start(COMPANY).await.expect(StatusCode::OK);
    let url = url::Url::parse(&started.authorize_url).unwrap();
    let param = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(param("redirect_uri").as_deref(), Some(REDIRECT));
    // UPS documents `code_challenge` with the S256 transform and no method parameter.
    assert!(param("code_challenge").is_some_and(|c| c.len() == 43));
    assert_eq!(param("code_challenge_method"), None);
    assert!(param("state").is_some_and(|s| started.pending.state_matches(&s)));
    let body = h.finish_sign_in(started, "demo-password").await;
    let mut j = exchange_json(&body);
    j["redirect_uri"] = json!("https://evil.example/admin/token-manager");
    j["code_verifier"] = json!("v".repeat(43));
    let (s, b) = h.post("/api/optin/exchange", &j).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let stats = h.stats();
    assert_eq!((stats.token_requests, stats.tokens_issued), (1, 1));
}

#[tokio::test]
async fn replayed_code_is_refused_and_adds_no_record() {
    let h = Harness::new().await;
    let body = h.sign_in(COMPANY).await;
    assert_eq!(h.exchange(&body).await.status, StatusCode::CREATED);
    // The same return again: its state was used up, so the host refuses it itself.
    let replay = h.exchange(&body).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert_eq!(replay.code(), Some(ErrorCode::NoPendingAuthorization));
    assert_eq!(
        h.stats().token_requests,
        1,
        "the replay never left the host"
    );
    // The spent code under a fresh state of the same user: the provider refuses it.
    let fresh = h.start(COMPANY).await.expect(StatusCode::OK);
    let replay = h
        .exchange(&ExchangeBody {
            state: fresh.pending.state().secret().clone(),
            ..body
        })
        .await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST, "{replay:?}");
    assert_eq!(replay.code(), Some(ErrorCode::InvalidGrant));
    // UPS's own answer: 10400 "Invalid authorization code", read by core as a dead code.
    assert_eq!(replay.err().error.provider_code.as_deref(), Some("10400"));
    assert_eq!(h.tokens(COMPANY).await.total, 1);
    assert_eq!(h.stats().codes_replayed, 1);
}

async fn provider_failure(kind: FaultKind, expected: &str) {
    let h = Harness::builder()
        .provider_timeout(Duration::from_millis(700))
        .start()
        .await;
    let body = h.sign_in(COMPANY).await;
    h.mock.set_faults(Faults {
        token: EndpointFault {
            kind,
            ..EndpointFault::default()
        },
        ..Faults::default()
    });
    let r = h.exchange(&body).await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{r:?}");
    let e = r.err().error;
    assert_eq!(e.code.as_str(), expected, "{e:?}");
    assert!(e.message.len() > 10);
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(
        (tokens.total, tokens.status),
        (0, AuthorizationStatus::NotAuthorized)
    );
    assert!(h.stored_tokens(COMPANY).await.is_none());
}

#[tokio::test]
async fn provider_500_is_a_clean_502() {
    provider_failure(FaultKind::Status500, "provider_unavailable").await;
}

#[tokio::test]
async fn provider_timeout_is_a_clean_502() {
    let started = std::time::Instant::now();
    provider_failure(FaultKind::Timeout, "provider_unavailable").await;
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn provider_malformed_json_is_a_clean_502() {
    provider_failure(FaultKind::MalformedJson, "provider_malformed").await;
}

#[tokio::test]
async fn a_second_exchange_supersedes_the_first() {
    let h = Harness::new().await;
    let first = h.authorize(COMPANY).await;
    let old = h.stored_tokens(COMPANY).await.unwrap();
    let second = h.authorize(COMPANY).await;
    assert_eq!(
        (first.status, second.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    let (first, second) = (first.ok().record, second.ok().record);
    let rows = h.tokens(COMPANY).await.rows;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].id, second.id);
    assert_eq!(rows[0].status, RecordStatus::Active);
    assert_eq!(rows[1].id, first.id);
    assert_eq!(rows[1].status, RecordStatus::Refreshed);
    let new = h.stored_tokens(COMPANY).await.unwrap();
    assert_ne!(old.access.secret(), new.access.secret());
}

#[tokio::test]
async fn input_validation_and_sessions() {
    let h = Harness::new().await;
    // No session → 401.
    let (s, _, b) = h
        .send(
            Request::get("/api/optin/tokens?company=acme")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    // Unknown company → 403 on every route, exactly like a company of someone else's.
    for uri in [
        "/api/optin/config?company=nope",
        "/api/optin/tokens?company=nope",
        "/api/optin/status?company=nope",
    ] {
        let (s, b) = h.get(uri).await;
        assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"), "{uri}");
    }
    let (s, b) = h
        .post("/api/optin/clear", &json!({"company": "nope"}))
        .await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    // Bad page size, missing company → 400.
    let (s, b) = h.get("/api/optin/tokens?company=acme&per_page=20").await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_request"));
    let (s, b) = h.get("/api/optin/status").await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_request"));
    // Exchange field checks.
    let good = json!({ "company": COMPANY, "code": "abc", "state": "s".repeat(43) });
    for (field, value) in [
        ("code", json!("")),
        ("code", json!("has space")),
        ("code", json!("x".repeat(3000))),
        ("state", json!("")),
        ("state", json!("has space")),
        ("state", json!("s".repeat(129))),
    ] {
        let mut j = good.clone();
        j[field] = value;
        let (s, b) = h.post("/api/optin/exchange", &j).await;
        assert_eq!(
            (s, code(&b)),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{field}"
        );
    }
    let mut j = good.clone();
    j["company"] = json!("nope");
    let (s, b) = h.post("/api/optin/exchange", &j).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    // A well-formed state nobody started.
    let (s, b) = h.post("/api/optin/exchange", &good).await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::BAD_REQUEST, "no_pending_authorization")
    );
    let (s, b) = h
        .post("/api/optin/exchange", &json!({"company": COMPANY}))
        .await;
    assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, "invalid_request"));
    // Body over 16 KiB → 413; not JSON → 415.
    let mut j = good.clone();
    j["code"] = json!("x".repeat(20_000));
    let (s, b) = h.post("/api/optin/exchange", &j).await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::PAYLOAD_TOO_LARGE, "invalid_request")
    );
    let (s, _, b) = h
        .send(
            Request::post("/api/optin/clear")
                .header(header::AUTHORIZATION, &h.auth)
                .header("X-Token-Manager", "1")
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("company=acme"))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_request")
    );
    // Unknown API path → JSON 404.
    let (s, b) = h.get("/api/optin/nope").await;
    assert_eq!((s, code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(h.stats().token_requests, 0);
}

/// Opt-in attempts are limited per user and company, counted only once the session is
/// verified and the company authorized: anonymous junk never uses up an admin's budget.
#[tokio::test]
async fn exchange_is_rate_limited_per_user_and_company_after_authentication() {
    let h = Harness::builder().exchange_per_minute(2).start().await;
    let j = |company: &str| json!({ "company": company, "code": "abc", "state": "never-started" });
    // A flood without a valid session first: 401s, nothing counted.
    for _ in 0..50 {
        let (s, _, _) = h
            .send(
                Request::post("/api/optin/exchange")
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("X-Token-Manager", "1")
                    .body(Body::from(j(COMPANY).to_string()))
                    .unwrap(),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(h.post("/api/optin/exchange", &j(COMPANY)).await);
    }
    assert_eq!(statuses[0].0, StatusCode::BAD_REQUEST);
    assert_eq!(statuses[1].0, StatusCode::BAD_REQUEST);
    assert_eq!(statuses[2].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&statuses[2].1), "rate_limited");
    // `/start` shares the budget.
    assert_eq!(h.start(COMPANY).await.code(), Some(ErrorCode::RateLimited));
    // Another company of the same user, and another user, have their own.
    let (s, b) = h.post("/api/optin/exchange", &j("acme")).await;
    assert_eq!(
        (s, code(&b)),
        (StatusCode::BAD_REQUEST, "no_pending_authorization")
    );
    let bob = h
        .mint_session(
            "bob",
            &[(COMPANY.to_owned(), host_example::access::Role::Admin)],
        )
        .await;
    let bob = Harness {
        auth: format!("Bearer {bob}"),
        ..h
    };
    assert_eq!(bob.start(COMPANY).await.status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_are_paged_in_sql_newest_first() {
    let h = Harness::new().await;
    let n = host_example::ops::seed_history(&h.state, "acme", 23, "admin")
        .await
        .unwrap();
    assert_eq!(n, 23);
    let (s, p3) = h
        .get("/api/optin/tokens?company=acme&page=3&per_page=10")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (p3["total"].as_u64(), p3["page"].as_u64()),
        (Some(23), Some(3))
    );
    assert_eq!(p3["rows"].as_array().unwrap().len(), 3);
    let (_, p1) = h.get("/api/optin/tokens?company=acme").await;
    assert_eq!(p1["per_page"], 10);
    let rows = p1["rows"].as_array().unwrap();
    assert!(rows
        .windows(2)
        .all(|w| w[0]["token_created"].as_i64() > w[1]["token_created"].as_i64()));
    assert!(rows.iter().all(|r| r["status"] == "refreshed"));
    // Out-of-range pages are clamped.
    let (_, p) = h
        .get("/api/optin/tokens?company=acme&page=99&per_page=25")
        .await;
    assert_eq!(
        (p["page"].as_u64(), p["rows"].as_array().unwrap().len()),
        (Some(1), 23)
    );
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let h = Harness::builder()
        .host(|c| c.allowed_origins = vec!["http://portal.example".into()])
        .start()
        .await;
    let preflight = |origin: &'static str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/optin/clear")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .header(
                header::ACCESS_CONTROL_REQUEST_HEADERS,
                "content-type,x-token-manager",
            )
            .body(Body::empty())
            .unwrap()
    };
    let (_, headers, _) = h.send(preflight("http://portal.example")).await;
    assert_eq!(
        headers[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "http://portal.example"
    );
    assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
    let (_, headers, _) = h.send(preflight("http://evil.example")).await;
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    // The allowed origin passes the CSRF origin check too.
    let (s, _, b) = h
        .send(
            Request::post("/api/optin/clear")
                .header(header::AUTHORIZATION, &h.auth)
                .header(header::ORIGIN, "http://portal.example")
                .header("X-Token-Manager", "1")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(r#"{"company":"acme"}"#))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "not_authorized");
}

#[tokio::test]
async fn openapi_document_is_served() {
    let h = Harness::new().await;
    let (s, doc) = h.get("/api/optin/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/config",
        "/start",
        "/exchange",
        "/tokens",
        "/clear",
        "/status",
    ] {
        assert!(doc["paths"][path].is_object(), "{path}");
    }
    // The documented error codes are exactly core's.
    let documented: Vec<&str> = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let core: Vec<&str> = token_manager_core::ErrorCode::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    assert_eq!(documented, core);
}

#[tokio::test]
async fn portal_pages_log_in_and_carry_security_headers() {
    let h = Harness::new().await;
    let (s, headers, body) = h.send(Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::OK);
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cookie.starts_with("tm_session=")
            && cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self' 'wasm-unsafe-eval'")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
    let html = body.as_str().unwrap();
    for text in [
        "Intelligent Data Management",
        "Home",
        "Exports",
        "Users",
        "Groups",
        "Admin",
        "Company",
        "Demonstration Co.",
        "Acme Corp",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // The portal's cookie identifies the demo user to the portal's pages only: it does not
    // open the widget API, which takes session tokens.
    let session = cookie.split(';').next().unwrap();
    let (s, _, b) = h.page("/api/optin/status?company=acme", session).await;
    assert_eq!((s, code(&b)), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    // Widget not built → a clear note.
    let (s, _, body) = h.page("/admin/token-manager?company=acme", session).await;
    assert_eq!(s, StatusCode::OK);
    assert!(body.as_str().unwrap().contains("scripts/build-widget.sh"));
    // The provider's redirect back carries no company: the session's last choice is used.
    let (_, _, body) = h.page("/admin/token-manager?code=x&state=y", session).await;
    assert!(body
        .as_str()
        .unwrap()
        .contains(r#"<option value="acme" selected>"#));
    let (s, _, _) = h.page("/exports?company=nope", session).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn widget_page_and_assets_when_built() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.js"),
        "export async function defineTokenManager() {}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("token_manager_widget_bg.wasm"),
        b"\0asm\x01\0\0\0",
    )
    .unwrap();
    let static_dir = dir.path().to_owned();
    let h = Harness::builder()
        .host(move |c| c.static_dir = static_dir)
        .start()
        .await;
    let (s, headers, body) = h
        .send(
            Request::get("/admin/token-manager?company=demo-co")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let html = body.as_str().unwrap();
    assert!(
        html.contains(r#"<token-manager api="/api/optin" company="demo-co" session-token="tms1."#),
        "{html}"
    );
    assert!(
        html.contains(r#"import { defineTokenManager } from "/assets/token-manager/index.js";"#)
    );
    assert!(html.contains(r#"el.getSessionToken = getSessionToken"#));
    // The page's token is the signed-in demo user's: it opens the API for that user's
    // companies, as an admin.
    let token = html
        .split(r#"session-token=""#)
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let (s, _, b) = h
        .send(
            Request::get("/api/optin/tokens?company=acme")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, b["can_manage"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{b}"
    );
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(html.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)));
    // `?mode=popup` puts the panel in popup mode; any other mode is ignored.
    for (query, element) in [
        (
            "mode=popup",
            r#"<token-manager api="/api/optin" company="demo-co" mode="popup" session-token="#,
        ),
        (
            "mode=%22%3E%3Cscript%3E",
            r#"<token-manager api="/api/optin" company="demo-co" session-token="#,
        ),
    ] {
        let (_, _, body) = h
            .send(
                Request::get(format!("/admin/token-manager?company=demo-co&{query}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert!(body.as_str().unwrap().contains(element), "{query}");
    }
    let (s, _, _) = h
        .send(Request::get("/favicon.ico").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, headers, _) = h
        .send(
            Request::get("/assets/token-manager/token_manager_widget_bg.wasm")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "application/wasm");
    let (s, headers, _) = h
        .send(
            Request::get("/assets/token-manager/index.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .contains("javascript"));
}

#[tokio::test]
async fn the_demo_login_picks_a_demo_user_whose_session_token_carries_their_companies() {
    let h = Harness::new().await;
    let login = |origin: &'static str, user: &str| {
        Request::post("/login")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("user={user}")))
            .unwrap()
    };
    // The picker lists the three demo users.
    let (s, _, page) = h
        .send(Request::get("/login").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    for who in ["Ada Admin", "Alan Acme", "Vera Viewer"] {
        assert!(page.as_str().unwrap().contains(who), "{who}");
    }
    let (s, _, _) = h.send(login("http://evil.example", "acme-admin")).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Only the demo's users (no free-form names).
    let (s, _, _) = h.send(login(PUBLIC, "alice")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, headers, _) = h.send(login(PUBLIC, "acme-admin")).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let cookies: Vec<_> = headers.get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let cookie = session_cookie(&headers).unwrap();
    // The portal mints a token for that user: admin of Acme only.
    // `/portal/session-token` with a cookie, with or without the CSRF header.
    let renew = |cookie: &str, csrf: bool| {
        let mut r = Request::post("/portal/session-token").header(header::COOKIE, cookie);
        if csrf {
            r = r.header("X-Token-Manager", "1");
        }
        r.body(Body::empty()).unwrap()
    };
    let (s, _, minted) = h.send(renew(&cookie, true)).await;
    assert_eq!(s, StatusCode::OK, "{minted}");
    assert!(minted["expires_at"].as_i64().unwrap() > chrono_now());
    let alan = Harness {
        auth: format!("Bearer {}", minted["session_token"].as_str().unwrap()),
        ..h
    };
    let record = alan
        .authorize("acme")
        .await
        .expect(StatusCode::CREATED)
        .record;
    assert_eq!(record.authorized_by.as_deref(), Some("acme-admin"));
    assert_eq!(
        alan.tokens_page(COMPANY, 1, token_manager_core::PerPage::Ten)
            .await
            .code(),
        Some(ErrorCode::Forbidden)
    );
    // The portal's own pages show only Alan's company.
    let (_, _, home) = alan.page("/", &cookie).await;
    let home = home.as_str().unwrap();
    assert!(
        home.contains("Alan Acme") && !home.contains("Demonstration Co."),
        "{home}"
    );
    // The token endpoint wants the CSRF header; logout ends the session and asks who you are.
    let (s, _, _) = alan.send(renew(&cookie, false)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, headers, _) = alan
        .send(
            Request::post("/logout")
                .header(header::COOKIE, &cookie)
                .header(header::ORIGIN, PUBLIC)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );
    let signed_out = session_cookie(&headers).unwrap();
    let (s, headers, _) = alan.page("/", &signed_out).await;
    assert_eq!(
        (s, headers[header::LOCATION].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );
    let (s, _, _) = alan.send(renew(&signed_out, true)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// Our pages are served with `Referrer-Policy: no-referrer`, so Chromium posts our own login
/// form with `Origin: null` and `Sec-Fetch-Site: same-origin`: that is ours. Another site's post
/// says `cross-site` (or, from a browser without `Sec-Fetch-*`, its own origin) and is refused.
#[tokio::test]
async fn the_login_form_is_judged_by_sec_fetch_site_then_origin() {
    let h = Harness::new().await;
    let login = |headers: &[(&'static str, &'static str)]| {
        let mut r = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            r = r.header(*name, *value);
        }
        r.body(Body::from("user=viewer")).unwrap()
    };
    for (headers, expected) in [
        (
            &[("origin", "null"), ("sec-fetch-site", "same-origin")][..],
            StatusCode::SEE_OTHER,
        ),
        (&[("sec-fetch-site", "none")][..], StatusCode::SEE_OTHER),
        (&[][..], StatusCode::SEE_OTHER),
        (&[("origin", PUBLIC)][..], StatusCode::SEE_OTHER),
        (
            &[("origin", PUBLIC), ("sec-fetch-site", "cross-site")][..],
            StatusCode::FORBIDDEN,
        ),
        (
            &[("origin", "null"), ("sec-fetch-site", "same-site")][..],
            StatusCode::FORBIDDEN,
        ),
        (&[("origin", "null")][..], StatusCode::FORBIDDEN),
        (
            &[("origin", "http://evil.example")][..],
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (s, _, body) = h.send(login(headers)).await;
        assert_eq!(s, expected, "{headers:?}: {body}");
    }
}
