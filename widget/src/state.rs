//! The panel's state: a reducer around core types. Pure — no IO, no DOM — so it is unit-tested
//! natively; the effects that feed it all live in one hook, [`crate::hook`].
//!
//! ```text
//!            Reload                TokensLoaded(status)
//!  (mount) ──────▶ Loading ──────────────────────────────┬──▶ NotAuthorized {cleared}
//!                    │                                   ├──▶ Authorized {just_generated: false}
//!                    │ Failed                            └──▶ Invalidated
//!                    ▼
//!                  Error {code, retry} ◀── Failed (any call, any time)
//!
//!  NotAuthorized / Invalidated / Error ── Redirecting ──▶ Redirecting {popup}
//!  Redirecting ── RedirectAbandoned (popup closed, page restored) ──▶ status view
//!  (return found) ── Returning ──▶ Generating ── Exchanged ──▶ Authorized {just_generated: true}
//!  Authorized ── OpenConfirm ▶ dialog ── Clearing ▶ … ── Cleared ──▶ NotAuthorized {cleared: true}
//! ```
//!
//! A `viewer` session (`can_manage: false` in `GET /tokens`) sees the same views without
//! Authorize and Clear: `Redirecting` and `OpenConfirm` do nothing for it.

use std::rc::Rc;

use token_manager_core::api::{AuthorizationStatus, ClearResponse, ConfigResponse, TokensResponse};
use token_manager_core::{ErrorCode, PerPage};
use yew::Reducible;

/// What the retry button of an error does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// "Try again": load the current page again.
    Reload,
    /// "Authorize": start a new authorization (the failed one cannot be resumed).
    Authorize,
}

/// What the panel shows: loading, not authorized (Authorize), on the way to the provider, a
/// token being generated, authorized (history and Clear), invalidated, or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// First load in progress.
    Loading,
    /// No opt-in: explanation, **Authorize**, warning and tip. `cleared` after a Clear.
    NotAuthorized {
        /// The authorization was just (or previously) cleared.
        cleared: bool,
    },
    /// Authorize clicked: on the way to the provider (or waiting for the popup).
    Redirecting {
        /// The sign-in runs in a popup.
        popup: bool,
    },
    /// Back from the provider: the host is exchanging the code.
    Generating,
    /// Tokens are held; grid and **Clear**.
    Authorized {
        /// Show "A token was generated" (we just came back from the provider).
        just_generated: bool,
    },
    /// The provider invalidated the opt-in; authorize again.
    Invalidated,
    /// Something failed; `code` says what (core's messages), `retry` what the button does.
    Error {
        /// Stable code.
        code: ErrorCode,
        /// Text from the provider (`error_description`), shown as plain text.
        detail: Option<String>,
        /// What "try again" does.
        retry: Retry,
    },
}

impl View {
    /// Name used in `statechange` events and the panel's `data-state` attribute.
    pub fn name(&self) -> &'static str {
        match self {
            View::Loading => "loading",
            View::NotAuthorized { .. } => "not_authorized",
            View::Redirecting { .. } => "redirecting",
            View::Generating => "generating",
            View::Authorized { .. } => "authorized",
            View::Invalidated => "invalidated",
            View::Error { .. } => "error",
        }
    }

    /// The view the host's status calls for.
    pub fn for_status(status: AuthorizationStatus) -> View {
        match status {
            AuthorizationStatus::Active => View::Authorized {
                just_generated: false,
            },
            AuthorizationStatus::NotAuthorized => View::NotAuthorized { cleared: false },
            AuthorizationStatus::Cleared => View::NotAuthorized { cleared: true },
            AuthorizationStatus::Invalidated => View::Invalidated,
        }
    }

    /// May Authorize start from here?
    pub fn can_authorize(&self) -> bool {
        matches!(
            self,
            View::NotAuthorized { .. } | View::Invalidated | View::Error { .. }
        )
    }
}

/// The Clear confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    /// No dialog.
    Closed,
    /// The dialog asks.
    Open,
    /// Confirmed; `POST /clear` in flight.
    Clearing,
}

/// Everything the panel renders.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelState {
    /// What the panel shows.
    pub view: View,
    /// The provider config (`GET /config`), once loaded.
    pub config: Option<ConfigResponse>,
    /// The last status the host reported.
    pub status: Option<AuthorizationStatus>,
    /// The current grid page (`GET /tokens`), once loaded. Shared, so a re-render or a state
    /// change elsewhere never copies (or compares) the rows: equal pointers compare equal.
    pub history: Option<Rc<TokensResponse>>,
    /// Page size the grid asks for.
    pub per_page: PerPage,
    /// A page is being fetched (the pager is disabled meanwhile).
    pub grid_busy: bool,
    /// The Clear dialog.
    pub confirm: Confirm,
    /// The session may authorize and clear (the host's last `can_manage`; `true` until a page
    /// says otherwise: the host enforces it either way).
    pub can_manage: bool,
    /// What the last Clear did at the provider (its receipt), until the next opt-in.
    pub revocation: Option<token_manager_core::api::Revocation>,
    /// `GET /config` failed: the panel stops waiting for the provider's name.
    pub config_failed: bool,
}

impl PanelState {
    /// The state before anything is loaded.
    pub fn new(per_page: PerPage) -> Self {
        Self {
            view: View::Loading,
            config: None,
            status: None,
            history: None,
            per_page,
            grid_busy: false,
            confirm: Confirm::Closed,
            can_manage: true,
            revocation: None,
            config_failed: false,
        }
    }

    /// May Authorize start now (an idle view, and a session that may manage)?
    pub fn may_authorize(&self) -> bool {
        self.can_manage && self.view.can_authorize()
    }

    /// The page the grid shows (1 before anything is loaded).
    pub fn page(&self) -> u32 {
        self.history.as_ref().map_or(1, |h| h.page)
    }
}

/// Inputs of the reducer.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start over (another company or another host): nothing is known.
    Reset {
        /// Page size to start with.
        per_page: PerPage,
    },
    /// (Re)load everything from the host; the view shows Loading.
    Reload,
    /// `GET /config` answered.
    ConfigLoaded(ConfigResponse),
    /// A grid page is being fetched.
    PageRequested {
        /// The page size asked for.
        per_page: PerPage,
    },
    /// `GET /tokens` answered.
    TokensLoaded(TokensResponse),
    /// Authorize started.
    Redirecting {
        /// In a popup.
        popup: bool,
    },
    /// The redirect did not happen (popup closed, page restored from the back/forward cache).
    RedirectAbandoned,
    /// A return is being finished (code exchange in flight).
    Returning,
    /// The host stored the new token.
    Exchanged,
    /// Clear clicked: ask.
    OpenConfirm,
    /// The dialog was cancelled.
    CancelConfirm,
    /// The dialog was confirmed.
    Clearing,
    /// `POST /clear` answered.
    Cleared(ClearResponse),
    /// `GET /config` failed (reported when Authorize needs it).
    ConfigFailed,
    /// A call failed.
    Failed {
        /// Stable code.
        code: ErrorCode,
        /// Provider text, if any.
        detail: Option<String>,
        /// What "try again" does.
        retry: Retry,
    },
}

impl Reducible for PanelState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        next.apply(action);
        if next == *self {
            self
        } else {
            Rc::new(next)
        }
    }
}

impl PanelState {
    /// Apply one action (the reducer, in place).
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Reset { per_page } => *self = PanelState::new(per_page),
            Action::Reload => {
                self.view = View::Loading;
                self.confirm = Confirm::Closed;
                self.grid_busy = self.history.is_some();
            }
            Action::ConfigLoaded(config) => {
                self.config = Some(config);
                self.config_failed = false;
            }
            Action::ConfigFailed => self.config_failed = true,
            Action::PageRequested { per_page } => {
                self.per_page = per_page;
                self.grid_busy = true;
            }
            Action::TokensLoaded(page) => {
                self.status = Some(page.status);
                self.per_page = page.per_page;
                self.can_manage = page.can_manage;
                if !page.can_manage && self.confirm == Confirm::Open {
                    self.confirm = Confirm::Closed;
                }
                self.grid_busy = false;
                self.view = match &self.view {
                    View::Loading => View::for_status(page.status),
                    // Keep the confirmation while the host still reports the grant as active.
                    View::Authorized { just_generated }
                        if page.status == AuthorizationStatus::Active =>
                    {
                        View::Authorized {
                            just_generated: *just_generated,
                        }
                    }
                    // Keep "cleared" while the host agrees there is nothing active.
                    View::NotAuthorized { cleared: true }
                        if page.status != AuthorizationStatus::Active
                            && page.status != AuthorizationStatus::Invalidated =>
                    {
                        View::NotAuthorized { cleared: true }
                    }
                    View::NotAuthorized { .. } | View::Authorized { .. } | View::Invalidated => {
                        View::for_status(page.status)
                    }
                    // Errors, redirects and exchanges in flight are not overruled by a grid page.
                    other => other.clone(),
                };
                self.history = Some(Rc::new(page));
            }
            Action::Redirecting { popup } => {
                if self.may_authorize() {
                    self.view = View::Redirecting { popup };
                }
            }
            Action::RedirectAbandoned => {
                if matches!(self.view, View::Redirecting { .. }) {
                    self.view = self
                        .status
                        .map_or(View::NotAuthorized { cleared: false }, View::for_status);
                }
            }
            Action::Returning => {
                self.view = View::Generating;
                self.confirm = Confirm::Closed;
            }
            Action::Exchanged => {
                self.revocation = None;
                self.status = Some(AuthorizationStatus::Active);
                self.view = View::Authorized {
                    just_generated: true,
                };
            }
            Action::OpenConfirm => {
                if self.can_manage
                    && matches!(self.view, View::Authorized { .. })
                    && self.confirm == Confirm::Closed
                {
                    self.confirm = Confirm::Open;
                }
            }
            Action::CancelConfirm => {
                if self.confirm == Confirm::Open {
                    self.confirm = Confirm::Closed;
                }
            }
            Action::Clearing => {
                if self.confirm == Confirm::Open {
                    self.confirm = Confirm::Clearing;
                }
            }
            Action::Cleared(response) => {
                self.confirm = Confirm::Closed;
                self.status = Some(response.status);
                self.revocation = response.revocation;
                self.view = View::NotAuthorized { cleared: true };
            }
            Action::Failed {
                code,
                detail,
                retry,
            } => {
                self.confirm = Confirm::Closed;
                self.grid_busy = false;
                self.view = View::Error {
                    code,
                    detail,
                    retry,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use token_manager_core::history::{RecordStatus, TokenRecord};
    use token_manager_core::Timestamp;

    use super::*;

    fn page(status: AuthorizationStatus, rows: usize) -> TokensResponse {
        TokensResponse {
            status,
            rows: (0..rows)
                .map(|i| TokenRecord {
                    id: i64::try_from(i).expect("small"),
                    company: "demo-co".into(),
                    token_created: Timestamp(1_000),
                    token_expires: Timestamp(2_000),
                    refresh_created: None,
                    refresh_expires: None,
                    status: RecordStatus::Active,
                    cleared_at: None,
                    authorized_by: None,
                    cleared_by: None,
                    superseded_by: None,
                    revocation: None,
                })
                .collect(),
            total: rows as u64,
            page: 1,
            per_page: PerPage::Ten,
            can_manage: true,
        }
    }

    fn run(actions: impl IntoIterator<Item = Action>) -> PanelState {
        let mut s = PanelState::new(PerPage::Ten);
        for a in actions {
            s.apply(a);
        }
        s
    }

    #[test]
    fn first_load_follows_the_host_status() {
        for (status, view) in [
            (
                AuthorizationStatus::Active,
                View::Authorized {
                    just_generated: false,
                },
            ),
            (
                AuthorizationStatus::NotAuthorized,
                View::NotAuthorized { cleared: false },
            ),
            (
                AuthorizationStatus::Cleared,
                View::NotAuthorized { cleared: true },
            ),
            (AuthorizationStatus::Invalidated, View::Invalidated),
        ] {
            let s = run([Action::Reload, Action::TokensLoaded(page(status, 1))]);
            assert_eq!(s.view, view);
            assert_eq!(s.status, Some(status));
        }
    }

    #[test]
    fn authorize_only_once_and_only_from_idle_views() {
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::NotAuthorized, 0)),
            Action::Redirecting { popup: false },
            Action::Redirecting { popup: true },
        ]);
        assert_eq!(s.view, View::Redirecting { popup: false });
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Active, 1)),
            Action::Redirecting { popup: false },
        ]);
        assert_eq!(s.view.name(), "authorized");
    }

    #[test]
    fn abandoned_redirect_returns_to_the_status_view() {
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Invalidated, 1)),
            Action::Redirecting { popup: true },
            Action::RedirectAbandoned,
        ]);
        assert_eq!(s.view, View::Invalidated);
    }

    #[test]
    fn return_then_exchange_shows_the_confirmation_and_keeps_it_on_paging() {
        let s = run([
            Action::Returning,
            Action::Exchanged,
            Action::TokensLoaded(page(AuthorizationStatus::Active, 1)),
            Action::PageRequested {
                per_page: PerPage::TwentyFive,
            },
        ]);
        assert_eq!(
            s.view,
            View::Authorized {
                just_generated: true
            }
        );
        assert!(s.grid_busy);
        assert_eq!(s.per_page, PerPage::TwentyFive);
    }

    #[test]
    fn a_grid_page_does_not_hide_an_error() {
        let s = run([
            Action::Failed {
                code: ErrorCode::StateMismatch,
                detail: None,
                retry: Retry::Authorize,
            },
            Action::TokensLoaded(page(AuthorizationStatus::Active, 1)),
        ]);
        assert_eq!(s.view.name(), "error");
        assert!(s.history.is_some());
        assert!(s.view.can_authorize());
    }

    #[test]
    fn clear_asks_first_then_keeps_the_rows() {
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Active, 2)),
            Action::Clearing,
        ]);
        assert_eq!(s.confirm, Confirm::Closed, "no clear without the dialog");
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Active, 2)),
            Action::OpenConfirm,
            Action::CancelConfirm,
        ]);
        assert_eq!(s.confirm, Confirm::Closed);
        assert_eq!(s.view.name(), "authorized");
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Active, 2)),
            Action::OpenConfirm,
            Action::Clearing,
            Action::Cleared(ClearResponse {
                revocation: None,
                status: AuthorizationStatus::Cleared,
                cleared_at: Timestamp(5),
            }),
            Action::TokensLoaded(page(AuthorizationStatus::Cleared, 2)),
        ]);
        assert_eq!(s.view, View::NotAuthorized { cleared: true });
        assert_eq!(s.history.map(|h| h.rows.len()), Some(2));
    }

    #[test]
    fn a_viewer_can_neither_authorize_nor_clear() {
        let viewer = |status, rows| TokensResponse {
            can_manage: false,
            ..page(status, rows)
        };
        let s = run([
            Action::TokensLoaded(viewer(AuthorizationStatus::NotAuthorized, 0)),
            Action::Redirecting { popup: false },
        ]);
        assert_eq!(s.view, View::NotAuthorized { cleared: false });
        assert!(!s.may_authorize());
        let s = run([
            Action::TokensLoaded(viewer(AuthorizationStatus::Active, 2)),
            Action::OpenConfirm,
        ]);
        assert_eq!(s.confirm, Confirm::Closed);
        assert_eq!(s.view.name(), "authorized");
        // A page that says "viewer" closes a dialog opened before it.
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Active, 2)),
            Action::OpenConfirm,
            Action::TokensLoaded(viewer(AuthorizationStatus::Active, 2)),
        ]);
        assert_eq!(s.confirm, Confirm::Closed);
        // Hosts that predate roles: everything, as before.
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Invalidated, 1)),
            Action::Redirecting { popup: true },
        ]);
        assert_eq!(s.view, View::Redirecting { popup: true });
    }

    #[test]
    fn failures_close_the_dialog_and_free_the_pager() {
        let s = run([
            Action::TokensLoaded(page(AuthorizationStatus::Active, 2)),
            Action::OpenConfirm,
            Action::Clearing,
            Action::Failed {
                code: ErrorCode::Timeout,
                detail: None,
                retry: Retry::Reload,
            },
        ]);
        assert_eq!(s.confirm, Confirm::Closed);
        assert!(!s.grid_busy);
        assert_eq!(s.view.name(), "error");
    }
}
