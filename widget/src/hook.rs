//! `use_opt_in`: every effect of the panel in one hook (STYLE 9). It reads the URL and
//! `sessionStorage`, calls the host, opens popups and navigates — and asks core what each
//! observation means. The reducer in [`crate::state`] records the outcome.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use token_manager_core::api::{ClearBody, ConfigResponse, TokensQuery};
use token_manager_core::flow::{self, StartError, DEFAULT_MAX_AGE};
use token_manager_core::{
    CallbackError, CallbackParams, ErrorCode, Messages, PendingAuthorization, PerPage,
};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::events::WidgetEvent;
use crate::io::{pending_key, BrowserEvent, Popup, Services, PENDING_KEY_PREFIX};
use crate::state::{Action, PanelState, Retry, View};
use crate::{Mode, TokenManagerProps};

/// How often a popup is checked for having been closed without a result.
const POPUP_POLL_MS: u32 = 400;
/// After this long on the page after a redirect was started, the panel stops waiting (the
/// navigation was cancelled or blocked) and offers Authorize again.
const REDIRECT_GIVE_UP_MS: u32 = 30_000;

/// What the panel can do, handed to the view.
#[derive(Clone, PartialEq)]
pub(crate) struct OptIn {
    /// The state to render.
    pub(crate) state: UseReducerHandle<PanelState>,
    /// Authorize clicked.
    pub(crate) authorize: Callback<()>,
    /// The error's retry button clicked.
    pub(crate) retry: Callback<Retry>,
    /// A grid page (1-based) of a page size asked for.
    pub(crate) go_to_page: Callback<(u32, PerPage)>,
    /// Clear clicked (opens the dialog).
    pub(crate) open_clear: Callback<()>,
    /// Dialog cancelled.
    pub(crate) cancel_clear: Callback<()>,
    /// Dialog confirmed.
    pub(crate) confirm_clear: Callback<()>,
}

/// Props the running effects read at the moment they need them (they may change while a
/// request is in flight, e.g. through `WidgetHandle.update`).
struct Latest {
    on_event: Callback<WidgetEvent>,
    mode: Mode,
    messages: Rc<Messages>,
    /// The state as of the last render.
    state: UseReducerHandle<PanelState>,
}

/// A popup being watched for closing without a result.
struct PopupWatch {
    popup: Box<dyn Popup>,
    _poll: gloo_timers::callback::Interval,
}

/// One run of the panel for one company and one set of services. Cloned into every task;
/// `alive` turns false when the panel unmounts or restarts, and from then on it does nothing.
#[derive(Clone)]
struct Ctx {
    services: Services,
    company: AttrValue,
    dispatcher: UseReducerDispatcher<PanelState>,
    latest: Rc<RefCell<Latest>>,
    alive: Rc<Cell<bool>>,
    /// An authorization is being started (double-click guard, set before any render).
    starting: Rc<Cell<bool>>,
    popup: Rc<RefCell<Option<PopupWatch>>>,
    give_up: Rc<RefCell<Option<gloo_timers::callback::Timeout>>>,
}

/// What a return URL means for this widget.
enum Claim {
    /// No `code`/`state`/`error` in the URL.
    NotAReturn,
    /// Another widget's (another company's) return.
    NotOurs,
    /// Another company's return, and its Authorize was clicked on another page (the redirect
    /// URI page shows whichever company the portal picked): carry the return to that page.
    HandOver(String),
    /// We are the popup of a page holding the pending authorization: hand the return over.
    ForwardToOpener(String),
    /// Ours: validate with core and exchange.
    Ours(PendingAuthorization, Result<CallbackParams, CallbackError>),
    /// A return nobody in this tab is waiting for (already used, other tab, forged).
    Orphan(ErrorCode),
}

impl Ctx {
    fn dispatch(&self, action: Action) {
        if self.alive.get() {
            self.dispatcher.dispatch(action);
        }
    }

    fn emit(&self, event: WidgetEvent) {
        if self.alive.get() {
            let on_event = self.latest.borrow().on_event.clone();
            on_event.emit(event);
        }
    }

    fn fail(&self, code: ErrorCode, detail: Option<String>, retry: Retry) {
        if !self.alive.get() {
            return;
        }
        self.starting.set(false);
        self.give_up.borrow_mut().take();
        self.dispatch(Action::Failed {
            code,
            detail,
            retry,
        });
        let message = self.latest.borrow().messages.error(code).to_owned();
        self.emit(WidgetEvent::Error {
            company: self.company.to_string(),
            code,
            message,
        });
    }

    fn state(&self) -> UseReducerHandle<PanelState> {
        self.latest.borrow().state.clone()
    }

    /// Stop everything this run started (popup watch, timers); later results are dropped.
    fn shutdown(&self) {
        self.alive.set(false);
        if let Some(watch) = self.popup.borrow_mut().take() {
            watch.popup.close();
        }
        self.give_up.borrow_mut().take();
    }

    /// Mount: finish a return addressed to us, or load the panel.
    fn start(&self) {
        let per_page = self.state().per_page;
        self.dispatch(Action::Reset { per_page });
        let browser = &self.services.browser;
        let url = browser.current_url();
        match self.claim(&url) {
            Claim::NotAReturn | Claim::NotOurs => self.spawn_load(1, true),
            Claim::HandOver(target) => {
                browser.replace_url(&flow::strip_callback_params(&url));
                browser.navigate(&target);
            }
            Claim::ForwardToOpener(search) => {
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
            Claim::Ours(pending, params) => {
                browser.replace_url(&flow::strip_callback_params(&url));
                let ctx = self.clone();
                spawn_local(async move { ctx.finish_return(pending, params).await });
            }
            Claim::Orphan(code) => {
                browser.replace_url(&flow::strip_callback_params(&url));
                self.fail(code, None, Retry::Authorize);
                self.spawn_load(1, false);
            }
        }
    }

    /// Is the return in `url` ours? Other companies' widgets on the same page see the same URL:
    /// a return whose state matches another company's pending authorization is left to it.
    fn claim(&self, url: &str) -> Claim {
        let params = match CallbackParams::parse(url) {
            Ok(None) => return Claim::NotAReturn,
            Ok(Some(params)) => Ok(params),
            Err(e) => Err(e),
        };
        let browser = &self.services.browser;
        let key = pending_key(&self.company);
        let returned_state = params.as_ref().ok().and_then(|p| p.state.clone());
        let matches = |pending: &PendingAuthorization| {
            returned_state
                .as_deref()
                .is_none_or(|s| pending.state_matches(s))
        };

        // In a popup opened by the page that holds the pending authorization: hand over.
        if let Some(opener_pending) = browser
            .opener_storage_get(&key)
            .and_then(|json| crate::json::from_str::<PendingAuthorization>(&json))
        {
            if matches(&opener_pending) {
                return Claim::ForwardToOpener(search_of(url).to_owned());
            }
        }

        let own = browser.storage_get(&key).and_then(|json| {
            let parsed = crate::json::from_str::<PendingAuthorization>(&json);
            if parsed.is_none() {
                // Unreadable (another version, tampering): it can never complete.
                browser.storage_remove(&key);
            }
            parsed
        });
        if let Some(pending) = own.as_ref() {
            if matches(pending) {
                return Claim::Ours(own.expect("checked just above"), params);
            }
        }
        let others: Vec<PendingAuthorization> = browser
            .storage_keys()
            .into_iter()
            .filter(|k| k.starts_with(PENDING_KEY_PREFIX) && *k != key)
            .filter_map(|k| browser.storage_get(&k))
            .filter_map(|json| crate::json::from_str::<PendingAuthorization>(&json))
            .collect();
        let owner = others.iter().find(|other| {
            returned_state
                .as_deref()
                .is_some_and(|s| other.state_matches(s))
        });
        if let Some(target) = owner.and_then(|o| hand_over_target(o, url)) {
            return Claim::HandOver(target);
        }
        let others_claim = owner.is_some() || (params.is_err() && !others.is_empty());
        match own {
            _ if others_claim => Claim::NotOurs,
            // Ours by company but not by state: core reports the mismatch (and it is consumed).
            Some(pending) => Claim::Ours(pending, params),
            None => Claim::Orphan(match params {
                Err(e) => e.error_code(),
                Ok(_) => ErrorCode::NoPendingAuthorization,
            }),
        }
    }

    /// Validate the return with core (single use: the pending entry is removed first), then
    /// have the host exchange the code.
    async fn finish_return(
        self,
        pending: PendingAuthorization,
        params: Result<CallbackParams, CallbackError>,
    ) {
        let browser = self.services.browser.clone();
        browser.storage_remove(&pending_key(&self.company));
        self.dispatch(Action::Returning);
        let description = params
            .as_ref()
            .ok()
            .and_then(|p| p.error_description.clone());
        let exchange =
            params.and_then(|p| pending.handle_callback(p, browser.now(), DEFAULT_MAX_AGE));
        let request = match exchange {
            Ok(request) => request,
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
        let return_to = request.return_to.clone();
        match self.services.host.exchange(request.into_body()).await {
            Ok(response) => {
                self.starting.set(false);
                self.dispatch(Action::Exchanged);
                self.emit(WidgetEvent::Authorized {
                    company: self.company.to_string(),
                    record: response.record,
                });
                // Authorize was clicked on another page of the portal: go back there.
                if let Some(path) = return_to.filter(|p| !same_path(p, &browser.current_url())) {
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

    fn spawn_load(&self, page: u32, show_loading: bool) {
        let ctx = self.clone();
        spawn_local(async move { ctx.load(page, show_loading).await });
    }

    /// `GET /tokens` (the grid and the status), then `GET /config` (for Authorize) unless
    /// already loaded. A config failure is reported only when Authorize needs it.
    async fn load(&self, page: u32, show_loading: bool) {
        if show_loading {
            self.dispatch(Action::Reload);
        }
        if !self.fetch_page(page, self.state().per_page).await {
            return;
        }
        if self.state().config.is_none() {
            if let Ok(config) = self.services.host.config(&self.company).await {
                self.dispatch(Action::ConfigLoaded(config));
            }
        }
    }

    /// One grid page from the host; `false` (and the error shown) when it failed.
    async fn fetch_page(&self, page: u32, per_page: PerPage) -> bool {
        self.dispatch(Action::PageRequested { per_page });
        let query = TokensQuery {
            company: self.company.to_string(),
            page: page.max(1),
            per_page,
        };
        match self.services.host.tokens(&query).await {
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

    /// Authorize: core builds the URL and the pending authorization from fresh entropy; the
    /// pending entry goes to `sessionStorage`, then the tab (or a popup) goes to the provider.
    fn authorize(&self) {
        if self.starting.get() || !self.state().view.can_authorize() {
            return;
        }
        self.starting.set(true);
        let popup = self.latest.borrow().mode == Mode::Popup;
        self.dispatch(Action::Redirecting { popup });
        match self.state().config.clone() {
            Some(config) => self.redirect(&config, popup),
            None => {
                let ctx = self.clone();
                spawn_local(async move {
                    match ctx.services.host.config(&ctx.company).await {
                        Ok(config) => {
                            ctx.dispatch(Action::ConfigLoaded(config.clone()));
                            ctx.redirect(&config, popup);
                        }
                        Err(failure) => ctx.fail(failure.code, None, Retry::Authorize),
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
        let here = browser.current_url();
        let return_to = path_of(&flow::strip_callback_params(&here)).to_owned();
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
        let ctx = self.clone();
        *self.give_up.borrow_mut() = Some(gloo_timers::callback::Timeout::new(
            REDIRECT_GIVE_UP_MS,
            // Deferred: abandoning drops this very timer.
            move || spawn_local(async move { ctx.abandon_redirect() }),
        ));
    }

    fn abandon_redirect(&self) {
        self.starting.set(false);
        self.give_up.borrow_mut().take();
        if let Some(watch) = self.popup.borrow_mut().take() {
            watch.popup.close();
        }
        self.dispatch(Action::RedirectAbandoned);
    }

    /// Poll the popup; closed twice in a row without a result means the user gave up (two
    /// polls leave time for the popup's message, posted just before it closes, to arrive).
    fn watch_popup(&self, popup: Box<dyn Popup>) {
        let ctx = self.clone();
        let closed_polls = Cell::new(0u8);
        let poll = gloo_timers::callback::Interval::new(POPUP_POLL_MS, move || {
            let closed = ctx
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
                let ctx = ctx.clone();
                spawn_local(async move { ctx.abandon_redirect() });
            }
        });
        *self.popup.borrow_mut() = Some(PopupWatch { popup, _poll: poll });
    }

    fn on_browser_event(&self, event: BrowserEvent) {
        match event {
            BrowserEvent::PageRestored => {
                if matches!(self.state().view, View::Redirecting { .. }) {
                    self.abandon_redirect();
                }
            }
            BrowserEvent::CallbackMessage(search) => self.on_popup_return(&search),
        }
    }

    /// A same-origin popup handed over a return: finish it here if it is ours.
    fn on_popup_return(&self, search: &str) {
        let params = match CallbackParams::parse(search) {
            Ok(Some(params)) => Ok(params),
            Ok(None) => return,
            Err(e) => Err(e),
        };
        let browser = &self.services.browser;
        let Some(pending) = browser
            .storage_get(&pending_key(&self.company))
            .and_then(|json| crate::json::from_str::<PendingAuthorization>(&json))
        else {
            return;
        };
        let ours = match &params {
            Ok(p) => p.state.as_deref().is_none_or(|s| pending.state_matches(s)),
            // Malformed: ours only if we are waiting for a popup.
            Err(_) => matches!(self.state().view, View::Redirecting { popup: true }),
        };
        if !ours {
            return;
        }
        if let Some(watch) = self.popup.borrow_mut().take() {
            watch.popup.close();
        }
        self.give_up.borrow_mut().take();
        let ctx = self.clone();
        spawn_local(async move { ctx.finish_return(pending, params).await });
    }

    fn clear(&self) {
        if self.state().confirm != crate::state::Confirm::Open {
            return;
        }
        self.dispatch(Action::Clearing);
        let ctx = self.clone();
        spawn_local(async move {
            let body = ClearBody {
                company: ctx.company.to_string(),
            };
            match ctx.services.host.clear(&body).await {
                Ok(response) => {
                    let cleared_at = response.cleared_at;
                    ctx.dispatch(Action::Cleared(response));
                    ctx.emit(WidgetEvent::Cleared {
                        company: ctx.company.to_string(),
                        cleared_at,
                    });
                    ctx.load(1, false).await;
                }
                Err(failure) => ctx.fail(failure.code, None, Retry::Reload),
            }
        });
    }
}

/// `?query` of a URL (empty when it has none); the fragment is not part of it.
fn search_of(url: &str) -> &str {
    let url = url.split('#').next().unwrap_or_default();
    url.find('?').map_or("", |i| &url[i..])
}

/// Path, query and fragment of an absolute URL (`https://h/p?q#f` → `/p?q#f`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
}

/// Where to carry a return that belongs to `owner` (another company's pending authorization of
/// this tab): its `return_to` page plus the return's query, when that page is not this one.
/// Widgets of several companies on one page share the page, so nothing moves then.
fn hand_over_target(owner: &PendingAuthorization, url: &str) -> Option<String> {
    let return_to = owner.return_to.as_deref()?;
    let here = flow::strip_callback_params(url);
    if !flow::is_safe_return_to(return_to) || return_to == path_of(&here) {
        return None;
    }
    let query = search_of(url).trim_start_matches('?');
    let sep = if return_to.contains('?') { '&' } else { '?' };
    Some(format!("{return_to}{sep}{query}"))
}

/// Does `return_to` (a path, maybe with a query) name the page of `url`?
fn same_path(return_to: &str, url: &str) -> bool {
    let path = |s: &str| s.split(['?', '#']).next().unwrap_or_default().to_owned();
    path(return_to) == path(path_of(url))
}

/// The panel's effects for one [`TokenManager`](crate::TokenManager).
#[hook]
pub(crate) fn use_opt_in(props: &TokenManagerProps, messages: Rc<Messages>) -> OptIn {
    let state = use_reducer(|| PanelState::new(props.page_size));
    let services = use_memo(
        (props.api.clone(), props.services.clone()),
        |(api, services)| services.clone().unwrap_or_else(|| Services::web(api)),
    );
    let latest = use_mut_ref(|| Latest {
        on_event: props.on_event.clone(),
        mode: props.mode,
        messages: messages.clone(),
        state: state.clone(),
    });
    {
        let mut latest = latest.borrow_mut();
        latest.on_event = props.on_event.clone();
        latest.mode = props.mode;
        latest.messages = messages;
        latest.state = state.clone();
    }
    let current: Rc<RefCell<Option<Ctx>>> = use_mut_ref(|| None);

    {
        let dispatcher = state.dispatcher();
        let latest = latest.clone();
        let current = current.clone();
        use_effect_with(
            (services.clone(), props.company.clone()),
            move |(services, company)| {
                let ctx = Ctx {
                    services: (**services).clone(),
                    company: company.clone(),
                    dispatcher,
                    latest,
                    alive: Rc::new(Cell::new(true)),
                    starting: Rc::new(Cell::new(false)),
                    popup: Rc::new(RefCell::new(None)),
                    give_up: Rc::new(RefCell::new(None)),
                };
                let subscription = {
                    let ctx = ctx.clone();
                    services
                        .browser
                        .listen(Rc::new(move |event| ctx.on_browser_event(event)))
                };
                *current.borrow_mut() = Some(ctx.clone());
                ctx.start();
                move || {
                    ctx.shutdown();
                    drop(subscription);
                    current.borrow_mut().take();
                }
            },
        );
    }

    // `statechange` for every view change (including the first).
    {
        let latest = latest.clone();
        let company = props.company.clone();
        use_effect_with(state.view.name(), move |name| {
            let on_event = latest.borrow().on_event.clone();
            on_event.emit(WidgetEvent::StateChange {
                company: company.to_string(),
                state: name,
            });
        });
    }

    // A new page size from the embedding page (e.g. `WidgetHandle.update`).
    {
        let current = current.clone();
        use_effect_with(props.page_size, move |per_page| {
            let ctx = current.borrow().clone();
            if let Some(ctx) = ctx {
                let state = ctx.state();
                if state.per_page != *per_page && state.history.is_some() {
                    let (ctx, per_page) = (ctx.clone(), *per_page);
                    spawn_local(async move {
                        ctx.fetch_page(1, per_page).await;
                    });
                }
            }
        });
    }

    let with_ctx = |f: fn(&Ctx)| {
        let current = current.clone();
        Callback::from(move |()| {
            let ctx = current.borrow().clone();
            if let Some(ctx) = ctx {
                f(&ctx);
            }
        })
    };
    let authorize = with_ctx(Ctx::authorize);
    let confirm_clear = with_ctx(Ctx::clear);
    let retry = {
        let current = current.clone();
        Callback::from(move |retry: Retry| {
            let ctx = current.borrow().clone();
            let Some(ctx) = ctx else { return };
            match retry {
                Retry::Authorize => ctx.authorize(),
                Retry::Reload => {
                    let page = ctx.state().page();
                    ctx.spawn_load(page, true);
                }
            }
        })
    };
    let go_to_page = {
        let current = current.clone();
        Callback::from(move |(page, per_page): (u32, PerPage)| {
            let ctx = current.borrow().clone();
            if let Some(ctx) = ctx {
                spawn_local(async move {
                    ctx.fetch_page(page, per_page).await;
                });
            }
        })
    };
    let open_clear = {
        let dispatcher = state.dispatcher();
        Callback::from(move |()| dispatcher.dispatch(Action::OpenConfirm))
    };
    let cancel_clear = {
        let dispatcher = state.dispatcher();
        Callback::from(move |()| dispatcher.dispatch(Action::CancelConfirm))
    };
    OptIn {
        state,
        authorize,
        retry,
        go_to_page,
        open_clear,
        cancel_clear,
        confirm_clear,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(search_of("https://h/p?code=a&state=b#f"), "?code=a&state=b");
        assert_eq!(search_of("https://h/p"), "");
        assert_eq!(path_of("https://h:8080/admin/x?y=1"), "/admin/x?y=1");
        assert_eq!(path_of("https://h"), "/");
        assert!(same_path(
            "/admin/token-manager",
            "http://h/admin/token-manager?x=1"
        ));
        assert!(!same_path("/admin", "http://h/admin/token-manager"));
    }
}
