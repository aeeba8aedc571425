//! The real `host-example` binary in tests: started with a ready file on ephemeral ports,
//! SIGKILLed when dropped, and an opt-in driven against it as a browser would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use mock_ups::MockUps;
use serde_json::{json, Value};
use token_manager_core::api::StartResponse;
use token_manager_core::flow::{CallbackParams, DEFAULT_MAX_AGE};
use token_manager_core::Timestamp;

use super::{chrono_now, exchange_json, COMPANY};

/// A host-example process; killed (SIGKILL) when dropped.
pub struct HostProcess {
    pub child: Child,
    pub url: String,
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct BinarySetup {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub mock_base: String,
    pub key_b64: String,
    /// The portal backend's API key (`TOKEN_MANAGER_API_KEY`).
    pub api_key: String,
}

impl BinarySetup {
    /// The binary with this setup's flags and environment (`ready` as its ready file), its
    /// output appended to `host.log` in the setup's folder; `env` is applied last.
    pub fn command(&self, ready: &std::path::Path, env: &[(&str, &str)]) -> Command {
        self.command_logging_to(ready, env, &self.dir.join("host.log"))
    }

    /// [`command`](Self::command), its output appended to `log`.
    pub fn command_logging_to(
        &self,
        ready: &std::path::Path,
        env: &[(&str, &str)],
        log: &Path,
    ) -> Command {
        let secret = self.dir.join("client-secret");
        if !secret.exists() {
            std::fs::write(&secret, "demo-secret").unwrap();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_host-example"));
        cmd.args(["--listen", "127.0.0.1:0", "--mock-listen", "127.0.0.1:0"])
            .arg("--ready-file")
            .arg(ready)
            .arg("--db")
            .arg(&self.db)
            .arg("--key-file")
            .arg(self.dir.join("unused.key"))
            .args(["--static-dir", "/nonexistent-widget-dir"])
            .args(["--provider", "ups", "--ups-host", &self.mock_base])
            .args(["--client-id", "demo-client", "--client-secret-file"])
            .arg(&secret)
            .arg("--webhook-secret-file")
            .arg(self.dir.join("webhook-secret"))
            .args(["--refresh-tick-ms", "10", "--retrieval-interval-ms", "100"])
            .args([
                "--http-timeout-ms",
                "500",
                "--http-connect-timeout-ms",
                "300",
            ])
            .args(["--exchange-per-minute", "100000"])
            .env_remove("TOKEN_MANAGER_OLD_KEYS")
            .env("TOKEN_MANAGER_KEY", &self.key_b64)
            .env("TOKEN_MANAGER_API_KEY", &self.api_key)
            .env("RUST_LOG", "info")
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }

    /// Start the binary (process number `n` of this setup) and wait for its ready file.
    pub fn start(&self, n: usize, env: &[(&str, &str)]) -> HostProcess {
        self.start_logging_to(n, env, &self.dir.join("host.log"))
    }

    /// [`start`](Self::start), the process's output appended to `log`.
    pub fn start_logging_to(&self, n: usize, env: &[(&str, &str)], log: &Path) -> HostProcess {
        let ready = self.dir.join(format!("ready-{n}.json"));
        let _ = std::fs::remove_file(&ready);
        let mut cmd = self.command_logging_to(&ready, env, log);
        let mut child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(v) = read_ready_file(&ready) {
                let url = v["host"].as_str().unwrap().to_owned();
                return HostProcess { child, url };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "host-example exited early ({status}); log:\n{}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "host-example did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The ready file a host writes after binding (`{"host": …, "mock": …}`), once it is there.
pub fn read_ready_file(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(serde_json::from_str(&text).unwrap())
}

/// The whole opt-in against a running binary, as a portal backend and a browser would do it:
/// a session from `POST /api/v1/sessions` (API key `api_key`), `/start`, the mock's screens,
/// the tab's check of the return, `/exchange`. Errors are expected when the host is killed
/// meanwhile.
pub async fn opt_in(host: &str, mock: &MockUps, api_key: &str) -> Result<u16, String> {
    opt_in_as(host, mock, api_key, COMPANY, ("demo", "demo-password")).await
}

/// [`opt_in`] for `company`, signing in at the mock as `(user, password)`.
pub async fn opt_in_as(
    host: &str,
    mock: &MockUps,
    api_key: &str,
    company: &str,
    (user, password): (&str, &str),
) -> Result<u16, String> {
    let e = |e: reqwest::Error| e.to_string();
    let redirect = format!("{host}/admin/token-manager");
    mock.add_redirect_uri("demo-client", &redirect);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // One POST with a bearer credential and a JSON body; the answer as JSON.
    let post = |path: String, bearer: String, body: Value| {
        let request = client
            .post(format!("{host}{path}"))
            .bearer_auth(bearer)
            .header("origin", host)
            .header("x-token-manager", "1")
            .json(&body);
        async move { request.send().await.map_err(e) }
    };
    let session: Value = post(
        "/api/v1/sessions".into(),
        api_key.to_owned(),
        json!({
            "user": {"id": "admin"},
            "companies": [{"id": company, "role": "admin"}],
        }),
    )
    .await?
    .json()
    .await
    .map_err(e)?;
    let token = session["session_token"]
        .as_str()
        .ok_or_else(|| format!("no session token: {session}"))?
        .to_owned();
    let started: StartResponse = post(
        "/api/optin/start".into(),
        token.clone(),
        json!({ "company": company }),
    )
    .await?
    .json()
    .await
    .map_err(e)?;
    let back = mock_ups::testing::sign_in(&client, &started.authorize_url, user, password)
        .await
        .map_err(|e| e.to_string())?;
    let params = CallbackParams::parse(back.as_str()).unwrap().unwrap();
    let body = started
        .pending
        .handle_callback(params, Timestamp(chrono_now()), DEFAULT_MAX_AGE)
        .map_err(|e| format!("{e:?}"))?;
    let answer = post("/api/optin/exchange".into(), token, exchange_json(&body)).await?;
    Ok(answer.status().as_u16())
}
