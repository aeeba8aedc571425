//! Authorize: core builds the authorize URL and the pending authorization from fresh entropy;
//! the pending entry goes to `sessionStorage`, then the tab (or a popup) goes to the provider.
//! And giving up on it: a navigation that never happened, a page restored from the
//! back/forward cache, a popup closed without a result.

use std::cell::Cell;

use token_manager_core::api::ConfigResponse;
use token_manager_core::flow::{self, StartError};
use token_manager_core::{ErrorCode, PendingAuthorization};
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

/// A popup being watched for closing without a result.
pub(super) struct PopupWatch {
    popup: Box<dyn Popup>,
    _poll: gloo_timers::callback::Interval,
}

impl Run {
    /// Authorize clicked (or the error's Authorize button): with the config loaded (or loaded
    /// now), [`redirect`](Self::redirect).
    pub(super) fn authorize(&self) {
        if self.starting.get() || !self.state().view.can_authorize() {
            return;
        }
        self.starting.set(true);
        let popup = self.latest.borrow().mode == Mode::Popup;
        self.dispatch(Action::Redirecting { popup });
        match self.state().config.clone() {
            Some(config) => self.redirect(&config, popup),
            None => {
                let run = self.clone();
                spawn_local(async move {
                    match run.services.host.config(&run.company).await {
                        Ok(config) => {
                            run.dispatch(Action::ConfigLoaded(config.clone()));
                            run.redirect(&config, popup);
                        }
                        Err(failure) => run.fail(failure.code, None, Retry::Authorize),
                    }
                });
            }
        }
    }

    fn redirect(&self, config: &ConfigResponse, popup: bool) {
        if !self.alive.get() {
            return;
        }
        let browser = self.services.browser.clone();
        let Some(entropy) = browser.random_64() else {
            return self.fail(ErrorCode::Internal, None, Retry::Authorize);
        };
        let now = browser.now();
        let return_to = flow::return_path(&browser.current_url());
        let started =
            PendingAuthorization::start(config, &entropy, now, &self.company, Some(&return_to))
                .or_else(|e| match e {
                    StartError::BadReturnTo => {
                        PendingAuthorization::start(config, &entropy, now, &self.company, None)
                    }
                    other => Err(other),
                });
        let (url, pending) = match started {
            Ok(started) => started,
            Err(StartError::BadCompany) => {
                return self.fail(ErrorCode::UnknownCompany, None, Retry::Reload)
            }
            Err(_) => return self.fail(ErrorCode::InvalidConfig, None, Retry::Reload),
        };
        let stored = crate::json::to_string(&pending)
            .is_some_and(|json| browser.storage_set(&pending_key(&self.company), &json));
        if !stored {
            // Without sessionStorage the return could never be checked: do not leave.
            return self.fail(ErrorCode::Internal, None, Retry::Authorize);
        }
        if popup {
            let name = format!("token-manager-{}", self.company);
            if let Some(window) = browser.open_popup(url.as_str(), &name) {
                self.watch_popup(window);
                return;
            }
            // Blocked: the same flow in this tab still works.
        }
        browser.navigate(url.as_str());
        let run = self.clone();
        *self.give_up.borrow_mut() = Some(gloo_timers::callback::Timeout::new(
            REDIRECT_GIVE_UP_MS,
            // Deferred: abandoning drops this very timer.
            move || spawn_local(async move { run.abandon_redirect() }),
        ));
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
