//! Clear, once confirmed in the dialog: the host dissolves the authorization and the grid is
//! reloaded (its rows now cleared).

use token_manager_core::api::ClearBody;
use wasm_bindgen_futures::spawn_local;

use super::Run;
use crate::events::WidgetEvent;
use crate::state::{Action, Confirm, Retry};

impl Run {
    /// The dialog's confirm button: ignored unless the dialog is open (not already clearing).
    pub(super) fn clear(&self) {
        if self.state().confirm != Confirm::Open {
            return;
        }
        self.dispatch(Action::Clearing);
        let run = self.clone();
        spawn_local(async move {
            let body = ClearBody {
                company: run.company.to_string(),
            };
            match run.call(|host, auth| host.clear(auth, &body)).await {
                Ok(response) => {
                    let cleared_at = response.cleared_at;
                    run.dispatch(Action::Cleared(response));
                    run.emit(WidgetEvent::Cleared {
                        company: run.company.to_string(),
                        cleared_at,
                    });
                    run.load(1, false).await;
                }
                Err(failure) => run.fail(failure.code, None, Retry::Reload),
            }
        });
    }
}
