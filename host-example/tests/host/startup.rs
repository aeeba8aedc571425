//! The real application (`startup::Application`, what `main` runs) on ephemeral ports: it
//! binds, serves the widget API and the mock UPS, writes its ready file, and stops cleanly
//! when cancelled.

use std::path::Path;
use std::time::Duration;

use host_example::settings::{ProviderSettings, Settings};
use host_example::startup::Application;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::harness::binary::read_ready_file;
use crate::harness::session_cookie;

/// The defaults (mock UPS), on ephemeral ports, with the database and key file in `dir`.
fn settings_in(dir: &Path) -> Settings {
    Settings::mock(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        dir.join("tm.db"),
        dir.join("tm.key"),
    )
}

/// Send `request`; its JSON answer.
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn the_application_serves_on_port_zero_and_stops_when_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.ready_file = Some(dir.path().join("ready.json"));
    settings.seed_history = vec![("acme".into(), 3)];
    let app = Application::build(settings).await.unwrap();
    let port = app.port();
    assert_ne!(port, 0);
    let host = app.host_url().to_owned();
    assert_eq!(host, format!("http://127.0.0.1:{port}"));
    let mock = app.mock_url().unwrap();
    assert_ne!(mock, host);
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(app.run_until_stopped(shutdown.clone()));

    let ready = loop {
        if let Some(ready) = read_ready_file(&dir.path().join("ready.json")) {
            break ready;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(ready["host"], host.as_str());
    assert_eq!(ready["mock"], mock.as_str());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let openapi = json_of(http.get(format!("{host}/api/optin/openapi.json"))).await;
    assert_eq!(openapi["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
    // The portal's backend mints a session with the API key the host created (0600, one
    // key); the seeded history is there.
    let api_key = std::fs::read_to_string(dir.path().join("tm.api-key")).unwrap();
    let session = json_of(
        http.post(format!("{host}/api/v1/sessions"))
            .bearer_auth(api_key.trim())
            .json(&serde_json::json!({
                "user": {"id": "ada"},
                "companies": [{"id": "acme", "role": "viewer"}],
            })),
    )
    .await;
    let token = session["session_token"].as_str().unwrap();
    let tokens = json_of(
        http.get(format!("{host}/api/optin/tokens?company=acme"))
            .bearer_auth(token),
    )
    .await;
    assert_eq!(
        (&tokens["total"], &tokens["can_manage"]),
        (&json!(3), &json!(false))
    );
    // The portal's pages still sign the demo user in.
    let home = http.get(format!("{host}/")).send().await.unwrap();
    assert!(session_cookie(home.headers()).is_some());
    // The mock answers on its own origin.
    let signin = http
        .get(format!("{mock}/lasso/signin"))
        .send()
        .await
        .unwrap();
    assert!(signin.status().is_client_error() || signin.status().is_success());

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("stops when cancelled")
        .unwrap()
        .unwrap();
    assert!(http.get(format!("{host}/")).send().await.is_err());
}

#[tokio::test]
async fn a_provider_missing_what_it_needs_fails_to_build_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.provider = ProviderSettings::Ups {
        host: "http://127.0.0.1:9".into(),
        client_id: "x".into(),
        secret_file: dir.path().join("missing-secret"),
    };
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(
        err.contains("client secret file") && err.contains("missing-secret"),
        "{err}"
    );
}

/// `--redirect-uri`: the portal's own page (on another site) is where the provider returns.
/// Refused unless its origin may call the host; then it is in every authorize URL, and the
/// (mock) provider has it registered.
#[tokio::test]
async fn a_redirect_page_on_the_portals_site_must_be_an_allowed_origin_and_is_sent_to_the_provider()
{
    let dir = tempfile::tempdir().unwrap();
    let page = "http://localhost:8443/settings/ups";
    let mut settings = settings_in(dir.path());
    settings.redirect_uri = Some(page.parse().unwrap());
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(
        err.contains("--redirect-uri") && err.contains("--allowed-origin"),
        "{err}"
    );
    let mut settings = settings_in(dir.path());
    settings.redirect_uri = Some(format!("{page}#x").parse().unwrap());
    settings.allowed_origins = vec!["http://localhost:8443".into()];
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(err.contains("fragment"), "{err}");

    // Plain http only on loopback (RFC 9700 §2.6 / RFC 8252 §7.3).
    let mut settings = settings_in(dir.path());
    settings.redirect_uri = Some("http://portal.test/settings/ups".parse().unwrap());
    settings.allowed_origins = vec!["http://portal.test".into()];
    let err = Application::build(settings).await.unwrap_err().to_string();
    assert!(err.contains("redirect_uri"), "{err}");

    let mut settings = settings_in(dir.path());
    settings.redirect_uri = Some(page.parse().unwrap());
    settings.allowed_origins = vec!["http://localhost:8443".into()];
    let app = Application::build(settings).await.unwrap();
    let host = app.host_url().to_owned();
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let api_key = std::fs::read_to_string(dir.path().join("tm.api-key")).unwrap();
    let session = json_of(
        http.post(format!("{host}/api/v1/sessions"))
            .bearer_auth(api_key.trim())
            .json(&json!({"user": {"id": "ada"}, "companies": [{"id": "acme", "role": "admin"}]})),
    )
    .await;
    let started = json_of(
        http.post(format!("{host}/api/optin/start"))
            .bearer_auth(session["session_token"].as_str().unwrap())
            .header("X-Token-Manager", "1")
            .header("Origin", "http://localhost:8443")
            .json(&json!({"company": "acme"})),
    )
    .await;
    let authorize = url::Url::parse(started["authorize_url"].as_str().unwrap()).unwrap();
    let redirect = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned());
    assert_eq!(redirect.as_deref(), Some(page));
    // The mock's authorize endpoint accepts it (it refuses an unregistered redirect URI).
    let shown = http.get(authorize.as_str()).send().await.unwrap();
    assert!(
        shown.status().is_success() || shown.status().is_redirection(),
        "{}",
        shown.status()
    );
    let mut other = authorize.clone();
    let pairs: Vec<(String, String)> = authorize
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                "http://evil.test/cb".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    other.query_pairs_mut().clear().extend_pairs(pairs);
    let refused = http.get(other.as_str()).send().await.unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    shutdown.cancel();
    serving.await.unwrap().unwrap();
}

/// Slow-loris: half-sent requests are cut off after the header timeout (and an idle
/// keep-alive connection after it too), while a real client is served meanwhile; connections
/// beyond the cap wait in the backlog instead of being served at once.
#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed_after_the_header_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_in(dir.path());
    settings.edge.header_timeout = Duration::from_millis(400);
    let app = Application::build(settings).await.unwrap();
    // The database is created private (as are the key and secret files).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tm.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let host = app.host_url().to_owned();
    let addr = format!("127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    let serving = tokio::spawn(app.run_until_stopped(shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut loris = Vec::new();
    for _ in 0..200 {
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET /api/optin/openapi.json HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        loris.push(s);
    }
    // A real client is still served while 200 connections dawdle.
    let http = reqwest::Client::new();
    let r = http
        .get(format!("{host}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // Each half-sent request is closed (EOF, or a 408) within a little more than the timeout.
    let started = std::time::Instant::now();
    for mut s in loris {
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf))
            .await
            .expect("the server kept a half-sent request open")
            .unwrap_or(0);
        let text = String::from_utf8_lossy(&buf[..n]);
        assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    // An idle keep-alive connection is closed too.
    let mut idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /api/optin/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0u8; 1 << 16];
    let n = idle.read(&mut answer).await.unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 200"));
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(3), idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle keep-alive connection stayed open");
    shutdown.cancel();
    serving.await.unwrap().unwrap();
}

/// `--db postgres://…`: two applications on one throw-away PostgreSQL database (the cluster
/// helper of `store/postgres`), as two host processes behind a load balancer: both migrate it
/// at start, an opt-in through the first (its pending authorization, the exchange's commit)
/// is what the second serves at `/api/optin/status`, and no SQLite file is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_applications_share_one_postgres_database() {
    use crate::harness::cluster;
    use host_example::settings::Database;
    use token_manager_core::api::StartResponse;
    use token_manager_core::flow::{CallbackParams, DEFAULT_MAX_AGE};
    use token_manager_core::Timestamp;

    // Declared first, so it is stopped (and its files removed) last, even when an assertion
    // fails.
    let cluster = cluster::Cluster::start();
    let url = cluster.database("startup");
    let dir = tempfile::tempdir().unwrap();
    let mut serving = Vec::new();
    let shutdown = CancellationToken::new();
    let mut hosts = Vec::new();
    for _ in 0..2 {
        let mut settings = settings_in(dir.path());
        settings.db = Database::Postgres(url.clone());
        settings.retrieval_interval = Duration::ZERO;
        let app = Application::build(settings).await.unwrap();
        hosts.push(app.host_url().to_owned());
        serving.push(tokio::spawn(app.run_until_stopped(shutdown.clone())));
    }
    assert!(!dir.path().join("tm.db").exists());
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |host: &str, path: &str, bearer: &str, body: Value| {
        http.post(format!("{host}{path}"))
            .bearer_auth(bearer)
            .header("origin", host)
            .header("x-token-manager", "1")
            .json(&body)
    };
    // Both processes share the key files in `dir`, so the first's session is the second's.
    let api_key = std::fs::read_to_string(dir.path().join("tm.api-key")).unwrap();
    let session = json_of(post(
        &hosts[0],
        "/api/v1/sessions",
        api_key.trim(),
        json!({"user": {"id": "admin"}, "companies": [{"id": "demo-co", "role": "admin"}]}),
    ))
    .await;
    let token = session["session_token"].as_str().unwrap();
    let status = |host: &str| {
        json_of(
            http.get(format!("{host}/api/optin/status?company=demo-co"))
                .bearer_auth(token),
        )
    };
    assert_eq!(status(&hosts[1]).await["status"], "not_authorized");
    let started: StartResponse = post(
        &hosts[0],
        "/api/optin/start",
        token,
        json!({"company": "demo-co"}),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let back = mock_ups::testing::sign_in(&http, &started.authorize_url, "demo", "demo-password")
        .await
        .unwrap();
    let params = CallbackParams::parse(back.as_str()).unwrap().unwrap();
    let now = Timestamp(host_example::clock::system_now().0);
    let body = started
        .pending
        .handle_callback(params, now, DEFAULT_MAX_AGE)
        .unwrap();
    let exchanged = post(
        &hosts[0],
        "/api/optin/exchange",
        token,
        json!({"company": body.company, "code": body.code, "state": body.state}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(exchanged.status(), 201);
    for host in &hosts {
        assert_eq!(status(host).await["status"], "active", "{host}");
    }
    shutdown.cancel();
    for s in serving {
        tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .expect("stops when cancelled")
            .unwrap()
            .unwrap();
    }
}
