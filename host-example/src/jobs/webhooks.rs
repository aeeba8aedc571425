//! The webhook sender: delivers the outbox, oldest first per (endpoint, company), signed per
//! the Standard Webhooks specification; 2xx = delivered, anything else retried on core's
//! schedule ([`RetryPolicy`](token_manager_core::webhook::RetryPolicy)) until it is given up.
//!
//! Deliveries are claimed in the store (a lease per delivery), so several host processes on
//! one database share the work and never send one delivery at once; a process killed while
//! sending leaves its claims to expire, and the delivery goes out again (at-least-once:
//! receivers deduplicate by `webhook-id`).

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use rand::RngCore;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;
use crate::store::{AttemptResult, Delivery};

/// Deliveries claimed per round.
const BATCH: usize = 64;
/// Deliveries in flight at once.
const PARALLEL: usize = 16;
/// Longest sleep between rounds when nothing is due (new events wake the sender at once).
const IDLE: Duration = Duration::from_millis(500);
/// Longest answer body read from a receiver (it is only logged).
const MAX_ANSWER: usize = 4 * 1024;

/// Deliver what is due now; returns how many were delivered.
pub async fn deliver_due(state: &AppState, http: &reqwest::Client) -> usize {
    let now = state.now();
    let timeout = state.webhooks().timeout;
    // The claim outlives one attempt (bounded by `timeout`) by a little: a process killed
    // mid-delivery holds its company's queue that long, then another takes over.
    let until = now.add(timeout + Duration::from_secs(2));
    let due = match state
        .store()
        .claim_deliveries(state.instance(), now, until, BATCH)
        .await
    {
        Ok(due) => due,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot read the outbox");
            return 0;
        }
    };
    // Attempts are recorded in batches of whatever has finished (one transaction each), so a
    // slow endpoint does not hold the others' records back.
    let mut finished = stream::iter(due)
        .map(|d| async move { deliver(state, http, d).await })
        .buffer_unordered(PARALLEL)
        .ready_chunks(BATCH);
    let mut delivered = 0;
    while let Some(batch) = finished.next().await {
        delivered += batch
            .iter()
            .filter(|(_, r)| matches!(r, AttemptResult::Delivered { .. }))
            .count();
        if let Err(e) = state
            .store()
            .finish_deliveries(state.instance(), batch, state.now())
            .await
        {
            // The claims expire and the deliveries go out again: at-least-once.
            tracing::warn!(error = %e, "could not record webhook attempts");
        }
    }
    delivered
}

/// One attempt: POST the signed event; what happened, for the store to record.
async fn deliver(state: &AppState, http: &reqwest::Client, d: Delivery) -> (i64, AttemptResult) {
    let Some(secret) = state.webhooks().secret() else {
        return (
            d.id,
            AttemptResult::Failed {
                status: None,
                error: "no webhook secret is configured".into(),
                next: Some(state.now().add(Duration::from_secs(60))),
            },
        );
    };
    // The timestamp is the attempt's (receivers refuse stale ones), the id the event's.
    let sent_at = state.now();
    let ts = sent_at.0.div_euclid(1000);
    let signature = secret.sign(&d.event_id, ts, d.payload.as_bytes());
    let request = http
        .post(&d.endpoint)
        .timeout(state.webhooks().timeout)
        .header("content-type", "application/json")
        .header("webhook-id", &d.event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone());
    let result = match request.send().await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            // Read (a little of) the answer so the connection can be reused.
            let mut read = 0;
            while let Ok(Some(chunk)) = response.chunk().await {
                read += chunk.len();
                if read > MAX_ANSWER {
                    break;
                }
            }
            if (200..300).contains(&status) {
                AttemptResult::Delivered { status }
            } else {
                failed(
                    state,
                    &d,
                    Some(status),
                    format!("the endpoint answered {status}"),
                )
            }
        }
        Err(e) => {
            let why = if e.is_timeout() {
                "the endpoint did not answer in time".to_owned()
            } else if e.is_connect() {
                "could not connect to the endpoint".to_owned()
            } else {
                format!("the request failed: {e}")
            };
            failed(state, &d, None, why)
        }
    };
    match &result {
        AttemptResult::Delivered { .. } => {
            tracing::debug!(
                id = d.id,
                event = d.event_type,
                company = d.company,
                "webhook delivered"
            );
        }
        AttemptResult::Failed {
            error, next: None, ..
        } => {
            tracing::error!(
                id = d.id,
                event = d.event_type,
                company = d.company,
                error,
                "webhook given up"
            );
        }
        AttemptResult::Failed { error, .. } => {
            tracing::warn!(
                id = d.id,
                event = d.event_type,
                company = d.company,
                error,
                attempts = d.attempts + 1,
                "webhook delivery failed; will retry"
            );
        }
    }
    (d.id, result)
}

fn failed(state: &AppState, d: &Delivery, status: Option<u16>, error: String) -> AttemptResult {
    let next = state.webhooks().retry.next_attempt(
        d.streak + 1,
        d.first_attempt_at.unwrap_or(d.created_at),
        state.now(),
        rand::thread_rng().next_u32(),
    );
    AttemptResult::Failed {
        status,
        error,
        next,
    }
}

/// The sender loop: deliver what is due; sleep until the next delivery is due, new events
/// are written (in this process), or [`IDLE`] passes (events written by other processes).
pub async fn run_sender(state: AppState, shutdown: CancellationToken) {
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .user_agent(concat!("token-manager-host/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks: cannot build the HTTP client; not sending");
            return;
        }
    };
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        let delivered = deliver_due(&state, &http).await;
        if delivered > 0 {
            continue;
        }
        let wait = match state.store().next_delivery_due().await {
            Ok(Some(at)) => at.since(state.now()).min(IDLE),
            _ => IDLE,
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = state.webhooks().woken() => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(5))) => {}
        }
    }
    tracing::debug!("webhook sender stopped");
}
