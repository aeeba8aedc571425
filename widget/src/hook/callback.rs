//! The return from the provider: in the URL the panel was loaded with, or posted by a popup.
//! Core decides whose it is ([`flow::classify_return`], [`flow::claim_popup_return`]); this
//! reads the tab's return markers for it, moves the URL as told, and finishes our own
//! returns: core validates them against the marker, the host exchanges the code with the
//! verifier it kept.

use token_manager_core::flow::{self, OwnReturn, ReturnClaim, TabPending, DEFAULT_MAX_AGE};
use token_manager_core::{CallbackError, ErrorCode, ReturnMarker};
use wasm_bindgen_futures::spawn_local;

use super::Run;
use crate::events::WidgetEvent;
use crate::io::{pending_key, PENDING_KEY_PREFIX};
use crate::state::{Action, Retry, View};

impl Run {
    /// Mount: finish a return addressed to us, or load the panel.
    pub(super) fn start(&self) {
        let per_page = self.state().per_page;
        self.dispatch(Action::Reset { per_page });
        let browser = &self.services.browser;
        let url = browser.current_url();
        match flow::classify_return(&url, || self.tab_pending()) {
            ReturnClaim::NotAReturn | ReturnClaim::NotOurs => self.spawn_load(1, true),
            ReturnClaim::HandOver(target) => {
                browser.replace_url(&flow::strip_callback_params(&url));
                browser.navigate(&target);
            }
            ReturnClaim::ForwardToOpener(search) => {
                // The opener validates and exchanges; our copy of the pending entry must not
                // be usable a second time.
                browser.storage_remove(&pending_key(&self.company));
                if browser.post_to_opener(&search) {
                    self.dispatch(Action::Returning);
                    browser.close_window();
                } else {
                    self.fail(ErrorCode::NoPendingAuthorization, None, Retry::Authorize);
                }
            }
            ReturnClaim::Ours(own) => {
                browser.replace_url(&flow::strip_callback_params(&url));
                let run = self.clone();
                spawn_local(async move { run.finish_return(own).await });
            }
            ReturnClaim::Orphan(code) => {
                browser.replace_url(&flow::strip_callback_params(&url));
                self.fail(code, None, Retry::Authorize);
                self.spawn_load(1, false);
            }
        }
    }

    /// The return markers of this tab, as [`flow::classify_return`] needs them. An
    /// entry of ours that cannot be read (another version, tampering) can never complete: it
    /// is removed.
    fn tab_pending(&self) -> TabPending {
        let browser = &self.services.browser;
        let key = pending_key(&self.company);
        let read = |json: String| crate::json::from_str::<ReturnMarker>(&json);
        let opener = browser.opener_storage_get(&key).and_then(read);
        let own = browser.storage_get(&key).and_then(|json| {
            let parsed = read(json);
            if parsed.is_none() {
                browser.storage_remove(&key);
            }
            parsed
        });
        let others = browser
            .storage_keys()
            .into_iter()
            .filter(|k| k.starts_with(PENDING_KEY_PREFIX) && *k != key)
            .filter_map(|k| browser.storage_get(&k))
            .filter_map(read)
            .collect();
        TabPending {
            own,
            opener,
            others,
        }
    }

    /// A same-origin popup handed over a return: finish it here if it is ours.
    pub(super) fn on_popup_return(&self, search: &str) {
        let own = self
            .services
            .browser
            .storage_get(&pending_key(&self.company))
            .and_then(|json| crate::json::from_str::<ReturnMarker>(&json));
        let awaiting_popup = matches!(self.state().view, View::Redirecting { popup: true });
        let Some(own) = flow::claim_popup_return(search, own, awaiting_popup) else {
            return;
        };
        self.close_popup();
        self.give_up.borrow_mut().take();
        let run = self.clone();
        spawn_local(async move { run.finish_return(own).await });
    }

    /// Validate the return with core (single use: the marker is removed first), then have the
    /// host exchange the code (`{company, code, state}`: the host holds the verifier).
    async fn finish_return(self, OwnReturn { pending, params }: OwnReturn) {
        let browser = self.services.browser.clone();
        browser.storage_remove(&pending_key(&self.company));
        self.dispatch(Action::Returning);
        let description = params
            .as_ref()
            .ok()
            .and_then(|p| p.error_description.clone());
        let return_to = pending.return_to.clone();
        let exchange =
            params.and_then(|p| pending.handle_callback(p, browser.now(), DEFAULT_MAX_AGE));
        let body = match exchange {
            Ok(body) => body,
            Err(e) => {
                let code = e.error_code();
                let detail = match e {
                    CallbackError::Provider { description, .. } => description,
                    CallbackError::ConsentDeclined => description,
                    _ => None,
                };
                self.fail(code, detail, Retry::Authorize);
                return self.load(1, false).await;
            }
        };
        match self.call(|host, auth| host.exchange(auth, &body)).await {
            Ok(response) => {
                self.starting.set(false);
                self.dispatch(Action::Exchanged);
                self.emit(WidgetEvent::Authorized {
                    company: self.company.to_string(),
                    record: Box::new(response.record),
                });
                // Authorize was clicked on another page of the portal: go back there.
                if let Some(path) = return_to.filter(|p| {
                    flow::is_safe_return_to(p) && !flow::is_same_page(p, &browser.current_url())
                }) {
                    browser.navigate(&path);
                    return;
                }
                self.load(1, false).await;
            }
            Err(failure) => {
                self.fail(failure.code, None, Retry::Authorize);
                self.load(1, false).await;
            }
        }
    }
}
