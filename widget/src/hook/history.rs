//! Loading the panel: the status and a grid page from the host, then the provider config.

use token_manager_core::api::TokensQuery;
use token_manager_core::PerPage;
use wasm_bindgen_futures::spawn_local;

use super::Run;
use crate::state::{Action, Retry};

impl Run {
    /// [`load`](Self::load) in a task of its own.
    pub(super) fn spawn_load(&self, page: u32, show_loading: bool) {
        let run = self.clone();
        spawn_local(async move { run.load(page, show_loading).await });
    }

    /// `GET /tokens` (the grid and the status), then `GET /config` (for Authorize) unless
    /// already loaded. A config failure is reported only when Authorize needs it.
    pub(super) async fn load(&self, page: u32, show_loading: bool) {
        if show_loading {
            self.dispatch(Action::Reload);
        }
        if !self.fetch_page(page, self.state().per_page).await {
            return;
        }
        if self.state().config.is_none() {
            match self
                .call(|host, auth| host.config(auth, &self.company))
                .await
            {
                Ok(config) => self.dispatch(Action::ConfigLoaded(config)),
                // Reported when Authorize needs it; meanwhile the panel shows what it has.
                Err(_) => self.dispatch(Action::ConfigFailed),
            }
        }
    }

    /// One grid page from the host; `false` (and the error shown) when it failed.
    pub(super) async fn fetch_page(&self, page: u32, per_page: PerPage) -> bool {
        self.dispatch(Action::PageRequested { per_page });
        let query = TokensQuery {
            company: self.company.to_string(),
            page: page.max(1),
            per_page,
        };
        match self.call(|host, auth| host.tokens(auth, &query)).await {
            Ok(tokens) => {
                self.dispatch(Action::TokensLoaded(tokens));
                true
            }
            Err(failure) => {
                self.fail(failure.code, None, Retry::Reload);
                false
            }
        }
    }
}
