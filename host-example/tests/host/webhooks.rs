//! Webhooks: every change of an authorization reaches the portal's backend, signed per the
//! Standard Webhooks specification, in order per company, at least once, from the outbox the
//! change was committed with; failures back off and are listed for an operator, who can
//! redeliver them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use host_example::jobs::{deliver_due, refresh_due};
use host_example::ops::RefreshOutcome;
use mock_ups::{EndpointFault, FaultKind, Faults};
use serde_json::Value;

use crate::harness::*;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    pub event: Value,
}

/// A webhook receiver on loopback: records every POST; answers 503 to the next `failing`
/// ones.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    pub failing: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    if r.failing
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    r.got.lock().unwrap().push(Received {
        id: h("webhook-id"),
        timestamp: h("webhook-timestamp").parse().unwrap_or(0),
        signature: h("webhook-signature"),
        event: serde_json::from_str(&body).unwrap_or(Value::Null),
        body,
    });
    StatusCode::NO_CONTENT
}

impl Receiver {
    /// Listen on an ephemeral port; the URL to configure.
    pub async fn start() -> (Self, String) {
        let r = Receiver::default();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/hooks", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (r, url)
    }

    pub fn events(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    pub fn types(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e.event["type"].as_str().unwrap_or("?").to_owned())
            .collect()
    }
}

/// Verify a signature as the specification defines it (computed here from the spec, not
/// with the host's code): `v1,` + base64(HMAC-SHA256(key, "{id}.{ts}.{body}")).
pub fn verify(secret: &str, e: &Received) -> bool {
    let key = B64
        .decode(secret.trim().strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let signed = format!("{}.{}.{}", e.id, e.timestamp, e.body);
    e.signature.split(' ').any(|s| {
        s.strip_prefix("v1,")
            .and_then(|b| B64.decode(b).ok())
            .is_some_and(|sig| ring::hmac::verify(&key, signed.as_bytes(), &sig).is_ok())
    })
}

/// Run the sender until `GET /api/v1/webhooks/deliveries?status={status}` lists `total`
/// deliveries; that listing. Fails the test (with `what` and the listing) at `deadline`.
async fn deliver_until(
    h: &Harness,
    status: &str,
    total: u64,
    deadline: std::time::Instant,
    what: &str,
) -> Value {
    let client = reqwest::Client::new();
    loop {
        deliver_due(&h.state, &client).await;
        let (_, _, listed) = h
            .server(
                Method::GET,
                &format!("/api/v1/webhooks/deliveries?status={status}"),
                None,
            )
            .await;
        if listed["total"] == total {
            return listed;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {listed}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Run the sender until nothing is pending (or 10 s pass).
async fn drain(h: &Harness) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    deliver_until(h, "pending", 0, deadline, "still pending").await;
}

async fn with_receiver(min_retry: Duration) -> (Harness, Receiver) {
    let (receiver, url) = Receiver::start().await;
    let h = Harness::builder().webhooks(&[url], min_retry).start().await;
    (h, receiver)
}

#[tokio::test]
async fn every_change_is_delivered_signed_in_order_and_without_a_token() {
    let (h, receiver) = with_receiver(Duration::from_millis(50)).await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let first = h.stored_tokens(COMPANY).await.unwrap();
    h.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]
    );
    let second = h.stored_tokens(COMPANY).await.unwrap();
    // A UPS.com password change: the next refresh is refused.
    h.mock.change_password("demo", "a-new-password");
    h.clock.advance(FOUR_HOURS);
    refresh_due(&h.state).await;
    assert_eq!(
        h.authorize_with_password(COMPANY, "a-new-password")
            .await
            .status,
        StatusCode::CREATED
    );
    h.clear(COMPANY).await.expect(StatusCode::OK);
    drain(&h).await;
    assert_eq!(
        receiver.types(),
        [
            "authorization.granted",
            "authorization.refreshed",
            "authorization.invalidated",
            "authorization.granted",
            "authorization.cleared"
        ]
    );
    let events = receiver.events();
    let mut ids = std::collections::BTreeSet::new();
    for e in &events {
        assert!(verify(&h.hooks.secret, e), "bad signature on {e:?}");
        assert!(e.id.starts_with("msg_") && ids.insert(e.id.clone()));
        assert!(
            (e.timestamp - h.state.now().0 / 1000).abs() < 60,
            "the attempt's time"
        );
        for secret in [&first, &second] {
            assert!(!e.body.contains(secret.access.secret()));
            assert!(!e.body.contains(secret.refresh.as_ref().unwrap().secret()));
        }
        assert_eq!(e.event["data"]["company"], COMPANY);
    }
    let tampered = Received {
        body: events[0].body.replace("granted", "cleared"),
        ..events[0].clone()
    };
    assert!(!verify(&h.hooks.secret, &tampered));
    // What each says.
    assert_eq!(events[0].event["data"]["status"], "active");
    assert_eq!(events[0].event["data"]["actor"], "admin");
    let record = &events[0].event["data"]["record"];
    assert_eq!(record["status"], "active");
    assert!(record["id"].as_i64().is_some() && record["token_expires"].as_i64().is_some());
    assert_eq!(events[2].event["data"]["status"], "invalidated");
    assert_eq!(events[2].event["data"]["reason"], "invalid_grant");
    assert_eq!(events[4].event["data"]["status"], "cleared");
    // The receipt: UPS has no revocation; the token expires there on its own, at this time.
    let receipt = &events[4].event["data"]["revocation"];
    assert_eq!(receipt["result"], "not_supported", "{receipt}");
    assert!(receipt["access_expires"].as_i64().is_some());
    assert_eq!(events[4].event["data"]["actor"], "admin");
    // The outbox agrees: every delivery delivered, once.
    let (_, _, all) = h
        .server(
            Method::GET,
            "/api/v1/webhooks/deliveries?status=delivered",
            None,
        )
        .await;
    assert_eq!(all["total"], 5);
    assert!(all["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["attempts"] == 1));
}

#[tokio::test]
async fn another_admins_opt_in_is_reported_as_superseded_then_granted() {
    let (h, receiver) = with_receiver(Duration::from_millis(50)).await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let other = h
        .mint_session(
            "bea",
            &[(COMPANY.to_owned(), host_example::access::Role::Admin)],
        )
        .await;
    let h2 = Harness {
        auth: format!("Bearer {other}"),
        ..h
    };
    assert_eq!(h2.authorize(COMPANY).await.status, StatusCode::CREATED);
    drain(&h2).await;
    assert_eq!(
        receiver.types(),
        [
            "authorization.granted",
            "authorization.superseded",
            "authorization.granted"
        ]
    );
    let superseded = &receiver.events()[1].event["data"];
    assert_eq!(
        (
            superseded["actor"].as_str(),
            superseded["superseded"].as_str()
        ),
        (Some("bea"), Some("admin"))
    );
}

#[tokio::test]
async fn a_receiver_that_is_down_gets_everything_in_order_when_it_is_back() {
    let (h, receiver) = with_receiver(Duration::from_millis(20)).await;
    receiver.failing.store(7, Ordering::SeqCst);
    let companies = ["demo-co", "acme"];
    for round in 0..3 {
        for c in companies {
            assert_eq!(h.authorize(c).await.status, StatusCode::CREATED, "{round}");
        }
        if round < 2 {
            for c in companies {
                h.clear(c).await.expect(StatusCode::OK);
            }
        }
    }
    drain(&h).await;
    // Per company: granted, cleared, granted, cleared, granted — nothing lost, nothing twice.
    let mut per_company = BTreeMap::<String, Vec<String>>::new();
    for e in receiver.events() {
        per_company
            .entry(e.event["data"]["company"].as_str().unwrap().to_owned())
            .or_default()
            .push(e.event["type"].as_str().unwrap().to_owned());
    }
    let expected = [
        "authorization.granted",
        "authorization.cleared",
        "authorization.granted",
        "authorization.cleared",
        "authorization.granted",
    ];
    for c in companies {
        assert_eq!(per_company[c], expected, "{c}");
    }
    let (_, _, all) = h
        .server(Method::GET, "/api/v1/webhooks/deliveries", None)
        .await;
    let attempts: u64 = all["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attempts"].as_u64().unwrap())
        .sum();
    assert_eq!(attempts, 10 + 7, "each failure retried once more");
}

#[tokio::test]
async fn refreshes_that_keep_failing_are_reported_once_per_streak() {
    let (h, receiver) = with_receiver(Duration::from_millis(50)).await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    h.mock.set_faults(Faults {
        refresh: EndpointFault::always(FaultKind::Status503),
        ..Faults::default()
    });
    h.clock.advance(FOUR_HOURS);
    for _ in 0..5 {
        assert_eq!(
            refresh_due(&h.state).await,
            vec![(COMPANY.to_owned(), RefreshOutcome::Retrying)]
        );
        h.clock.advance(Duration::from_secs(600));
    }
    drain(&h).await;
    assert_eq!(
        receiver.types(),
        ["authorization.granted", "authorization.refresh_failing"]
    );
    let data = &receiver.events()[1].event["data"];
    assert_eq!(
        (data["status"].as_str(), data["failures"].as_u64()),
        (Some("active"), Some(3))
    );
    assert!(data["reason"].as_str().is_some());
}

#[tokio::test]
async fn given_up_deliveries_are_listed_and_can_be_redelivered() {
    let (receiver, url) = Receiver::start().await;
    let h = Harness::builder()
        .webhooks(&[url], Duration::from_millis(20))
        .webhook_give_up(Duration::from_millis(300))
        .start()
        .await;
    receiver.failing.store(usize::MAX, Ordering::SeqCst);
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let client = reqwest::Client::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let failed = deliver_until(&h, "failed", 1, deadline, "never given up").await;
    let d = &failed["deliveries"][0];
    assert_eq!(d["event_type"], "authorization.granted");
    assert_eq!(d["last_status"], 503);
    assert!(d["attempts"].as_u64().unwrap() >= 2);
    assert!(receiver.events().is_empty());
    let id = d["id"].as_i64().unwrap();
    let first_attempts = d["attempts"].as_u64().unwrap();
    // Redelivered while the receiver is still down: a whole new retry window, not one try.
    let (s, _, _) = h
        .server(
            Method::POST,
            &format!("/api/v1/webhooks/deliveries/{id}/redeliver"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let again = deliver_until(&h, "failed", 1, deadline, "never given up again").await
        ["deliveries"][0]["attempts"]
        .as_u64()
        .unwrap();
    assert!(
        again >= first_attempts + 2,
        "{first_attempts} then {again}: retried again"
    );
    // The receiver is fixed; an operator redelivers.
    receiver.failing.store(0, Ordering::SeqCst);
    let (s, _, b) = h
        .server(
            Method::POST,
            &format!("/api/v1/webhooks/deliveries/{id}/redeliver"),
            None,
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::ACCEPTED, Some("pending"))
    );
    let (s, _, b) = h
        .server(
            Method::POST,
            "/api/v1/webhooks/deliveries/999999/redeliver",
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(b["error"]["code"], "not_found");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("delivery"),
        "{b}"
    );
    let (s, _, b) = h
        .server(
            Method::POST,
            "/api/v1/webhooks/deliveries/abc/redeliver",
            None,
        )
        .await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    deliver_due(&h.state, &client).await;
    assert_eq!(receiver.types(), ["authorization.granted"]);
    assert_eq!(
        receiver.events()[0].id,
        d["event_id"].as_str().unwrap(),
        "the same id"
    );
}

#[tokio::test]
async fn events_queued_behind_a_slow_one_get_their_whole_retry_window() {
    let (receiver, url) = Receiver::start().await;
    let h = Harness::builder()
        .webhooks(&[url], Duration::from_millis(20))
        .webhook_give_up(Duration::from_millis(400))
        .start()
        .await;
    receiver.failing.store(usize::MAX, Ordering::SeqCst);
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    h.clear(COMPANY).await.expect(StatusCode::OK);
    // Both wait longer than the give-up age before the first of them is even tried.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let failed = deliver_until(&h, "failed", 2, deadline, "not both given up").await;
    for d in failed["deliveries"].as_array().unwrap() {
        assert!(d["attempts"].as_u64().unwrap() >= 2, "tried once only: {d}");
    }
}
