//! The host's background life against a real mock UPS: refresh rotation, invalidation by a
//! password change, Clear (wiped from the file, retrieval stopped), two host processes on one
//! SQLite file, restart.

use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;
use axum::http::StatusCode;
use host_example::clock::OffsetClock;
use host_example::jobs::refresh_due;
use host_example::ops::RefreshOutcome;
use host_example::reports::RetrievalOutcome;
use host_example::store::Store;
use mock_ups::{EndpointFault, FaultKind, Faults};
use serde_json::json;
use token_manager_core::{AuthorizationStatus, RecordStatus};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn refresh_rotates_the_pair_and_adds_a_record() {
    let h = Harness::new().await;
    let first = h
        .authorize(COMPANY)
        .await
        .expect(StatusCode::CREATED)
        .record;
    let before = h.stored_tokens(COMPANY).await.unwrap();

    // Not due yet: nothing happens.
    assert!(refresh_due(&h.state).await.is_empty());
    assert_eq!(h.stats().refresh_requests, 0);

    h.clock.advance(FOUR_HOURS);
    let done = refresh_due(&h.state).await;
    assert_eq!(done, vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]);
    let stats = h.stats();
    assert_eq!(
        (stats.refreshes_succeeded, stats.refresh_tokens_spent),
        (1, 1)
    );
    // The mock stamped the new pair with its own (real) clock: let ours agree again.
    h.clock.reset();

    let after = h.stored_tokens(COMPANY).await.unwrap();
    assert_ne!(before.access.secret(), after.access.secret());
    assert_ne!(
        before.refresh.unwrap().secret(),
        after.refresh.as_ref().unwrap().secret(),
        "UPS rotates the refresh token"
    );
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.status, AuthorizationStatus::Active);
    assert_eq!(tokens.total, 2);
    assert_eq!(tokens.rows[0].status, RecordStatus::Active);
    assert_eq!(tokens.rows[0].authorized_by.as_deref(), Some("admin"));
    assert_eq!(tokens.rows[1].id, first.id);
    assert_eq!(tokens.rows[1].status, RecordStatus::Refreshed);
    // Rescheduled: not due again right away.
    assert!(refresh_due(&h.state).await.is_empty());
}

#[tokio::test]
async fn temporary_refresh_failures_back_off_and_recover() {
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    h.clock.advance(FOUR_HOURS);
    h.mock.set_faults(Faults {
        refresh: EndpointFault {
            kind: FaultKind::Status503,
            times: Some(1),
            ..EndpointFault::default()
        },
        ..Faults::default()
    });
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Retrying)]
    );
    // Backoff (5 s) not over yet.
    assert!(refresh_due(&h.state).await.is_empty());
    h.clock.advance(Duration::from_secs(6));
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]
    );
    assert_eq!(h.tokens(COMPANY).await.total, 2);
}

#[tokio::test]
async fn password_change_invalidates_the_authorization() {
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    h.mock.change_password("demo", "a-new-password");
    h.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(
            COMPANY.to_owned(),
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated)
        )]
    );
    let (s, status) = h.get(&format!("/api/optin/status?company={COMPANY}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status["status"], "invalidated");
    assert_eq!(status["reason"], "invalid_grant");
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.status, AuthorizationStatus::Invalidated);
    assert_eq!(tokens.rows[0].status, RecordStatus::Invalidated);
    assert!(h.ciphertexts(COMPANY).iter().all(Option::is_none));
    // No more refresh attempts, and the proxy refuses without calling the provider.
    let (refreshes, data_calls) = (h.stats().refresh_requests, h.stats().data_calls_total);
    assert!(refresh_due(&h.state).await.is_empty());
    let (s, refused) = h.track_on(&h.state, COMPANY).await;
    assert_eq!(
        (s, refused["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalidated"))
    );
    assert_eq!(h.stats().refresh_requests, refreshes);
    assert_eq!(h.stats().data_calls_total, data_calls);
    // Opting in again works (with the new password).
    assert_eq!(
        h.authorize_with_password(COMPANY, "a-new-password")
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(h.tokens(COMPANY).await.status, AuthorizationStatus::Active);
}

/// A provider that keeps refresh tokens (RFC 6749 §6) and states their lifetime only in the
/// first answer: every record shows the refresh token's own times, the host keeps using the
/// one token, and the authorization ends as `refresh_expired` once it expires — without a
/// request the provider would refuse.
#[tokio::test]
async fn a_kept_refresh_token_keeps_its_times_and_ends_when_it_expires() {
    const DAY: Duration = Duration::from_secs(24 * 3600);
    let h = Harness::builder()
        .mock(|m| {
            m.keep_refresh_tokens = true;
            m.refresh_ttl = 2 * DAY;
        })
        .start()
        .await;
    let first = h
        .authorize(COMPANY)
        .await
        .expect(StatusCode::CREATED)
        .record;
    let kept = h.stored_tokens(COMPANY).await.unwrap().refresh.unwrap();
    let (created, expires) = (first.refresh_created, first.refresh_expires);
    assert!(created.is_some() && expires.is_some());
    for _ in 0..3 {
        h.clock.advance(FOUR_HOURS);
        assert_eq!(
            refresh_due(&h.state).await,
            vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]
        );
        // The same refresh token, still.
        let pair = h.stored_tokens(COMPANY).await.unwrap();
        assert_eq!(pair.refresh.unwrap().secret(), kept.secret());
    }
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.total, 4);
    for row in &tokens.rows {
        assert_eq!(
            (row.refresh_created, row.refresh_expires),
            (created, expires),
            "row {}",
            row.id
        );
    }
    assert_eq!(h.stats().refresh_tokens_spent, 0);
    // Two days after the opt-in the refresh token is dead: the host ends the authorization
    // itself, without sending the refresh request.
    h.clock.advance(2 * DAY);
    let requests = h.stats().refresh_requests;
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(
            COMPANY.to_owned(),
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated)
        )]
    );
    assert_eq!(h.stats().refresh_requests, requests);
    let status = h.status(COMPANY).await.expect(StatusCode::OK);
    assert_eq!(status.reason.as_deref(), Some("refresh_expired"));
    assert!(h.ciphertexts(COMPANY).iter().all(Option::is_none));
}

#[tokio::test]
async fn clear_wipes_the_file_and_stops_retrieval_before_returning() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let stored = h.ciphertexts(COMPANY);
    assert!(stored.iter().all(Option::is_some));

    // The demo portal's backend retrieves every 20 ms through the proxy, with its API key.
    let shutdown = CancellationToken::new();
    let base = h.serve(&h.state).await;
    let worker = host_example::DemoWorker::new(&base, h.api_key.clone()).unwrap();
    let jobs = vec![tokio::spawn(worker.run(
        h.state.clone(),
        Duration::from_millis(20),
        shutdown.clone(),
    ))];
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.stats().data_calls_total < 3 {
        assert!(std::time::Instant::now() < deadline, "retrieval never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (s, page) = h.get(&format!("/exports?company={COMPANY}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.as_str().unwrap().contains("HTTP 200"), "{page}");
    match &h.state.reports().all()[COMPANY].outcome {
        RetrievalOutcome::Data(d) => {
            assert_eq!(d.status, 200);
            assert!(d.summary.contains("QuantumViewResponse"), "{}", d.summary);
        }
        other => panic!("{other:?}"),
    }

    let cleared = h.clear(COMPANY).await.expect(StatusCode::OK);
    assert_eq!(cleared.status, AuthorizationStatus::Cleared);
    let calls_at_clear = h.stats().data_calls_total;

    // Wiped: the columns are NULL and the old ciphertext is nowhere in the file or its WAL.
    assert!(h.ciphertexts(COMPANY).iter().all(Option::is_none));
    let raw = h.raw_db_bytes();
    for ct in stored.iter().step_by(2).flatten() {
        assert!(!contains(&raw, ct), "old ciphertext still on disk");
    }
    // Records stay as an audit trail, status Cleared with the time.
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.status, AuthorizationStatus::Cleared);
    assert_eq!(tokens.rows[0].status, RecordStatus::Cleared);
    assert_eq!(tokens.rows[0].cleared_at, Some(cleared.cleared_at));

    // No request with the company's tokens leaves the host afterwards.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(h.stats().data_calls_total, calls_at_clear);
    assert_eq!(h.state.reports().all()[COMPANY].calls, calls_at_clear);
    // The worker stopped because the proxy refused it.
    assert!(
        matches!(&h.state.reports().all()[COMPANY].outcome, RetrievalOutcome::Stopped(why) if why.contains("(cleared)")),
        "{:?}",
        h.state.reports().all()[COMPANY]
    );
    let (_, page) = h.get(&format!("/exports?company={COMPANY}")).await;
    assert!(page.as_str().unwrap().contains("cleared"));
    shutdown.cancel();
    for j in jobs {
        j.await.unwrap();
    }

    // Clearing again is harmless, and the receipt says there was nothing to revoke.
    let (s, again) = h
        .post("/api/optin/clear", &json!({"company": COMPANY}))
        .await;
    assert_eq!(
        again["revocation"]["result"], "nothing_to_revoke",
        "{again}"
    );
    assert_eq!(
        (s, again["status"].as_str()),
        (StatusCode::OK, Some("cleared"))
    );
}

#[tokio::test]
async fn two_hosts_on_one_database_spend_a_refresh_token_once() {
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    let clock_b = Arc::new(OffsetClock::default());
    let b = h.second_host(clock_b.clone());
    h.clock.advance(FOUR_HOURS);
    clock_b.advance(FOUR_HOURS);
    // Slow refreshes widen the race window.
    h.mock.set_faults(slow_refreshes(300));
    let (ra, rb) = tokio::join!(refresh_due(&h.state), refresh_due(&b));
    let outcomes: Vec<_> = ra.iter().chain(rb.iter()).map(|(_, o)| o.clone()).collect();
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == RefreshOutcome::Refreshed)
            .count(),
        1,
        "{outcomes:?}"
    );
    let stats = h.stats();
    assert_eq!(
        stats.refresh_requests, 1,
        "exactly one refresh left the hosts"
    );
    assert_eq!(h.tokens(COMPANY).await.total, 2);
    h.clock.reset();
    clock_b.reset();
    // Both hosts see the rotated pair.
    let row_b = b.store().authorization(COMPANY).await.unwrap();
    assert_eq!(row_b.state.status(), AuthorizationStatus::Active);
    assert!(refresh_due(&b).await.is_empty());
}

#[tokio::test]
async fn restart_keeps_everything() {
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    host_example::ops::seed_history(&h.state, "acme", 5, "admin")
        .await
        .unwrap();
    let before = h.tokens(COMPANY).await;
    let pair = h.stored_tokens(COMPANY).await.unwrap();

    // A new store on the same file (the old connection stays open, as after a crash).
    let clock = Arc::new(OffsetClock::default());
    // The same session token: the other process shares the key it is signed under.
    let reopened = h.second_host(clock.clone());
    let h2 = Harness {
        state: reopened,
        clock,
        ..h
    };
    assert_eq!(h2.tokens(COMPANY).await, before);
    assert_eq!(h2.tokens("acme").await.total, 5);
    let again = h2.stored_tokens(COMPANY).await.unwrap();
    assert_eq!(pair.access.secret(), again.access.secret());
    // And it keeps working: the refresher picks the authorization up.
    h2.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h2.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]
    );
}

#[tokio::test]
async fn a_wrong_key_cannot_read_the_tokens() {
    if engine::on_postgres("a_wrong_key_cannot_read_the_tokens") {
        return;
    }
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    let other = host_example::crypto::TokenKey::generate();
    let store = host_example::store::SqliteStore::open(
        &h.db,
        host_example::crypto::TokenCipher::new(&other),
    )
    .unwrap();
    let r = store
        .claim(host_example::store::Claim {
            company: COMPANY.into(),
            owner: "x".into(),
            kind: host_example::store::ClaimKind::Use,
            now: token_manager_core::Timestamp(0),
            until: token_manager_core::Timestamp(1),
        })
        .await;
    assert!(matches!(r, Err(host_example::store::StoreError::Crypto(_))));
}

#[tokio::test]
async fn a_grant_without_a_refresh_token_works_until_it_expires_then_says_so() {
    let h = Harness::builder()
        .mock(|m| m.no_refresh_tokens = true)
        .start()
        .await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let (_, _, company) = h
        .server(
            axum::http::Method::GET,
            &format!("/api/v1/companies/{COMPANY}"),
            None,
        )
        .await;
    assert_eq!(company["status"], "active");
    assert!(company["refresh_expires"].is_null());
    // Usable until it expires; nothing tries to refresh it before.
    assert!(refresh_due(&h.state).await.is_empty());
    let token = format!("/api/v1/companies/{COMPANY}/access-token");
    let (s, _, _) = h.server(axum::http::Method::POST, &token, None).await;
    assert_eq!(s, StatusCode::OK);
    // Expired: refused with the reason, then ended — never `active` with an expired token.
    h.clock.advance(Duration::from_secs(3_600));
    let (s, _, b) = h.server(axum::http::Method::POST, &token, None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("token_expired"))
    );
    let refreshes = h.stats().refresh_requests;
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(
            COMPANY.to_owned(),
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated)
        )]
    );
    assert_eq!(
        h.stats().refresh_requests,
        refreshes,
        "no refresh was attempted"
    );
    let (_, status) = h.get(&format!("/api/optin/status?company={COMPANY}")).await;
    assert_eq!(
        (status["status"].as_str(), status["reason"].as_str()),
        (Some("invalidated"), Some("no_refresh_token"))
    );
    assert!(h.ciphertexts(COMPANY).iter().all(Option::is_none));
}
