//! The `mock-ups` binary: started on port 0 it writes its ready file and answers; its flags
//! set the client, the redirect URIs, the lifetimes, the faults and the public URL; SIGTERM
//! stops it cleanly; bad flags stop it with a message.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use super::*;

const BIN: &str = env!("CARGO_BIN_EXE_mock-ups");

/// A running `mock-ups` process (killed when dropped).
struct Running {
    child: Child,
    /// `mock` of the ready file.
    mock: String,
    dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start the binary with `--ready-file` and `args`; wait for the ready file.
fn start(args: &[&str]) -> Running {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, args)
}

fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Running {
    let ready = dir.path().join("ready.json");
    let child = Command::new(BIN)
        .args(args)
        .arg("--ready-file")
        .arg(&ready)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut running = Running {
        child,
        mock: String::new(),
        dir,
    };
    running.mock = wait_for_ready(&mut running.child, &ready);
    running
}

/// The `mock` origin of the ready file, once it appears (the binary writes it atomically).
fn wait_for_ready(child: &mut Child, ready: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(text) = std::fs::read_to_string(ready) {
            let body: Value = serde_json::from_str(&text).unwrap();
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["mock"], "{text}");
            return body["mock"].as_str().unwrap().to_owned();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("mock-ups exited before it was ready: {status}");
        }
        assert!(Instant::now() < deadline, "no ready file after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn validate_client(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    redirect: &str,
) -> reqwest::Response {
    http.get(validate_client_url(base, client_id, redirect))
        .send()
        .await
        .unwrap()
}

fn authorize_url(base: &str, path: &str, client_id: &str, redirect: &str) -> String {
    let mut u = Url::parse(&format!("{base}{path}")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "read")
        .append_pair("type", "ups_com_api")
        .append_pair("state", "bin-state");
    u.into()
}

async fn exchange(
    http: &reqwest::Client,
    base: &str,
    client: (&str, &str),
    code: &str,
    redirect: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
    ];
    form_request(http, &format!("{base}{TOKEN_PATH}"), Some(client), &form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn binary_serves_on_an_ephemeral_port_and_stops_on_sigterm() {
    let mut running = start(&["--listen", "127.0.0.1:0"]);
    let base = running.mock.clone();
    let port: u16 = base
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("{base}"))
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    let http = http();

    // The defaults: demo-client, its default redirect URI, the mock's origin.
    let resp = validate_client(&http, &base, "demo-client", REDIRECT).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["LassoRedirectURL"], format!("{base}/lasso/signin"));

    // A whole sign-in from the authorize endpoint, then the exchange with demo-secret.
    let authorize = authorize_url(
        &base,
        "/security/v1/oauth/authorize",
        "demo-client",
        REDIRECT,
    );
    let back = sign_in(&http, &authorize, "demo", "demo-password")
        .await
        .unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query(&back, "state").as_deref(), Some("bin-state"));
    let code = query(&back, "code").unwrap();
    let resp = exchange(&http, &base, DEMO_CLIENT, &code, REDIRECT).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let t: Value = resp.json().await.unwrap();
    assert_eq!(s(&t, "expires_in"), "3599");
    assert_eq!(s(&t, "refresh_token_expires_in"), "5183999");
    let stats: MockStats = http
        .get(format!("{base}/mock/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.tokens_issued, 1);

    // SIGTERM: a graceful stop, exit status 0.
    #[cfg(unix)]
    {
        let pid = running.child.id().to_string();
        let kill = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(kill.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = running.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running 10 s after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert!(status.success(), "{status}");
        assert!(http.get(format!("{base}/mock/stats")).send().await.is_err());
    }
}

#[tokio::test]
async fn binary_flags_set_client_redirects_lifetimes_faults_and_public_url() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file: PathBuf = dir.path().join("secret");
    std::fs::write(&secret_file, "s3cret-from-file\n").unwrap();
    // --public-url replaces the origin in the ready file, so the test needs to know the port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let public = format!("http://localhost:{port}");
    let (cb1, cb2) = ("http://127.0.0.1:9001/cb", "http://127.0.0.1:9002/cb");
    let running = start_in(
        dir,
        &[
            "--listen",
            &listen,
            "--public-url",
            &format!("{public}/"),
            "--client-id",
            "app-1",
            "--client-secret-file",
            secret_file.to_str().unwrap(),
            "--redirect-uri",
            cb1,
            "--redirect-uri",
            cb2,
            "--access-ttl-secs",
            "60",
            "--refresh-ttl-secs",
            "600",
            "--faults",
            r#"{"refresh":{"kind":"status_503","times":1}}"#,
        ],
    );
    assert_eq!(
        running.mock, public,
        "the public URL, without its trailing slash"
    );
    assert!(running.dir.path().join("ready.json").is_file());
    let base = format!("http://{listen}");
    let http = http();

    // Both redirect URIs are registered for app-1; the default one and demo-client are not.
    for cb in [cb1, cb2] {
        let resp = validate_client(&http, &base, "app-1", cb).await;
        assert_eq!(resp.status(), StatusCode::OK, "{cb}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["LassoRedirectURL"], format!("{public}/lasso/signin"));
    }
    let resp = validate_client(&http, &base, "app-1", REDIRECT).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = validate_client(&http, &base, "demo-client", REDIRECT).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    // The secret comes from the file (trimmed); the lifetimes from the flags.
    let signin = authorize_url(&base, "/lasso/signin", "app-1", cb2);
    let back = sign_in(&http, &signin, "demo", "demo-password")
        .await
        .unwrap();
    assert!(back.as_str().starts_with(cb2));
    let code = query(&back, "code").unwrap();
    let resp = exchange(&http, &base, ("app-1", "demo-secret"), &code, cb2).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = exchange(&http, &base, ("app-1", "s3cret-from-file"), &code, cb2).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let t: Value = resp.json().await.unwrap();
    assert_eq!(s(&t, "expires_in"), "60");
    assert_eq!(s(&t, "refresh_token_expires_in"), "600");

    // The fault from --faults: the first refresh answers 503, the next one works.
    let url = format!("{base}{REFRESH_PATH}");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", &s(&t, "refresh_token")),
    ];
    let refresh = || form_request(&http, &url, Some(("app-1", "s3cret-from-file")), &form).send();
    assert_eq!(
        refresh().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(refresh().await.unwrap().status(), StatusCode::OK);
}

#[test]
fn binary_refuses_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready.json");
    let run = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--ready-file")
            .arg(&ready)
            .args(args)
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--faults", "{"]);
    assert!(err.contains("invalid mock UPS faults JSON"), "{err}");
    let missing = dir.path().join("missing");
    let err = run(&["--client-secret-file", missing.to_str().unwrap()]);
    assert!(err.contains("client secret file"), "{err}");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, " \n").unwrap();
    let err = run(&["--client-secret-file", empty.to_str().unwrap()]);
    assert!(err.contains("is empty"), "{err}");
    // No ready file is written when the mock does not start.
    assert!(!ready.exists());
}
