//! Three host processes on one PostgreSQL database and one mock UPS, as three replicas behind a
//! load balancer: they split the refresher's work (every refresh token spent exactly once, no
//! token renewed late), they take over the companies of an instance that is SIGKILLed
//! mid-refresh once its leases expire, and a Clear on one instance stops the others from using
//! the company's tokens at once (proxy, access-token API and refresher).
//!
//! One test with its own throw-away cluster (the cluster helper of
//! `store/postgres`), phases in order on the same database. `TM_MULTI_ROUNDS` sets the number of
//! refresh rounds of the first phase (default 1,000), `TM_MULTI_KILLS` the SIGKILLs of the
//! second (default 6).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use mock_ups::{spawn, MockConfig, MockStats, MockUps};
use rand::RngCore;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::binary::{opt_in_as, BinarySetup, HostProcess};
use crate::harness::slow_refreshes;

/// Companies opted in, each signed in at the mock as its own user (`u-NN`), so the mock's
/// per-user counters are per company.
const COMPANIES: usize = 60;
/// The mock's access token lifetime: refreshed 1.5 s to 2.25 s before expiry (half the
/// lifetime, plus the jitter), after a 300 ms provider round trip.
const ACCESS_TTL: Duration = Duration::from_secs(3);
const PROVIDER_LATENCY_MS: u64 = 300;

fn company(i: usize) -> String {
    format!("mi-{i:02}")
}

fn user(i: usize) -> String {
    format!("u-{i:02}")
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The three instances, each restartable, each logging to a file of its own.
struct Replicas {
    setup: BinarySetup,
    env: Vec<(String, String)>,
    hosts: Vec<Option<HostProcess>>,
    starts: usize,
}

impl Replicas {
    fn log(&self, k: usize) -> PathBuf {
        self.setup.dir.join(format!("host-{k}.log"))
    }

    fn start(&mut self, k: usize) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let host = self.setup.start_logging_to(self.starts, &env, &self.log(k));
        self.starts += 1;
        self.hosts[k] = Some(host);
    }

    /// SIGTERM every instance and wait for them to exit: a graceful stop finishes (and
    /// commits) the refreshes in flight, so the provider's counters and the database agree.
    fn stop_all(&mut self) {
        for host in self.hosts.iter_mut().filter_map(Option::take) {
            let mut host = host;
            let pid = host.child.id().to_string();
            let sent = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(sent.success());
            let deadline = Instant::now() + Duration::from_secs(30);
            while host.child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "instance {pid} did not stop");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    fn url(&self, k: usize) -> String {
        self.hosts[k].as_ref().expect("running").url.clone()
    }

    /// Refreshes instance `k` committed, from its log (`outcome=Refreshed` lines).
    fn refreshes_logged(&self, k: usize) -> usize {
        std::fs::read_to_string(self.log(k))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("refresher") && l.contains("outcome=Refreshed"))
            .count()
    }
}

/// History per company, oldest first: `(token_created, token_expires)`.
async fn history(db: &tokio_postgres::Client) -> BTreeMap<String, Vec<(i64, i64)>> {
    let rows = db
        .query(
            "SELECT company, token_created, token_expires FROM history
             ORDER BY company, token_created, id",
            &[],
        )
        .await
        .unwrap();
    let mut out = BTreeMap::<String, Vec<(i64, i64)>>::new();
    for r in rows {
        out.entry(r.get(0)).or_default().push((r.get(1), r.get(2)));
    }
    out
}

/// Status and core's state (JSON, with the reason when ended) per company.
async fn statuses(db: &tokio_postgres::Client) -> BTreeMap<String, (String, String)> {
    db.query("SELECT company, status, state FROM authorizations", &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect()
}

/// Renewals that came after the token they replaced had expired.
fn late(history: &BTreeMap<String, Vec<(i64, i64)>>) -> Vec<(String, i64)> {
    history
        .iter()
        .flat_map(|(c, rows)| {
            rows.windows(2)
                .filter(|w| w[1].0 > w[0].1)
                .map(move |w| (c.clone(), w[1].0 - w[0].1))
        })
        .collect()
}

fn recorded_refreshes(history: &BTreeMap<String, Vec<(i64, i64)>>) -> u64 {
    history.values().map(|rows| rows.len() as u64 - 1).sum()
}

/// The mock's counters and how many refresh requests did not succeed (refused, or cut off by a
/// kill).
fn not_succeeded(s: &MockStats) -> u64 {
    s.refresh_requests - s.refreshes_succeeded
}

async fn wait_for(what: &str, deadline: Duration, mut done: impl AsyncFnMut() -> bool) {
    let until = Instant::now() + deadline;
    while !done().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_share_one_postgres_database() {
    use crate::harness::cluster;
    // Declared first, so it is stopped (and its files removed) last, even when an assertion
    // fails.
    let cluster = cluster::Cluster::start();
    let url = cluster.database("multi");
    let (db, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let users = (0..COMPANIES)
        .map(|i| (user(i), format!("pw-{i}")))
        .collect::<Vec<_>>();
    let (addr, mock) = spawn(MockConfig {
        access_ttl: ACCESS_TTL,
        users: users.clone(),
        ..MockConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    let companies: Vec<String> = (0..COMPANIES).map(company).collect();
    let mut replicas = Replicas {
        setup: BinarySetup {
            dir: dir.path().to_owned(),
            db: PathBuf::from(&url),
            mock_base: format!("http://{addr}"),
            key_b64: B64.encode(key),
            api_key: host_example::access::ApiKeys::generate(),
        },
        env: vec![
            ("TM_COMPANIES".into(), companies.join(",")),
            // The provider takes 300 ms; a refresh may take 2 s before it is abandoned.
            ("TM_HTTP_REFRESH_TIMEOUT_MS".into(), "2000".into()),
            // The demo worker's proxy calls are phase 3's witnesses.
            ("TM_RETRIEVAL_INTERVAL_MS".into(), "200".into()),
        ],
        hosts: vec![None, None, None],
        starts: 0,
    };
    for k in 0..3 {
        replicas.start(k);
    }
    // Opt-ins through all three.
    for (i, (name, password)) in users.iter().enumerate() {
        let host = replicas.url(i % 3);
        let status = opt_in_as(
            &host,
            &mock,
            &replicas.setup.api_key,
            &company(i),
            (name, password),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "opt-in of {}", company(i));
    }
    mock.set_faults(slow_refreshes(PROVIDER_LATENCY_MS));

    refresh_rounds(&replicas, &mock, &db).await;
    takeovers(&mut replicas, &mock, &db).await;
    clear_everywhere(&replicas, &mock, &db, &users).await;
}

/// Phase 1: `TM_MULTI_ROUNDS` refreshes over the three instances.
async fn refresh_rounds(replicas: &Replicas, mock: &MockUps, db: &tokio_postgres::Client) {
    let rounds = env_number("TM_MULTI_ROUNDS", 1_000);
    let start = mock.stats();
    let started = Instant::now();
    wait_for("the refresh rounds", Duration::from_secs(600), async || {
        mock.stats().refreshes_succeeded - start.refreshes_succeeded >= rounds
    })
    .await;
    let elapsed = started.elapsed();
    // Let the refreshes in flight land, then compare the provider's view with the database's.
    tokio::time::sleep(Duration::from_millis(PROVIDER_LATENCY_MS * 3)).await;
    let stats = mock.stats();
    let history = history(db).await;
    let per_instance: Vec<usize> = (0..3).map(|k| replicas.refreshes_logged(k)).collect();
    println!(
        "phase 1: {} refreshes in {elapsed:?} over 3 instances ({per_instance:?} each), \
         provider {} ms",
        stats.refreshes_succeeded - start.refreshes_succeeded,
        PROVIDER_LATENCY_MS
    );
    // Every refresh token was presented once: none refused (a spent one presented again
    // would be), each refresh rotated one.
    assert_eq!(
        (stats.refreshes_refused, stats.refresh_tokens_spent),
        (0, stats.refreshes_succeeded),
        "refreshes refused, refresh tokens spent"
    );
    // Every refresh the provider made is recorded, at its company.
    assert!(
        stats.refreshes_succeeded - recorded_refreshes(&history) <= 3 * 32,
        "refreshes in flight at most"
    );
    assert_eq!(history.len(), COMPANIES);
    let late = late(&history);
    assert!(
        late.is_empty(),
        "renewed after expiry (company, ms): {late:?}"
    );
    // The work is split: each instance did a share of it.
    for (k, n) in per_instance.iter().enumerate() {
        assert!(*n > 0, "instance {k} refreshed nothing: {per_instance:?}");
    }
}

/// Phase 2: SIGKILL one instance at a time, mid-refresh, and start it again. Its companies
/// are taken over when its leases expire; a rotation the provider made and the killed process
/// never stored (UPS rotates with no reuse grace) is the only loss, and it is reported:
/// exactly those companies end Invalidated, each after one refused request.
async fn takeovers(replicas: &mut Replicas, mock: &MockUps, db: &tokio_postgres::Client) {
    let kills = env_number("TM_MULTI_KILLS", 6);
    let before = mock.stats();
    let mut last_kill = Instant::now();
    for n in 0..kills {
        let k = usize::try_from(n % 3).unwrap();
        // Land inside a refresh: ~13 are in flight at any time, each for 300 ms.
        tokio::time::sleep(Duration::from_millis(700 + 173 * n)).await;
        replicas.hosts[k] = None; // SIGKILL
        last_kill = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        replicas.start(k);
    }
    let killed_at = host_example::clock::system_now().0
        - i64::try_from(last_kill.elapsed().as_millis()).unwrap();
    // A lease lives at least the refresh timeout + 5 s: after that, every company is renewed
    // again (or has ended). Then stop all three, so nothing is in flight while we count.
    tokio::time::sleep(Duration::from_secs(9)).await;
    replicas.stop_all();
    let stats = mock.stats();
    let history = history(db).await;
    let statuses = statuses(db).await;
    let invalidated: Vec<_> = statuses
        .iter()
        .filter(|(_, (s, _))| s == "invalidated")
        .collect();
    let lost = stats.refreshes_succeeded - recorded_refreshes(&history);
    let cut = not_succeeded(&stats) - not_succeeded(&before);
    println!(
        "phase 2: {kills} SIGKILLs; {} refreshes; rotations lost to a kill: {lost}; \
         refresh requests not answered with a pair (cut by a kill, or refused): {cut}; \
         invalidated: {invalidated:?}",
        stats.refreshes_succeeded - before.refreshes_succeeded
    );
    // Nothing duplicated: apart from the tokens a lost rotation had spent, no refresh token was
    // presented twice (each such company was refused once, then ended).
    for (c, (_, state)) in &invalidated {
        assert!(state.contains("\"invalid_grant\""), "{c}: {state}");
    }
    let refused = stats.refreshes_refused - before.refreshes_refused;
    assert_eq!(
        (invalidated.len() as u64, refused),
        (lost, lost),
        "one refusal of the spent token, and one Invalidated, per lost rotation"
    );
    assert!(cut >= lost, "{cut} vs {lost}");
    // Nothing lost otherwise: every other company was renewed after the last kill.
    for (c, rows) in &history {
        if statuses[c].0 == "active" {
            let newest = rows.last().unwrap().0;
            assert!(newest > killed_at, "{c} not renewed after the last kill");
        }
    }
    assert!(stats.refreshes_succeeded > before.refreshes_succeeded);
    for k in 0..3 {
        replicas.start(k);
    }
}

/// Phase 3: Clear a company on instance 0. From the moment the answer arrives, no request
/// with its tokens leaves instance 1 or 2: their proxy and access-token API refuse with 409
/// `cleared` and the provider sees neither data calls nor refreshes for its user.
async fn clear_everywhere(
    replicas: &Replicas,
    mock: &MockUps,
    db: &tokio_postgres::Client,
    users: &[(String, String)],
) {
    let statuses = statuses(db).await;
    let i = (0..COMPANIES)
        .find(|i| statuses[&company(*i)].0 == "active")
        .expect("an active company");
    let (c, u) = (company(i), users[i].0.clone());
    let http = reqwest::Client::new();
    let api_key = replicas.setup.api_key.clone();
    let proxy = |k: usize| {
        http.get(format!(
            "{}/api/v1/companies/{c}/proxy/mock/echo/probe",
            replicas.url(k)
        ))
        .bearer_auth(&api_key)
        .send()
    };
    let access_token = |k: usize| {
        http.post(format!(
            "{}/api/v1/companies/{c}/access-token",
            replicas.url(k)
        ))
        .bearer_auth(&api_key)
        .send()
    };
    // Before: instance 1's proxy reaches the provider with the company's token.
    let calls = mock.stats().users[&u].data_calls;
    assert_eq!(proxy(1).await.unwrap().status(), StatusCode::OK);
    assert!(mock.stats().users[&u].data_calls > calls);

    // Clear through instance 0's widget API, as the admin's panel does.
    let host = replicas.url(0);
    let session: Value = http
        .post(format!("{host}/api/v1/sessions"))
        .bearer_auth(&api_key)
        .json(&json!({"user": {"id": "admin"}, "companies": [{"id": c, "role": "admin"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cleared = http
        .post(format!("{host}/api/optin/clear"))
        .bearer_auth(session["session_token"].as_str().unwrap())
        .header("origin", &host)
        .header("x-token-manager", "1")
        .json(&json!({ "company": c }))
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::OK);
    let at_clear = mock.stats().users[&u].clone();
    // Its history row, in the shared database, keeps the revocation receipt (UPS: none).
    let receipt: Option<String> = db
        .query_one(
            "SELECT revocation FROM history WHERE company = $1 AND status = 'cleared'
             ORDER BY id DESC LIMIT 1",
            &[&c],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        receipt
            .as_deref()
            .unwrap_or("")
            .contains("\"not_supported\""),
        "{receipt:?}"
    );
    let others_at_clear = mock.stats().refreshes_succeeded;

    // For two token lifetimes: the others refuse, their refreshers leave it alone, and their
    // demo workers' proxy calls are refused too.
    let until = Instant::now() + ACCESS_TTL * 2;
    while Instant::now() < until {
        for k in [1, 2] {
            let r = proxy(k).await.unwrap();
            assert_eq!(r.status(), StatusCode::CONFLICT);
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "cleared", "{body}");
            let r = access_token(k).await.unwrap();
            assert_eq!(r.status(), StatusCode::CONFLICT);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = mock.stats().users[&u].clone();
    assert_eq!(
        (after.data_calls, after.refreshes),
        (at_clear.data_calls, at_clear.refreshes),
        "a request with the cleared company's tokens reached the provider"
    );
    // The other companies kept being renewed meanwhile.
    assert!(mock.stats().refreshes_succeeded > others_at_clear);
}
