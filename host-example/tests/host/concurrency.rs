//! Concurrency: many exchanges for one company at once, two host processes (two stores on one
//! SQLite file) racing for the same due refresh round after round, and Clear racing a refresh
//! and a retrieval. The mock UPS's counters are the referee: a refresh token spent twice would
//! answer `invalid_grant` (UPS rotates them), and data calls are counted per token fingerprint.
//!
//! `TM_REFRESH_ROUNDS` (default 200) sets the rounds of the two-host race.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::harness::*;
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use host_example::clock::OffsetClock;
use host_example::jobs::refresh_due;
use host_example::ops::RefreshOutcome;
use mock_ups::{token_fingerprint, Faults};
use serde_json::{json, Value};
use token_manager_core::{AuthorizationStatus, RecordStatus};
use tower::ServiceExt;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn post_exchange(h: &Harness, body: Value) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri("/api/optin/exchange")
        .header(header::AUTHORIZATION, &h.auth)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, PUBLIC)
        .header("X-Token-Manager", "1")
        .body(Body::from(body.to_string()))
        .unwrap();
    let app = h.app();
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_exchanges_leave_exactly_one_active_authorization() {
    let h = Arc::new(Harness::builder().exchange_per_minute(1_000).start().await);
    let mut bodies = Vec::new();
    for _ in 0..50 {
        bodies.push(exchange_json(&h.sign_in(COMPANY).await));
    }
    let tasks: Vec<_> = bodies
        .into_iter()
        .map(|b| {
            let h = h.clone();
            tokio::spawn(async move { post_exchange(&h, b).await })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(b["record"]["status"], "active");
        assert_eq!(b["record"]["company"], COMPANY);
        ids.push(b["record"]["id"].as_i64().unwrap());
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 50, "every response names its own record");
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.status, AuthorizationStatus::Active);
    assert_eq!(tokens.total, 50);
    let rows = &tokens.rows;
    let active: Vec<_> = rows
        .iter()
        .filter(|r| r.status == RecordStatus::Active)
        .collect();
    assert_eq!(active.len(), 1, "exactly one active record");
    // The active record is the last committed grant, and its pair is the stored one.
    assert_eq!(Some(active[0].id), ids.last().copied());
    assert!(rows
        .iter()
        .filter(|r| r.status != RecordStatus::Active)
        .all(|r| r.status == RecordStatus::Refreshed));
    let pair = h.stored_tokens(COMPANY).await.unwrap();
    let calls = h.stats().data_calls_total;
    assert_eq!(h.track_on(&h.state, COMPANY).await.0, StatusCode::OK);
    let stats = h.stats();
    assert_eq!(stats.data_calls_total, calls + 1);
    assert_eq!(
        stats.data_calls_by_token[&token_fingerprint(pair.access.secret())],
        1,
        "the stored access token is live"
    );
    assert_eq!(stats.data_calls_rejected, 0);
    assert_eq!((stats.token_requests, stats.tokens_issued), (50, 50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_code_sent_ten_times_at_once_is_exchanged_once() {
    let h = Arc::new(Harness::builder().exchange_per_minute(1_000).start().await);
    let body = exchange_json(&h.sign_in(COMPANY).await);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (h, b) = (h.clone(), body.clone());
            tokio::spawn(async move { post_exchange(&h, b).await })
        })
        .collect();
    let mut outcomes = BTreeMap::<String, usize>::new();
    for t in tasks {
        let (s, b) = t.await.unwrap();
        let key = format!(
            "{} {}",
            s.as_u16(),
            b["error"]["code"].as_str().unwrap_or("")
        );
        *outcomes.entry(key).or_default() += 1;
    }
    assert_eq!(outcomes.get("201 ").copied(), Some(1), "{outcomes:?}");
    // The state is single use: the other nine are refused by the host itself.
    assert_eq!(
        outcomes.get("400 no_pending_authorization").copied(),
        Some(9),
        "{outcomes:?}"
    );
    assert_eq!(h.tokens(COMPANY).await.total, 1);
    assert_eq!(h.stats().tokens_issued, 1);
    assert_eq!(
        h.stats().token_requests,
        1,
        "one request reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hosts_racing_for_every_refresh_spend_each_refresh_token_once() {
    let rounds = env_number("TM_REFRESH_ROUNDS", 200);
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let clock_b = Arc::new(OffsetClock::default());
    let b = h.second_host(clock_b.clone());
    // Lifetimes count from the host's receipt of each answer, so both clocks move four hours
    // ahead every round: each new pair is due at once, on both hosts.
    // Refreshes held 5 ms at the provider keep the two hosts overlapping.
    h.mock.set_faults(slow_refreshes(5));
    let started = std::time::Instant::now();
    let mut per_round = BTreeMap::<(usize, usize), u64>::new();
    let mut total_refreshed = 0u64;
    for round in 0..rounds {
        h.clock.advance(FOUR_HOURS);
        clock_b.advance(FOUR_HOURS);
        let (ra, rb) = tokio::join!(refresh_due(&h.state), refresh_due(&b));
        let count = |r: &[(String, RefreshOutcome)]| {
            r.iter()
                .filter(|(_, o)| *o == RefreshOutcome::Refreshed)
                .count()
        };
        for (_, o) in ra.iter().chain(rb.iter()) {
            assert!(
                matches!(o, RefreshOutcome::Refreshed | RefreshOutcome::Skipped),
                "round {round}: {o:?}"
            );
        }
        let (na, nb) = (count(&ra), count(&rb));
        assert!(na + nb >= 1, "round {round}: nobody refreshed");
        total_refreshed += (na + nb) as u64;
        *per_round.entry((na, nb)).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let stats = h.stats();
    // Every refresh request the hosts sent succeeded: no refresh token was ever presented twice
    // (the mock answers invalid_grant to a spent one), and each success spent exactly one.
    assert_eq!(stats.refresh_requests, total_refreshed);
    assert_eq!(stats.refreshes_succeeded, total_refreshed);
    assert_eq!(stats.refresh_tokens_spent, total_refreshed);
    assert_eq!(stats.active_refresh_tokens, 1);
    let tokens = h.tokens(COMPANY).await;
    assert_eq!(tokens.status, AuthorizationStatus::Active);
    assert_eq!(tokens.total, 1 + total_refreshed);
    let active = h.query_one("SELECT COUNT(*) FROM history WHERE status = 'active'");
    assert_eq!(active.int(), 1);
    if engine::postgres_base().is_none() {
        assert_eq!(h.query_one("PRAGMA integrity_check").text(), "ok");
    }
    println!(
        "two hosts, {rounds} rounds in {elapsed:?}: {total_refreshed} refreshes, each token spent once; \
         (host A, host B) refreshes per round → rounds: {per_round:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_racing_a_refresh_and_a_retrieval_leaves_no_token_in_use() {
    let h = Arc::new(Harness::builder().exchange_per_minute(1_000).start().await);
    let clock_b = Arc::new(OffsetClock::default());
    let b = h.second_host(clock_b.clone());
    let mut seed = 0x00C1_EA2Du64;
    let mut next = |below: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % below
    };
    let mut outcomes = BTreeMap::<String, usize>::new();
    let rounds = 24;
    for round in 0..rounds {
        h.clock.reset();
        clock_b.reset();
        assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
        let before = h.stored_tokens(COMPANY).await.unwrap();
        h.clock.advance(FOUR_HOURS);
        clock_b.advance(FOUR_HOURS);
        h.mock.set_faults(slow_refreshes(10 + next(120)));
        // The refresh and a retrieval run on this host or on the other process.
        // Who starts first, and by how much, varies per round.
        let on_b = round % 2 == 1;
        let (refresh_delay, clear_delay) = (next(60), next(60));
        let refresher = if on_b { b.clone() } else { h.state.clone() };
        let refresh = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(refresh_delay)).await;
            refresh_due(&refresher).await
        });
        let retriever = if on_b { b.clone() } else { h.state.clone() };
        let hr = h.clone();
        let retrieval = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(refresh_delay)).await;
            hr.track_on(&retriever, COMPANY).await
        });
        let hc = h.clone();
        let clear = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(clear_delay)).await;
            let (s, cleared) = hc
                .post("/api/optin/clear", &json!({"company": COMPANY}))
                .await;
            // The moment Clear returned.
            let at_clear = hc.stats();
            let wiped = hc.ciphertexts(COMPANY).iter().all(Option::is_none);
            (s, cleared, at_clear, wiped)
        });
        let (s, cleared, at_clear, wiped) = clear.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{cleared}");
        assert_eq!(cleared["status"], "cleared");
        assert!(wiped, "round {round}: tokens left after Clear");
        let raw = h.raw_db_bytes();
        assert!(!contains(&raw, before.access.secret().as_bytes()));
        assert!(!contains(
            &raw,
            before.refresh.as_ref().unwrap().secret().as_bytes()
        ));
        let refreshed = refresh.await.unwrap();
        retrieval.await.unwrap();
        // Everything keeps running afterwards, on both hosts: no provider call with a token.
        for _ in 0..3 {
            refresh_due(&h.state).await;
            refresh_due(&b).await;
            for host in [&h.state, &b] {
                let (s, refused) = h.track_on(host, COMPANY).await;
                assert_eq!(
                    (s, refused["error"]["code"].as_str()),
                    (StatusCode::CONFLICT, Some("cleared")),
                    "round {round}"
                );
            }
        }
        let after = h.stats();
        assert_eq!(
            after.refresh_requests, at_clear.refresh_requests,
            "round {round}: a refresh left a host after Clear returned"
        );
        assert_eq!(
            after.data_calls_by_token, at_clear.data_calls_by_token,
            "round {round}: a data call with a token after Clear returned"
        );
        let tokens = h.tokens(COMPANY).await;
        assert_eq!(tokens.status, AuthorizationStatus::Cleared);
        assert!(
            tokens.rows.iter().all(|r| r.status != RecordStatus::Active),
            "{tokens:?}"
        );
        let row_b = b.store().authorization(COMPANY).await.unwrap();
        assert_eq!(row_b.state.status(), AuthorizationStatus::Cleared);
        *outcomes
            .entry(format!(
                "refresh on {} {}: {:?}",
                if on_b {
                    "other process"
                } else {
                    "same process"
                },
                if refresh_delay <= clear_delay {
                    "started first"
                } else {
                    "started second"
                },
                refreshed
                    .first()
                    .map_or(RefreshOutcome::Skipped, |(_, o)| o.clone())
            ))
            .or_default() += 1;
    }
    h.mock.set_faults(Faults::default());
    println!("clear vs refresh, {rounds} rounds: {outcomes:#?}");
}

/// 16 companies due at once with a provider taking 400 ms per refresh: the refresher works on
/// `refresh_concurrency` of them at a time (one at a time took 16 × 400 ms and capped the
/// refresher at ~2.5 refreshes/s), every one is refreshed once, and each spends its own refresh
/// token once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_companies_are_refreshed_in_parallel_each_once() {
    const N: usize = 16;
    const SLOW_MS: u64 = 400;
    let ids: Vec<String> = (0..N).map(|i| format!("co-{i:02}")).collect();
    let list = ids.join(",");
    let h = Harness::builder()
        .companies(&list)
        .exchange_per_minute(1_000)
        .start()
        .await;
    for id in &ids {
        assert_eq!(h.authorize(id).await.status, StatusCode::CREATED, "{id}");
    }
    h.clock.advance(FOUR_HOURS);
    h.mock.set_faults(slow_refreshes(SLOW_MS));
    let started = std::time::Instant::now();
    let done = refresh_due(&h.state).await;
    let elapsed = started.elapsed();
    let refreshed: Vec<&str> = done
        .iter()
        .filter(|(_, o)| *o == RefreshOutcome::Refreshed)
        .map(|(c, _)| c.as_str())
        .collect();
    assert_eq!(refreshed.len(), N, "{done:?}");
    let stats = h.stats();
    assert_eq!(stats.refresh_requests, N as u64);
    assert_eq!(stats.refresh_tokens_spent, N as u64);
    // One at a time would take N × SLOW_MS = 6.4 s; all at once (the default concurrency is
    // 32) about SLOW_MS. Half the sequential time leaves room for a loaded machine.
    let parallel = h.state.config().refresh_concurrency;
    let sequential = std::time::Duration::from_millis(SLOW_MS * N as u64);
    assert!(
        elapsed < sequential / 2,
        "{N} refreshes took {elapsed:?} (sequential: {sequential:?}, concurrency {parallel})"
    );
}

/// The refresher's own loop (not one pass) on SQLite, with more companies due than it keeps in
/// flight and a provider taking 100 ms: every one is renewed, each token spent once. (The loop
/// once scanned for more work while its refreshes waited, unpolled, on the store's admission
/// permits they held: it stopped for good after a few dozen, on SQLite only.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresher_loop_works_through_a_backlog_on_sqlite() {
    const N: usize = 80;
    let ids: Vec<String> = (0..N).map(|i| format!("bk-{i:02}")).collect();
    let h = Harness::builder()
        .companies(&ids.join(","))
        .exchange_per_minute(1_000)
        .host(|c| c.refresh_concurrency = 16)
        .start()
        .await;
    for id in &ids {
        assert_eq!(h.authorize(id).await.status, StatusCode::CREATED, "{id}");
    }
    h.clock.advance(FOUR_HOURS);
    h.mock.set_faults(slow_refreshes(100));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let refresher = tokio::spawn(host_example::jobs::run_refresher(
        h.state.clone(),
        shutdown.clone(),
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while h.stats().refreshes_succeeded < N as u64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the refresher stopped: {} of {N} refreshed",
            h.stats().refreshes_succeeded
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    refresher.await.unwrap();
    let stats = h.stats();
    assert_eq!(
        (stats.refreshes_succeeded, stats.refreshes_refused),
        (N as u64, 0)
    );
    // Every rotation is stored (the loop finishes what it started before it returns).
    for id in &ids {
        assert_eq!(h.tokens(id).await.total, 2, "{id}");
    }
}
