//! Reliability: provider faults on exchange and refresh (nothing lost, bounded retries), the
//! real binary killed with SIGKILL at random points and restarted on the same database (every
//! authorization keeps its old or its new pair), a locked or full database, key rotation.
//!
//! `TM_CRASH_ITERATIONS` (default 10) sets the number of kill/restart rounds; `TM_CRASH_SEED`
//! the seed of the kill delays (default fixed, so a run is reproducible up to scheduling).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::binary::{opt_in, BinarySetup};
use crate::harness::*;
use axum::http::StatusCode;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use host_example::clock::OffsetClock;
use host_example::crypto::{Field, Sealed, TokenCipher, TokenKey};
use host_example::jobs::refresh_due;
use host_example::ops::{refresh_company, RefreshOutcome};
use host_example::store::{SqliteStore, Store};
use mock_ups::{spawn, EndpointFault, FaultKind, Faults, MockConfig};
use rand::RngCore;
use serde_json::json;
use token_manager_core::lifecycle::RefreshPolicy;
use token_manager_core::AuthorizationStatus;

fn fault(kind: FaultKind, slow_ms: Option<u64>) -> Faults {
    Faults {
        token: EndpointFault {
            kind,
            slow_ms,
            times: None,
        },
        refresh: EndpointFault {
            kind,
            slow_ms,
            times: None,
        },
        ..Faults::default()
    }
}

fn history_rows(db: &Path) -> Vec<(i64, String, i64, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT id, company, token_created, status FROM history ORDER BY id")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap();
    rows.collect::<Result<_, _>>().unwrap()
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Provider faults.

#[tokio::test]
async fn a_failing_token_endpoint_leaves_the_previous_authorization_untouched() {
    let h = Harness::builder()
        .provider_timeout(Duration::from_millis(600))
        .start()
        .await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let before = h.stored_tokens(COMPANY).await.unwrap();
    let rows = history_rows(&h.db);
    for (kind, slow, status, code) in [
        (FaultKind::Status500, None, 502, "provider_unavailable"),
        (FaultKind::Status503, None, 502, "provider_unavailable"),
        (FaultKind::MalformedJson, None, 502, "provider_malformed"),
        (FaultKind::Timeout, None, 502, "provider_unavailable"),
        // Slow-loris: the answer starts after the host's deadline.
        (FaultKind::Slow, Some(1_500), 502, "provider_unavailable"),
    ] {
        let body = h.sign_in(COMPANY).await;
        h.mock.set_faults(fault(kind, slow));
        let started = Instant::now();
        let (st, b) = h.post("/api/optin/exchange", &exchange_json(&body)).await;
        h.mock.set_faults(Faults::default());
        assert_eq!(
            (st.as_u16(), b["error"]["code"].as_str()),
            (status, Some(code)),
            "{kind:?}: {b}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{kind:?} bounded"
        );
        assert_eq!(history_rows(&h.db), rows, "{kind:?}: no partial record");
        let now = h.stored_tokens(COMPANY).await.unwrap();
        assert_eq!(now.access.secret(), before.access.secret(), "{kind:?}");
        assert_eq!(
            now.refresh.as_ref().unwrap().secret(),
            before.refresh.as_ref().unwrap().secret()
        );
    }
    // A slow answer inside the deadline is just slow.
    let body = h.sign_in(COMPANY).await;
    h.mock.set_faults(fault(FaultKind::Slow, Some(200)));
    let (st, _) = h.post("/api/optin/exchange", &exchange_json(&body)).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(integrity(&h.db), "ok");
}

#[tokio::test]
async fn refresh_faults_back_off_exponentially_and_keep_the_pair() {
    let h = Harness::builder()
        .provider_timeout(Duration::from_millis(500))
        .start()
        .await;
    let policy = RefreshPolicy::default();
    for (kind, slow, attempts) in [
        (FaultKind::Status500, None, 8),
        (FaultKind::Status503, None, 3),
        (FaultKind::MalformedJson, None, 3),
        (FaultKind::Timeout, None, 2),
        (FaultKind::Slow, Some(1_200), 2),
    ] {
        h.clock.reset();
        assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
        let before = h.stored_tokens(COMPANY).await.unwrap();
        let rows = history_rows(&h.db);
        let requests = h.stats().refresh_requests;
        h.mock.set_faults(fault(kind, slow));
        h.clock.advance(FOUR_HOURS);
        let mut delays = Vec::new();
        for attempt in 1..=attempts {
            let now = h.state.now();
            assert_eq!(
                refresh_due(&h.state).await,
                vec![(COMPANY.to_owned(), RefreshOutcome::Retrying)],
                "{kind:?} attempt {attempt}"
            );
            let row = h.state.store().authorization(COMPANY).await.unwrap();
            let next = row.next_refresh.unwrap();
            let delay = Duration::from_millis(u64::try_from(next.0 - now.0).unwrap());
            let want = policy.backoff(attempt);
            // `now` was read just before the attempt; the attempt itself takes up to the timeout.
            assert!(
                delay >= want && delay <= want + Duration::from_secs(2),
                "{kind:?} attempt {attempt}: retry in {delay:?}, policy says {want:?}"
            );
            delays.push(want.as_secs());
            // Not before the backoff is over.
            assert!(refresh_due(&h.state).await.is_empty());
            // Tokens intact, no partial record, status still active.
            let now_pair = h.stored_tokens(COMPANY).await.unwrap();
            assert_eq!(now_pair.access.secret(), before.access.secret());
            assert_eq!(
                now_pair.refresh.as_ref().unwrap().secret(),
                before.refresh.as_ref().unwrap().secret()
            );
            assert_eq!(history_rows(&h.db), rows);
            assert_eq!(row.state.status(), AuthorizationStatus::Active);
            h.clock.advance(want + Duration::from_millis(10));
        }
        // One provider call per attempt: bounded, never a burst.
        assert_eq!(h.stats().refresh_requests - requests, attempts as u64);
        // The provider recovers: the next attempt rotates the pair.
        h.mock.set_faults(Faults::default());
        assert_eq!(
            refresh_due(&h.state).await,
            vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)],
            "{kind:?}"
        );
        let after = h.stored_tokens(COMPANY).await.unwrap();
        assert_ne!(after.access.secret(), before.access.secret());
        assert_eq!(history_rows(&h.db).len(), rows.len() + 1);
        println!("{kind:?}: retries after {delays:?} s, then refreshed");
    }
    assert_eq!(integrity(&h.db), "ok");
}

// ---------------------------------------------------------------------------------------------
// The database: locked by another connection, full.

#[tokio::test]
async fn a_locked_database_gives_a_clear_503_then_recovers_without_losing_a_spent_code() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let body = h.sign_in(COMPANY).await;
    // Another process holds an exclusive write lock for 6 s (busy timeout: 5 s).
    let db = h.db.clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let locker = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(6));
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    let started = Instant::now();
    // Readers are not blocked (WAL).
    let (s, _) = h.get(&format!("/api/optin/tokens?company={COMPANY}")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(1));
    // A writer gets a clear 503 after the busy timeout, with nothing changed…
    let (s, b) = h
        .post("/api/optin/clear", &json!({"company": "acme"}))
        .await;
    let waited = started.elapsed();
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("internal")),
        "{b}"
    );
    assert!(
        b["error"]["message"].as_str().unwrap().contains("busy"),
        "{b}"
    );
    assert!(waited >= Duration::from_secs(4) && waited < Duration::from_secs(7));
    // …while an exchange whose code the provider already spent keeps trying to store the pair.
    let (s, b) = h.post("/api/optin/exchange", &exchange_json(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    locker.join().unwrap();
    println!(
        "locked database: reader unaffected, writer 503 after {waited:?}, exchange stored after {:?}",
        started.elapsed()
    );
    assert_eq!(h.tokens(COMPANY).await.total, 2);
    assert_eq!(integrity(&h.db), "ok");
}

/// A tmpfs mount (needs root; the test is skipped with a note otherwise).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap().keep();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[tokio::test]
async fn a_full_disk_refuses_cleanly_and_recovers() {
    let Some(fs) = Tmpfs::mount("1m") else {
        println!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return;
    };
    let base = Harness::new().await;
    let db = fs.0.join("tm.db");
    let key = base.key.clone();
    let h = base.on_database(db.clone(), key);
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let before = h.stored_tokens(COMPANY).await.unwrap();
    let rows = history_rows(&db);
    // Fill the file system to the last byte.
    let filler = fs.0.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let one = [0u8; 1];
        while f.write_all(&one).is_ok() {}
        let _ = f.sync_all();
    }
    // Enough history to need new pages.
    let (s, b) = h
        .post("/api/optin/clear", &json!({"company": "acme"}))
        .await;
    let seeded = host_example::ops::seed_history(&h.state, "acme", 2_000, "admin").await;
    // Starting writes a row too: it may be what notices the full disk.
    let (ss, sb) = h
        .post("/api/optin/start", &json!({ "company": COMPANY }))
        .await;
    let (se, be) = if ss == StatusCode::OK {
        let started = serde_json::from_value(sb).unwrap();
        let body = h.finish_sign_in(started, "demo-password").await;
        h.post("/api/optin/exchange", &exchange_json(&body)).await
    } else {
        (ss, sb)
    };
    println!("disk full: clear → {s} {b}; seed → {seeded:?}; start + exchange → {se} {be}");
    assert!(
        seeded.is_err() || s != StatusCode::OK || se != StatusCode::CREATED,
        "nothing noticed the full disk"
    );
    for (st, b) in [(s, &b), (se, &be)] {
        if !st.is_success() {
            assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{b}");
            assert_eq!(b["error"]["code"], "internal");
        }
    }
    // The stored authorization is intact and readable (read-only: a lease would need a write).
    if se != StatusCode::CREATED {
        let (a, r) = sealed_columns(&db, COMPANY);
        let cipher = TokenCipher::new(&h.key);
        assert_eq!(
            cipher.open(COMPANY, Field::AccessToken, &a).unwrap(),
            *before.access.secret()
        );
        assert_eq!(
            cipher.open(COMPANY, Field::RefreshToken, &r).unwrap(),
            *before.refresh.as_ref().unwrap().secret()
        );
        assert_eq!(history_rows(&db).len(), rows.len());
    }
    // Space comes back: everything works again, nothing is corrupt.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(integrity(&db), "ok");
    h.authorize(COMPANY).await.expect(StatusCode::CREATED);
    h.clear(COMPANY).await.expect(StatusCode::OK);
    assert_eq!(integrity(&db), "ok");
    drop(h);
}

// ---------------------------------------------------------------------------------------------
// Key rotation.

fn sealed_columns(db: &Path, company: &str) -> (Sealed, Sealed) {
    let c = ciphertexts(db, company);
    let s = |ct: &Option<Vec<u8>>, n: &Option<Vec<u8>>| Sealed {
        nonce: n.clone().unwrap().try_into().unwrap(),
        ciphertext: ct.clone().unwrap(),
    };
    (s(&c[0], &c[1]), s(&c[2], &c[3]))
}

#[tokio::test]
async fn key_rotation_reseals_every_token_under_the_new_key() {
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    h.authorize("acme").await;
    let pairs = [
        h.stored_tokens(COMPANY).await.unwrap(),
        h.stored_tokens("acme").await.unwrap(),
    ];
    let new = TokenKey::generate();
    // Without the old key the new one opens nothing; rotation without it refuses, untouched.
    let wrong = SqliteStore::open(
        &h.db,
        TokenCipher::with_old_keys(&new, &[TokenKey::generate()]),
    )
    .unwrap();
    let before = (
        sealed_columns(&h.db, COMPANY),
        sealed_columns(&h.db, "acme"),
    );
    let err = wrong.reencrypt().await.unwrap_err().to_string();
    assert!(err.contains("old key"), "{err}");
    assert_eq!(
        (
            sealed_columns(&h.db, COMPANY),
            sealed_columns(&h.db, "acme")
        ),
        before
    );
    drop(wrong);
    // With it: four values re-sealed, idempotent.
    let rotating = SqliteStore::open(
        &h.db,
        TokenCipher::with_old_keys(&new, std::slice::from_ref(&h.key)),
    )
    .unwrap();
    assert_eq!(rotating.reencrypt().await.unwrap(), 4);
    assert_eq!(rotating.reencrypt().await.unwrap(), 0);
    drop(rotating);
    let only_new = TokenCipher::new(&new);
    let old_only = TokenCipher::new(&h.key);
    for (company, pair) in [(COMPANY, &pairs[0]), ("acme", &pairs[1])] {
        let (a, r) = sealed_columns(&h.db, company);
        assert_eq!(
            only_new.open(company, Field::AccessToken, &a).unwrap(),
            *pair.access.secret()
        );
        assert_eq!(
            only_new.open(company, Field::RefreshToken, &r).unwrap(),
            *pair.refresh.as_ref().unwrap().secret()
        );
        assert!(old_only.open(company, Field::AccessToken, &a).is_err());
        assert!(old_only.open(company, Field::RefreshToken, &r).is_err());
    }
    // The old ciphertexts are gone from the files (checkpointed, secure_delete).
    let raw = h.raw_db_bytes();
    for (a, r) in [before.0, before.1] {
        assert!(!contains(&raw, &a.ciphertext) && !contains(&raw, &r.ciphertext));
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary, killed and restarted.

/// What the database says after a crash.
#[derive(Debug)]
struct AfterCrash {
    status: String,
    history: usize,
    active_rows: usize,
}

/// Invariants that must hold whenever the host is down: integrity, no duplicate or orphan
/// history, the active pair stored and decryptable exactly when the status is active.
fn check_invariants(db: &Path, cipher: &TokenCipher) -> AfterCrash {
    let conn = rusqlite::Connection::open(db).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let dups: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM (SELECT 1 FROM history
             GROUP BY company, token_created, token_expires, refresh_created HAVING COUNT(*) > 1)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dups, 0, "duplicate history rows");
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM history WHERE company NOT IN (SELECT company FROM authorizations)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0, "history rows without an authorization");
    let history: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM history WHERE company = ?1",
            [COMPANY],
            |r| r.get(0),
        )
        .unwrap();
    let active_rows: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM history WHERE company = ?1 AND status = 'active'",
            [COMPANY],
            |r| r.get(0),
        )
        .unwrap();
    drop(conn);
    let status: String = rusqlite::Connection::open(db)
        .unwrap()
        .query_row(
            "SELECT status FROM authorizations WHERE company = ?1",
            [COMPANY],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| "none".into());
    let cts = if status == "none" {
        vec![None, None, None, None]
    } else {
        ciphertexts(db, COMPANY)
    };
    if status == "active" {
        assert_eq!(
            active_rows, 1,
            "an active authorization has one active record"
        );
        let (a, r) = sealed_columns(db, COMPANY);
        cipher.open(COMPANY, Field::AccessToken, &a).unwrap();
        cipher.open(COMPANY, Field::RefreshToken, &r).unwrap();
    } else {
        assert_eq!(active_rows, 0, "{status}: no active record");
        assert!(cts.iter().all(Option::is_none), "{status}: no tokens");
    }
    AfterCrash {
        status,
        history: usize::try_from(history).unwrap(),
        active_rows: usize::try_from(active_rows).unwrap(),
    }
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_exchange_and_refresh_never_loses_or_duplicates_anything() {
    let iterations = env_number("TM_CRASH_ITERATIONS", 10);
    let mut rng = Lcg(env_number("TM_CRASH_SEED", 0x5EED));
    // The provider outlives the host: an in-test mock UPS with 1 s access tokens, so the
    // binary's refresher rotates the pair every ~0.5 s.
    let (addr, mock) = spawn(MockConfig {
        access_ttl: Duration::from_secs(1),
        faults: slow_refreshes(40),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let mock_base = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let mut key_bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key_bytes);
    let setup = BinarySetup {
        dir: dir.path().to_owned(),
        db: dir.path().join("tm.db"),
        mock_base: mock_base.clone(),
        key_b64: B64.encode(key_bytes),
        api_key: host_example::access::ApiKeys::generate(),
    };
    let key = TokenKey::from_base64(&setup.key_b64, "test").unwrap();
    let cipher = TokenCipher::new(&key);
    // The checker: a host state of its own on the same file, clock an hour ahead so the
    // refresh is due and any lease of the killed process has expired.
    let clock = Arc::new(OffsetClock::default());
    let mut host_config = host_example::config::HostConfig::new(url::Url::parse(PUBLIC).unwrap());
    host_config.static_dir = PathBuf::from("/nonexistent-widget-dir");
    let limits = host_example::config::HttpLimits {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        refresh_timeout: Duration::from_secs(5) * 2,
    };
    let mut tally = std::collections::BTreeMap::<&str, u64>::new();
    let started = Instant::now();
    for i in 0..iterations {
        let n = usize::try_from(i).unwrap();
        let before = if setup.db.exists() {
            Some(check_invariants(&setup.db, &cipher))
        } else {
            None
        };
        let pre = mock.stats();
        let host = setup.start(n, &[]);
        let exchange = before.as_ref().is_none_or(|b| b.status != "active") || rng.next(3) == 0;
        let task = exchange.then(|| {
            let (url, mock) = (host.url.clone(), mock.clone());
            let api_key = setup.api_key.clone();
            tokio::spawn(async move { opt_in(&url, &mock, &api_key).await })
        });
        // Exchanges take ~20-50 ms; the refresher rotates every ~0.5 s (each refresh held
        // 40 ms at the provider, so kills land mid-refresh often).
        let delay = Duration::from_millis(if exchange {
            rng.next(250)
        } else {
            300 + rng.next(1000)
        });
        tokio::time::sleep(delay).await;
        drop(host); // SIGKILL
        if let Some(task) = task {
            let r = task.await.unwrap();
            *tally
                .entry(match r {
                    Ok(201) => "exchange completed before the kill",
                    Ok(_) => "exchange refused",
                    Err(_) => "exchange cut by the kill",
                })
                .or_default() += 1;
        }
        let after = check_invariants(&setup.db, &cipher);
        let stats = mock.stats();
        // Requests the provider received but never completed: the kill cut them mid-flight.
        let cut = |s: &mock_ups::MockStats| s.refresh_requests - s.refreshes_succeeded;
        if cut(&stats) > cut(&pre) {
            *tally
                .entry("kill landed mid-refresh (request at the provider)")
                .or_default() += 1;
        }
        *tally.entry("refreshes by the killed hosts").or_default() +=
            stats.refreshes_succeeded - pre.refreshes_succeeded;
        let issued = stats.tokens_issued + stats.refreshes_succeeded;
        assert!(
            after.history as u64 <= issued,
            "more records ({}) than grants the provider issued ({issued})",
            after.history
        );
        if after.status != "active" {
            *tally.entry("not active yet after the kill").or_default() += 1;
            continue;
        }
        // The stored refresh token must still be good at the provider: spend it (and store the
        // result) through the host's own code.
        clock.reset();
        clock.advance(Duration::from_secs(3600));
        let checker = build_state(
            &setup.db,
            &key,
            &setup.api_key,
            &mock_base,
            host_config.clone(),
            limits,
            clock.clone(),
            &Hooks {
                ups: Ups {
                    entry: token_manager_core::config::UpsEntry::Authorize,
                    flow: token_manager_core::config::UpsFlow::Pkce,
                },
                client_secret: "demo-secret".into(),
                urls: Vec::new(),
                secret: host_example::webhooks::WebhookSecret::generate(),
                retry: Default::default(),
            },
        );
        let outcome = refresh_company(&checker, COMPANY).await.unwrap();
        drop(checker);
        let stats = mock.stats();
        let issued = stats.tokens_issued + stats.refreshes_succeeded;
        let recorded = check_invariants(&setup.db, &cipher).history as u64;
        match outcome {
            RefreshOutcome::Refreshed => {
                *tally.entry("stored refresh token accepted").or_default() += 1
            }
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated) => {
                // Only possible when the kill fell after the provider rotated the pair and
                // before the host committed it: a grant the provider issued is not recorded.
                assert!(
                    issued > recorded,
                    "the stored refresh token was refused although no rotation was lost"
                );
                *tally
                    .entry("rotation lost to the kill (old pair kept, then invalidated)")
                    .or_default() += 1;
            }
            other => panic!("iteration {i}: checker refresh {other:?}"),
        }
        let _ = after.active_rows;
    }
    let stats = mock.stats();
    println!(
        "crash loop: {iterations} SIGKILLs in {:?}; provider: {} codes exchanged, {} refreshes; \
         history rows {}; {tally:#?}",
        started.elapsed(),
        stats.tokens_issued,
        stats.refreshes_succeeded,
        history_rows(&setup.db).len()
    );
    assert!(stats.refreshes_succeeded > 0);
}

#[tokio::test]
async fn the_binary_rotates_keys_on_start() {
    let (addr, _mock) = spawn(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tm.db");
    let random_b64 = || {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        B64.encode(b)
    };
    // A database whose tokens are sealed under a key we know (`old_b64`).
    let h = Harness::new().await;
    h.authorize(COMPANY).await;
    let pair = h.stored_tokens(COMPANY).await.unwrap();
    rusqlite::Connection::open(&h.db)
        .unwrap()
        .execute("VACUUM INTO ?1", [db.to_str().unwrap()])
        .unwrap();
    let old_b64 = random_b64();
    let old = TokenKey::from_base64(&old_b64, "old").unwrap();
    let copy = SqliteStore::open(
        &db,
        TokenCipher::with_old_keys(&old, std::slice::from_ref(&h.key)),
    )
    .unwrap();
    assert_eq!(copy.reencrypt().await.unwrap(), 2);
    drop(copy);
    let old_file = dir.path().join("old.key");
    std::fs::write(&old_file, format!("{old_b64}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&old_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let setup = BinarySetup {
        dir: dir.path().to_owned(),
        db: db.clone(),
        mock_base: format!("http://{addr}"),
        key_b64: random_b64(),
        api_key: host_example::access::ApiKeys::generate(),
    };
    let new = TokenCipher::new(&TokenKey::from_base64(&setup.key_b64, "new").unwrap());
    let old = TokenCipher::new(&old);
    // Round 0 rotates old → new through TOKEN_MANAGER_OLD_KEYS; round 1 passes the old key
    // again through --old-key-file (env TM_OLD_KEY_FILE): nothing left to do, no failure.
    for (n, var, value) in [
        (0, "TOKEN_MANAGER_OLD_KEYS", old_b64.as_str()),
        (1, "TM_OLD_KEY_FILE", old_file.to_str().unwrap()),
    ] {
        let host = setup.start(n, &[(var, value)]);
        drop(host);
        let (a, r) = sealed_columns(&db, COMPANY);
        assert_eq!(
            new.open(COMPANY, Field::AccessToken, &a).unwrap(),
            *pair.access.secret()
        );
        assert_eq!(
            new.open(COMPANY, Field::RefreshToken, &r).unwrap(),
            *pair.refresh.as_ref().unwrap().secret()
        );
        assert!(old.open(COMPANY, Field::AccessToken, &a).is_err());
        assert!(old.open(COMPANY, Field::RefreshToken, &r).is_err());
    }
    // A key the database was never sealed under: the start fails with a clear message.
    let wrong = BinarySetup {
        key_b64: random_b64(),
        ..setup
    };
    let out = wrong
        .command(
            &dir.path().join("ready-wrong.json"),
            &[("TOKEN_MANAGER_OLD_KEYS", &random_b64())],
        )
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("key rotation") && err.contains("old key"),
        "{err}"
    );
    let log = std::fs::read_to_string(dir.path().join("host.log")).unwrap();
    assert!(log.contains("key rotation: re-encrypted"), "{log}");
    assert!(!log.contains(&old_b64) && !log.contains(&wrong.key_b64));
}
