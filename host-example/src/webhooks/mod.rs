//! Webhooks to the portal's backend: the events of every change of an authorization, written
//! to the outbox in the change's own transaction ([`Transition::events`]) and delivered by the
//! sender ([`crate::jobs`]) signed per the Standard Webhooks specification.
//!
//! [`Transition::events`]: crate::store::Transition::events

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use token_manager_core::lifecycle::{Action, Authorization};
use token_manager_core::webhook::{EventType, RetryPolicy, WebhookEvent};
use token_manager_core::Timestamp;

use crate::store::OutboxEvent;

mod secret;

pub use secret::{WebhookSecret, WebhookSecretError, PREFIX as SECRET_PREFIX};

/// Where events go and how they are signed and retried.
#[derive(Debug)]
pub struct Webhooks {
    endpoints: Vec<String>,
    secret: Option<WebhookSecret>,
    /// Retry schedule.
    pub retry: RetryPolicy,
    /// Deadline of one delivery attempt.
    pub timeout: Duration,
    wake: tokio::sync::Notify,
}

impl Default for Webhooks {
    fn default() -> Self {
        Self::disabled()
    }
}

impl Webhooks {
    /// No endpoint: no event is written.
    pub fn disabled() -> Self {
        Self {
            endpoints: Vec::new(),
            secret: None,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Deliver to `endpoints`, signed with `secret`.
    pub fn new(endpoints: Vec<String>, secret: WebhookSecret, retry: RetryPolicy) -> Self {
        Self {
            endpoints,
            secret: Some(secret),
            retry,
            ..Self::disabled()
        }
    }

    /// The endpoints.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    /// The secret, when webhooks are on.
    pub fn secret(&self) -> Option<&WebhookSecret> {
        self.secret.as_ref()
    }

    /// An outbox entry for `event`, with a fresh `msg_` id; `None` when no endpoint is
    /// configured.
    pub fn outbox(&self, event: WebhookEvent) -> Option<OutboxEvent> {
        if self.endpoints.is_empty() {
            return None;
        }
        let mut id = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        Some(OutboxEvent {
            id: format!("msg_{}", URL_SAFE_NO_PAD.encode(id)),
            event,
            endpoints: self.endpoints.clone(),
        })
    }

    /// Tell the sender that events were written.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Wait until [`Webhooks::wake`] is called.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}

/// Who and what a change is about, beyond the lifecycle's state.
#[derive(Debug, Default, Clone)]
pub struct Context<'a> {
    /// The portal user who caused it.
    pub actor: Option<&'a str>,
    /// The user whose authorization a new grant replaced (superseded).
    pub superseded: Option<&'a str>,
    /// The last refresh error's code (refresh_failing).
    pub error_code: Option<&'a str>,
}

/// The outbox entries of a transition: one per [`Action::Notify`], in order, and
/// `authorization.superseded` before `granted` when another user's grant replaced an active
/// authorization.
pub fn events_for(
    webhooks: &Webhooks,
    company: &str,
    next: &Authorization,
    actions: &[Action],
    context: &Context<'_>,
    now: Timestamp,
) -> Vec<OutboxEvent> {
    let mut kinds = Vec::new();
    for action in actions {
        if let Action::Notify(kind) = action {
            if *kind == EventType::Granted && context.superseded.is_some() {
                kinds.push(EventType::Superseded);
            }
            kinds.push(*kind);
        }
    }
    kinds
        .into_iter()
        .filter_map(|kind| {
            let mut event = WebhookEvent::new(kind, company, next.status(), now);
            let data = &mut event.data;
            match kind {
                EventType::Granted | EventType::Cleared => {
                    data.actor = context.actor.map(str::to_owned);
                }
                EventType::Superseded => {
                    data.actor = context.actor.map(str::to_owned);
                    data.superseded = context.superseded.map(str::to_owned);
                }
                EventType::Invalidated => data.reason = next.reason().map(str::to_owned),
                EventType::RefreshFailing => {
                    data.reason = context.error_code.map(str::to_owned);
                    if let Authorization::Active { failures, .. } = next {
                        data.failures = Some(*failures);
                    }
                }
                EventType::Refreshed => {}
            }
            webhooks.outbox(event)
        })
        .collect()
}
