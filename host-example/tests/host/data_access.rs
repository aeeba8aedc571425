//! The portal's backend using an authorization: `GET /api/v1/companies[/{c}]`, the
//! access-token API (refused with the reason, refreshed first when due, single-flight across
//! callers and host processes, audited) and the provider proxy (pass-through, no client
//! credentials forwarded, one renewal on a 401, no redirects followed, and Clear as a hard stop
//! proven from the mock's counters).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use host_example::clock::OffsetClock;
use mock_ups::{token_fingerprint, MockConfig};
use serde_json::{json, Value};

use crate::harness::*;

/// Four hours less a minute: inside the 5-minute refresh skew of the mock's ~4 h tokens, not
/// yet expired.
const DUE: Duration = Duration::from_secs(4 * 3600 - 60);

fn token_path(company: &str) -> String {
    format!("/api/v1/companies/{company}/access-token")
}

fn echo(company: &str, rest: &str) -> String {
    format!("/api/v1/companies/{company}/proxy/mock/echo/{rest}")
}

async fn access_token(h: &Harness, state: &host_example::AppState) -> (StatusCode, Value) {
    let (s, _, b) = h
        .server_on(state, Method::POST, &token_path(COMPANY), None)
        .await;
    (s, b)
}

#[tokio::test]
async fn companies_are_read_and_listed_and_never_show_a_token() {
    let h = Harness::new().await;
    let (s, b) = h.get_company(COMPANY).await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("not_authorized"))
    );
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let pair = h.stored_tokens(COMPANY).await.unwrap();
    let (s, b) = h.get_company(COMPANY).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["status"], "active");
    assert_eq!(b["authorized_by"], "admin");
    assert!(b["token_expires"].as_i64().unwrap() > b["since"].as_i64().unwrap());
    assert!(b["refresh_expires"].as_i64().is_some());
    assert!(!b.to_string().contains(pair.access.secret()));
    let (s, _, list) = h
        .server(Method::GET, "/api/v1/companies?status=active", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["total"], 1);
    assert_eq!(list["companies"][0]["company"], COMPANY);
    h.clear(COMPANY).await.expect(StatusCode::OK);
    let (_, b) = h.get_company(COMPANY).await;
    assert_eq!(
        (b["status"].as_str(), b["cleared_by"].as_str()),
        (Some("cleared"), Some("admin"))
    );
    let (_, _, list) = h
        .server(Method::GET, "/api/v1/companies?status=active", None)
        .await;
    assert_eq!(list["total"], 0);
    // Bad input and no key.
    for uri in [
        "/api/v1/companies/Bad%20Id",
        "/api/v1/companies?per_page=1000",
        "/api/v1/companies?page=0",
        "/api/v1/companies?status=happy",
    ] {
        let (s, _, b) = h.server(Method::GET, uri, None).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {b}");
    }
    let (s, _, _) = h
        .send(
            Request::get("/api/v1/companies")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A session token (the browser's credential) is not an API key.
    let (s, _, _) = h
        .send(
            Request::get("/api/v1/companies")
                .header(header::AUTHORIZATION, &h.auth)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_access_token_is_refused_with_the_reason_it_cannot_be_used() {
    let h = Harness::new().await;
    let (s, b) = access_token(&h, &h.state).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_authorized"))
    );
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let (s, headers, b) = h.server(Method::POST, &token_path(COMPANY), None).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(
        b["access_token"].as_str(),
        Some(
            h.stored_tokens(COMPANY)
                .await
                .unwrap()
                .access
                .secret()
                .as_str()
        )
    );
    assert_eq!(b["token_type"], "Bearer");
    h.clear(COMPANY).await.expect(StatusCode::OK);
    let (s, b) = access_token(&h, &h.state).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("cleared"))
    );
    // A UPS.com password change: the next refresh is refused, the authorization invalidated.
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    h.mock.change_password("demo", "a-new-password");
    h.clock.advance(DUE);
    let (s, b) = access_token(&h, &h.state).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalidated")),
        "{b}"
    );
    let (_, company) = h.get_company(COMPANY).await;
    assert_eq!(
        (company["status"].as_str(), company["reason"].as_str()),
        (Some("invalidated"), Some("invalid_grant"))
    );
    // Every hand-out was recorded, and only those.
    assert_eq!(h.state.store().handout_count(COMPANY).await.unwrap(), 1);
}

/// A host whose provider issues 4-second access tokens: due (half the lifetime, capped by the
/// skew) 2 s after they are issued, by the same clock on both sides.
async fn short_lived() -> Arc<Harness> {
    Arc::new(
        Harness::builder()
            .mock(|m| m.access_ttl = Duration::from_secs(4))
            .start()
            .await,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_callers_of_a_due_token_cause_one_refresh_and_all_get_the_new_token() {
    let h = short_lived().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let old = h.stored_tokens(COMPANY).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    // Refreshes held 200 ms at the provider: the callers pile up behind the one in flight.
    h.mock.set_faults(slow_refreshes(200));
    let before = h.stats().refresh_requests;
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { access_token(&h, &h.state).await })
        })
        .collect();
    let mut tokens = std::collections::BTreeSet::new();
    for call in calls {
        let (s, b) = call.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{b}");
        tokens.insert(b["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        h.stats().refresh_requests - before,
        1,
        "one refresh reached the provider"
    );
    let new = h.stored_tokens(COMPANY).await.unwrap();
    assert_eq!(tokens.len(), 1, "every caller got the same token");
    assert!(tokens.contains(new.access.secret()));
    assert_ne!(new.access.secret(), old.access.secret());
    assert_eq!(h.state.store().handout_count(COMPANY).await.unwrap(), 50);
    // The handed-out token works at the provider.
    assert_eq!(h.track_on(&h.state, COMPANY).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_host_processes_share_one_refresh_of_a_due_token() {
    let h = short_lived().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let b = h.second_host(Arc::new(OffsetClock::default()));
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    h.mock.set_faults(slow_refreshes(200));
    let before = h.stats().refresh_requests;
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let (h, state) = (
                h.clone(),
                if i % 2 == 0 {
                    h.state.clone()
                } else {
                    b.clone()
                },
            );
            tokio::spawn(async move { access_token(&h, &state).await })
        })
        .collect();
    let mut tokens = std::collections::BTreeSet::new();
    for call in calls {
        let (s, b) = call.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{b}");
        tokens.insert(b["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        h.stats().refresh_requests - before,
        1,
        "one refresh across both processes"
    );
    assert_eq!(tokens.len(), 1);
    assert!(tokens.contains(h.stored_tokens(COMPANY).await.unwrap().access.secret()));
}

#[tokio::test]
async fn the_proxy_passes_requests_and_answers_through_with_the_hosts_token_only() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let pair = h.stored_tokens(COMPANY).await.unwrap();
    let body = json!({"AddressKeyFormat": {"PostcodePrimaryLow": "30303"}}).to_string();
    let (s, headers, b) = h
        .send(
            Request::post(echo(
                COMPANY,
                "addressvalidation/v2/1?regionalrequestindicator=true&x=%20y",
            ))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.api_key))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::COOKIE, "portal_session=secret")
            .header("transId", "tx-42")
            .header("transactionSrc", "portal")
            .header("x-forwarded-for", "10.0.0.1")
            .body(Body::from(body.clone()))
            .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(headers["x-token-manager-proxy"], "provider");
    assert_eq!(headers["x-ups-echo"], "1", "provider headers pass");
    assert!(
        !headers.contains_key(header::SET_COOKIE),
        "provider cookies do not"
    );
    assert_eq!(b["method"], "POST");
    assert_eq!(b["path"], "/api/mock/echo/addressvalidation/v2/1");
    assert_eq!(b["query"], "regionalrequestindicator=true&x=%20y");
    assert_eq!(b["body"], body);
    // The host's bearer, once; the portal's API key and cookie never reach the provider.
    assert_eq!(b["bearer"], token_fingerprint(pair.access.secret()));
    assert_eq!(b["authorization_headers"], 1);
    let sent = b["headers"].as_object().unwrap();
    assert_eq!(sent["transid"], "tx-42");
    assert_eq!(sent["transactionsrc"], "portal");
    assert!(
        !sent.contains_key("cookie") && !sent.contains_key("x-forwarded-for"),
        "{sent:?}"
    );
    assert!(!b.to_string().contains(&h.api_key));
    // A provider's 4xx and 5xx come back as they are.
    for status in [404u16, 400, 503] {
        let (s, headers, b) = h
            .server(
                Method::GET,
                &echo(COMPANY, &format!("x?status={status}")),
                None,
            )
            .await;
        assert_eq!(s.as_u16(), status, "{b}");
        assert_eq!(headers["x-token-manager-proxy"], "provider");
        assert_eq!(b["method"], "GET");
    }
    // PUT, PATCH, DELETE pass too.
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let (s, _, b) = h
            .server(method.clone(), &echo(COMPANY, "m"), Some(&json!({"k": 1})))
            .await;
        assert_eq!(
            (s, b["method"].as_str()),
            (StatusCode::OK, Some(method.as_str()))
        );
    }
    // A large body streams through (past the part kept for a retry).
    let big = "x".repeat(300 * 1024);
    let (s, _, b) = h
        .send(
            Request::post(echo(COMPANY, "upload"))
                .header(header::AUTHORIZATION, format!("Bearer {}", h.api_key))
                .body(Body::from(big.clone()))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (s, b["body_len"].as_u64()),
        (StatusCode::OK, Some(big.len() as u64))
    );
}

#[tokio::test]
async fn paths_that_would_leave_the_api_are_refused_before_any_call() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let before = h.stats();
    for path in [
        "..%2F..%2Fsecurity/v1/oauth/token",
        "%2e%2e/security/v1/oauth/token",
        "track/%2E%2E/%2E%2E/security",
        "a//b",
        "a%5Cb",
    ] {
        let (s, headers, b) = h
            .server(
                Method::GET,
                &format!("/api/v1/companies/{COMPANY}/proxy/{path}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {b}");
        assert!(!headers.contains_key("x-token-manager-proxy"));
    }
    let after = h.stats();
    assert_eq!(after.data_calls_total, before.data_calls_total);
    assert_eq!(after.token_requests, before.token_requests);
}

#[tokio::test]
async fn a_provider_401_renews_the_token_once_and_retries_once() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let old = h.stored_tokens(COMPANY).await.unwrap();
    // The provider revokes the access token early; the refresh token stays good.
    assert_eq!(h.mock.revoke_access_tokens(), 1);
    let before = h.stats();
    let (s, headers, b) = h
        .server(Method::GET, &echo(COMPANY, "after-revocation"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(headers["x-token-manager-proxy"], "provider");
    let after = h.stats();
    assert_eq!(after.refresh_requests - before.refresh_requests, 1);
    assert_eq!(
        after.data_calls_total - before.data_calls_total,
        2,
        "one call, one retry"
    );
    let new = h.stored_tokens(COMPANY).await.unwrap();
    assert_ne!(new.access.secret(), old.access.secret());
    assert_eq!(b["bearer"], token_fingerprint(new.access.secret()));
    // A 401 that a fresh token does not cure comes back after one renewal, not a loop. After
    // a password change the renewal is refused: the authorization ends, the caller hears why.
    h.mock.change_password("demo", "a-new-password");
    let before = h.stats();
    let (s, _, b) = h
        .server(Method::GET, &echo(COMPANY, "after-password-change"), None)
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalidated")),
        "{b}"
    );
    let after = h.stats();
    assert_eq!(after.refresh_requests - before.refresh_requests, 1);
    assert_eq!(after.data_calls_total - before.data_calls_total, 1);
}

#[tokio::test]
async fn redirects_are_passed_back_never_followed() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    // Another server that must never see a request.
    let (other_addr, other) = mock_ups::spawn(MockConfig::default()).await.unwrap();
    let elsewhere = format!("http://{other_addr}/api/track/v1/details/1Z999AA10123456784");
    let (s, headers, _) = h
        .server(
            Method::GET,
            &echo(COMPANY, &format!("go?redirect={}", urlencode(&elsewhere))),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(headers[header::LOCATION], elsewhere.as_str());
    assert_eq!(headers["x-token-manager-proxy"], "provider");
    assert_eq!(
        other.stats().data_calls_total,
        0,
        "the redirect was not followed"
    );
}

#[tokio::test]
async fn after_clear_the_proxy_refuses_without_calling_the_provider() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let pair = h.stored_tokens(COMPANY).await.unwrap();
    assert_eq!(h.track_on(&h.state, COMPANY).await.0, StatusCode::OK);
    let fingerprint = token_fingerprint(pair.access.secret());
    let used = h.stats().data_calls_by_token[&fingerprint];
    let (s, cleared) = h
        .post("/api/optin/clear", &json!({"company": COMPANY}))
        .await;
    assert_eq!(s, StatusCode::OK);
    // The receipt: UPS offers no revocation; the token was deleted here.
    assert_eq!(
        cleared["revocation"]["result"], "not_supported",
        "{cleared}"
    );
    // The history row keeps the same receipt.
    let history = h.tokens(COMPANY).await;
    assert_eq!(
        history.rows[0].status,
        token_manager_core::history::RecordStatus::Cleared
    );
    assert_eq!(
        serde_json::to_value(&history.rows[0].revocation).unwrap(),
        cleared["revocation"]
    );
    let total = h.stats().data_calls_total;
    for _ in 0..5 {
        let (s, b) = h.track_on(&h.state, COMPANY).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("cleared"))
        );
        let (s, _, b) = h.server(Method::POST, &token_path(COMPANY), None).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("cleared"))
        );
    }
    let stats = h.stats();
    assert_eq!(
        stats.data_calls_by_token[&fingerprint], used,
        "the token was never used again"
    );
    assert_eq!(
        stats.data_calls_total, total,
        "no call reached the provider"
    );
}

/// Percent-encode a query value.
fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Harness {
    /// `GET /api/v1/companies/{company}`.
    pub async fn get_company(&self, company: &str) -> (StatusCode, Value) {
        let (s, _, b) = self
            .server(Method::GET, &format!("/api/v1/companies/{company}"), None)
            .await;
        (s, b)
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_server_route_and_event() {
    let h = Harness::new().await;
    let (s, _, doc) = h.server(Method::GET, "/api/v1/openapi.json", None).await;
    assert_eq!(s, StatusCode::OK);
    for (path, methods) in [
        ("/sessions", &["post"][..]),
        ("/companies", &["get"][..]),
        ("/companies/{company}", &["get"][..]),
        ("/companies/{company}/access-token", &["post"][..]),
        (
            "/companies/{company}/proxy/{path}",
            &["get", "post", "put", "patch", "delete"][..],
        ),
        ("/webhooks/deliveries", &["get"][..]),
        ("/webhooks/deliveries/{id}/redeliver", &["post"][..]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path}");
        }
    }
    // The documented event types are exactly core's, and each is a documented webhook.
    let documented: Vec<&str> = doc["components"]["schemas"]["EventType"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let core: Vec<&str> = token_manager_core::webhook::EventType::ALL
        .iter()
        .map(|t| t.as_str())
        .collect();
    assert_eq!(documented, core);
    for t in core {
        assert!(doc["webhooks"][t]["post"].is_object(), "{t}");
    }
}

#[tokio::test]
async fn a_refresh_outlasts_other_calls_and_a_caller_that_gives_up_does_not_cancel_it() {
    // Other provider calls give up after 1 s, a refresh after 4 s. Refresh times without
    // jitter: the new token below must not be inside its refresh window yet.
    let h = Arc::new(
        Harness::builder()
            .mock(|m| m.access_ttl = Duration::from_secs(4))
            .host(|c| c.refresh_policy.jitter_percent = 0)
            .provider_timeout(Duration::from_secs(1))
            .provider_refresh_timeout(Duration::from_secs(4))
            .start()
            .await,
    );
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let old = h.stored_tokens(COMPANY).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    // UPS takes 1.5 s to refresh; the portal's backend gives up after 300 ms.
    h.mock.set_faults(slow_refreshes(1_500));
    let call = {
        let h = h.clone();
        tokio::spawn(async move { access_token(&h, &h.state).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    // The refresh finished anyway and its pair is stored: nothing was lost to the hang-up.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.stats().refreshes_succeeded == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the refresh was cancelled"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let new = h.stored_tokens(COMPANY).await.unwrap();
    assert_ne!(new.access.secret(), old.access.secret());
    assert_ne!(
        new.refresh.as_ref().unwrap().secret(),
        old.refresh.as_ref().unwrap().secret()
    );
    let before = h.stats().refresh_requests;
    let (s, b) = access_token(&h, &h.state).await;
    assert_eq!(
        (s, b["access_token"].as_str()),
        (StatusCode::OK, Some(new.access.secret().as_str()))
    );
    assert_eq!(h.stats().refresh_requests, before, "no second refresh");
}

#[tokio::test]
async fn every_server_route_refuses_a_caller_without_the_api_key() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let before = h.stats().data_calls_total;
    for (method, uri) in [
        (Method::GET, format!("/api/v1/companies/{COMPANY}")),
        (Method::GET, "/api/v1/companies".to_owned()),
        (Method::POST, token_path(COMPANY)),
        (Method::GET, echo(COMPANY, "x")),
        (Method::GET, "/api/v1/webhooks/deliveries".to_owned()),
        (
            Method::POST,
            "/api/v1/webhooks/deliveries/1/redeliver".to_owned(),
        ),
    ] {
        // No credential, and the browser's session token (not an API key).
        for auth in [None, Some(h.auth.clone())] {
            let mut r = Request::builder().method(method.clone()).uri(&uri);
            if let Some(a) = &auth {
                r = r.header(header::AUTHORIZATION, a);
            }
            let (s, _, b) = h.send(r.body(Body::empty()).unwrap()).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {uri}: {b}");
            assert!(!b.to_string().contains("access_token"), "{b}");
        }
    }
    assert_eq!(
        h.stats().data_calls_total,
        before,
        "no proxied call went out"
    );
}
