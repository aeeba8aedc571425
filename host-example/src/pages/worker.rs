//! The demo portal's backend: a worker that retrieves IDM data for every authorized company
//! the way any portal backend would — through the host's server API with an API key,
//! `GET /api/v1/companies?status=active` and the provider proxy — and shows its last result on
//! `/exports`. What it asks UPS is what a data-management portal asks with a user's token:
//! Quantum View events (`POST /api/quantumview/v3/events`, the request of UPS's
//! `QuantumView.yaml` example), with a `transId` unique to each request. It holds no token. Clear stops it because the proxy refuses (`409 cleared`),
//! not because it is told.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::reports::{DataSample, RetrievalOutcome};
use crate::state::AppState;

/// The worker's view of the host.
#[derive(Debug)]
pub struct DemoWorker {
    http: reqwest::Client,
    host: String,
    api_key: zeroize::Zeroizing<String>,
    /// Companies it retrieves for: the active ones it has seen, until the proxy refuses.
    companies: Mutex<BTreeSet<String>>,
}

#[derive(Debug, Deserialize)]
struct Listed {
    companies: Vec<ListedCompany>,
    total: u64,
}

#[derive(Debug, Deserialize)]
struct ListedCompany {
    company: String,
}

#[derive(Debug, Deserialize)]
struct Refusal {
    error: RefusalBody,
}

#[derive(Debug, Deserialize)]
struct RefusalBody {
    code: String,
    message: String,
}

impl DemoWorker {
    /// A worker calling the host at `host` with `api_key`.
    pub fn new(host: &str, api_key: String) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            host: host.trim_end_matches('/').to_owned(),
            api_key: zeroize::Zeroizing::new(api_key),
            companies: Mutex::new(BTreeSet::new()),
        })
    }

    fn known(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.companies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn active(&self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        for page in 1.. {
            let url = format!(
                "{}/api/v1/companies?status=active&per_page=100&page={page}",
                self.host
            );
            let listed: Listed = self
                .http
                .get(url)
                .bearer_auth(self.api_key.as_str())
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|e| format!("listing companies failed: {e}"))?
                .json()
                .await
                .map_err(|e| format!("listing companies: {e}"))?;
            let n = listed.companies.len();
            out.extend(listed.companies.into_iter().map(|c| c.company));
            if n == 0 || out.len() as u64 >= listed.total {
                break;
            }
        }
        Ok(out)
    }

    /// One round: a Tracking API call through the proxy for each company. Returns how many
    /// calls the provider answered.
    pub async fn round(&self, state: &AppState, n: u64) -> usize {
        match self.active().await {
            Ok(active) => self.known().extend(active),
            Err(e) => tracing::warn!(error = e, "demo worker"),
        }
        let companies: Vec<String> = self.known().iter().cloned().collect();
        let mut answered = 0;
        for company in companies {
            let url = format!(
                "{}/api/v1/companies/{company}/proxy/quantumview/v3/events",
                self.host
            );
            let sent = self
                .http
                .post(url)
                .bearer_auth(self.api_key.as_str())
                .header("Accept", "application/json")
                .header("transId", trans_id(n))
                .header("transactionSrc", "token-manager-demo")
                .json(&quantum_view_request(n))
                .send()
                .await;
            let outcome = match sent {
                Ok(r) if r.headers().contains_key("x-token-manager-proxy") => {
                    answered += 1;
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    RetrievalOutcome::Data(DataSample {
                        status,
                        summary: text.chars().take(300).collect(),
                    })
                }
                Ok(r) if r.status() == reqwest::StatusCode::CONFLICT => {
                    let why = r
                        .json::<Refusal>()
                        .await
                        .map(|r| format!("{} ({})", r.error.message, r.error.code))
                        .unwrap_or_else(|_| "the host refused".into());
                    self.known().remove(&company);
                    RetrievalOutcome::Stopped(format!("stopped: {why}"))
                }
                Ok(r) => RetrievalOutcome::Failed(format!("the host answered {}", r.status())),
                Err(e) => RetrievalOutcome::Failed(format!("the call failed: {e}")),
            };
            let counted = matches!(outcome, RetrievalOutcome::Data(_));
            state
                .reports()
                .record(&company, state.now(), outcome, counted);
        }
        answered
    }

    /// Every `interval` (or at once after a new opt-in), one round.
    pub async fn run(self, state: AppState, interval: Duration, shutdown: CancellationToken) {
        let interval = interval.max(Duration::from_millis(10));
        let mut n: u64 = 0;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(interval) => {}
                () = state.reports().kicked() => {}
            }
            n += 1;
            self.round(&state, n).await;
        }
    }
}

/// A `transId` unique to each request ("An identifier unique to the request", UPS).
fn trans_id(n: u64) -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("tm-{n}-{hex}")
}

/// The request of the `QuantumView.yaml` example: unread subscription events of the account
/// (`CustomerContext` names the round, so an answer can be matched to its request).
fn quantum_view_request(n: u64) -> serde_json::Value {
    serde_json::json!({
        "QuantumViewRequest": {
            "Request": {
                "TransactionReference": {"CustomerContext": format!("token-manager-demo-{n}"), "XpciVersion": "1.0007"},
                "RequestAction": "QVEvents"
            },
            "SubscriptionRequest": {"Name": "OutboundXML"}
        }
    })
}
