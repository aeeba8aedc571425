//! Authorize: the host starts the authorization (`POST /start`: it keeps the state and the
//! PKCE verifier) and answers the authorize URL and the tab's return marker; the marker goes to
//! `sessionStorage`, then the tab (or a popup) goes to the provider.
//! And giving up on it: a navigation that never happened, a page restored from the
//! back/forward cache, a popup closed without a result.

use std::cell::Cell;

use token_manager_core::api::{StartBody, StartResponse};
use token_manager_core::flow;
use token_manager_core::ErrorCode;
use wasm_bindgen_futures::spawn_local;

use super::Run;
use crate::io::{pending_key, Popup};
use crate::state::{Action, Retry};
use crate::Mode;

/// How often a popup is checked for having been closed without a result.
const POPUP_POLL_MS: u32 = 400;
/// After this long on the page after a redirect was started, the panel stops waiting (the
/// navigation was cancelled or blocked) and offers Authorize again.
const REDIRECT_GIVE_UP_MS: u32 = 30_000;
/// What a popup shows until the host answered (same origin, empty).
const BLANK: &str = "about:blank";

/// A popup being watched for closing without a result.
pub(super) struct PopupWatch {
    popup: Box<dyn Popup>,
    _poll: gloo_timers::callback::Interval,
}

impl Run {
    /// Authorize clicked (or the error's Authorize button): in popup mode the popup opens now,
    /// blank (within the click, so it is not blocked), then [`start_authorization`](Self::start_authorization).
    pub(super) fn authorize(&self) {
        if self.starting.get() || !self.state().may_authorize() {
            return;
        }
        self.starting.set(true);
        let attempt = self.attempt.get().wrapping_add(1);
        self.attempt.set(attempt);
        let popup = self.latest.borrow().mode == Mode::Popup;
        self.dispatch(Action::Redirecting { popup });
        if popup {
            let name = format!("token-manager-{}", self.company);
            if let Some(window) = self.services.browser.open_popup(BLANK, &name) {
                self.watch_popup(window);
            }
            // Blocked: the same flow in this tab still works.
        }
        let run = self.clone();
        spawn_local(async move { run.start_authorization(attempt).await });
    }

    /// With the config (for the provider's name) loaded, `POST /start`; store the marker and
    /// send the popup (or this tab) to the authorize URL.
    async fn start_authorization(&self, attempt: u32) {
        // Given up meanwhile (popup closed, page restored, unmounted, another click)?
        let given_up =
            || !self.alive.get() || !self.starting.get() || self.attempt.get() != attempt;
        if self.state().config.is_none() {
            let config = self
                .call(|host, auth| host.config(auth, &self.company))
                .await;
            if given_up() {
                return;
            }
            match config {
                Ok(config) => self.dispatch(Action::ConfigLoaded(config)),
                Err(failure) => return self.fail_start(failure.code),
            }
        }
        let browser = self.services.browser.clone();
        let return_to = flow::return_path(&browser.current_url());
        let body = StartBody {
            company: self.company.to_string(),
            return_to: flow::is_safe_return_to(&return_to).then_some(return_to),
        };
        let started = self.call(|host, auth| host.start(auth, &body)).await;
        if given_up() {
            return;
        }
        let StartResponse {
            authorize_url,
            pending: mut marker,
            ..
        } = match started {
            Ok(started) => started,
            Err(failure) => return self.fail_start(failure.code),
        };
        // The tab checks the return's age against its own clock (the host checks against its
        // own), so a browser clock that is off does not void every attempt.
        marker.created_at = browser.now();
        let stored = crate::json::to_string(&marker)
            .is_some_and(|json| browser.storage_set(&pending_key(&self.company), &json));
        if !stored {
            // Without sessionStorage the return could never be checked: do not leave.
            return self.fail_start(ErrorCode::Internal);
        }
        if let Some(watch) = self.popup.borrow().as_ref() {
            watch.popup.navigate(&authorize_url);
            return;
        }
        browser.navigate(&authorize_url);
        let run = self.clone();
        *self.give_up.borrow_mut() = Some(gloo_timers::callback::Timeout::new(
            REDIRECT_GIVE_UP_MS,
            // Deferred: abandoning drops this very timer.
            move || spawn_local(async move { run.abandon_redirect() }),
        ));
    }

    /// The authorization could not start: close the blank popup and say why.
    fn fail_start(&self, code: ErrorCode) {
        self.close_popup();
        self.fail(code, None, Retry::Authorize);
    }

    /// Stop waiting for the provider and offer Authorize again.
    pub(super) fn abandon_redirect(&self) {
        self.starting.set(false);
        self.give_up.borrow_mut().take();
        self.close_popup();
        self.dispatch(Action::RedirectAbandoned);
    }

    /// Poll the popup; closed twice in a row without a result means the user gave up (two
    /// polls leave time for the popup's message, posted just before it closes, to arrive).
    fn watch_popup(&self, popup: Box<dyn Popup>) {
        let run = self.clone();
        let closed_polls = Cell::new(0u8);
        let poll = gloo_timers::callback::Interval::new(POPUP_POLL_MS, move || {
            let closed = run
                .popup
                .borrow()
                .as_ref()
                .is_none_or(|watch| watch.popup.is_closed());
            if !closed {
                closed_polls.set(0);
                return;
            }
            closed_polls.set(closed_polls.get() + 1);
            if closed_polls.get() == 2 {
                // Deferred: abandoning drops this very interval.
                let run = run.clone();
                spawn_local(async move { run.abandon_redirect() });
            }
        });
        *self.popup.borrow_mut() = Some(PopupWatch { popup, _poll: poll });
    }

    /// Close the watched popup, if any, and stop watching it.
    pub(super) fn close_popup(&self) {
        if let Some(watch) = self.popup.borrow_mut().take() {
            watch.popup.close();
        }
    }
}
