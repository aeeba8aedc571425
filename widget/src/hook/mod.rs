//! `use_opt_in`: every effect of the panel in one hook, so components only render and the
//! reducer in [`crate::state`] stays pure. The hook reads the URL and `sessionStorage`, calls
//! the host, opens popups and navigates — and asks core what each observation means; the
//! reducer records the outcome.
//!
//! One [`Run`] per company and set of services carries the effects, by concern:
//! `callback.rs` (the return from the provider), `authorize.rs` (`POST /start`, then redirect
//! or popup, and giving up on them), `history.rs` (loading the panel and grid pages),
//! `clear.rs` (Clear). Every host call goes through [`Run::call`], which carries the panel's
//! [`Session`] (token, renewal, one retry).

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use token_manager_core::{ErrorCode, Messages, PerPage};
use wasm_bindgen_futures::spawn_local;
use yew::prelude::*;

use crate::events::WidgetEvent;
use crate::io::{ApiFailure, ApiFuture, Auth, BrowserEvent, HostApi, Services};
use crate::session::Session;
use crate::state::{Action, PanelState, Retry, View};
use crate::{Mode, TokenManagerProps};

mod authorize;
mod callback;
mod clear;
mod history;

/// What [`use_opt_in`] hands to the view.
#[derive(Clone, PartialEq)]
pub(crate) struct OptIn {
    /// The state to render.
    pub(crate) state: UseReducerHandle<PanelState>,
    /// What the panel's controls do.
    pub(crate) actions: Rc<PanelActions>,
}

/// What the panel's controls do. Created once per panel: every callback reaches the current
/// [`Run`] (or the reducer) through a handle that outlives renders, so the value never changes
/// and props holding it compare equal (callbacks compare by identity) from render to render.
#[derive(Clone, PartialEq)]
pub(crate) struct PanelActions {
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

/// The run of the panel in progress, if any (none before the first effect and after unmount).
type Current = Rc<RefCell<Option<Run>>>;

/// One run of the panel for one company and one set of services. Cloned into every task;
/// `alive` turns false when the panel unmounts or restarts, and from then on it does nothing.
#[derive(Clone)]
struct Run {
    services: Services,
    /// The panel's session (shared by its runs).
    session: Session,
    company: AttrValue,
    dispatcher: UseReducerDispatcher<PanelState>,
    latest: Rc<RefCell<Latest>>,
    alive: Rc<Cell<bool>>,
    /// An authorization is being started (double-click guard, set before any render).
    starting: Rc<Cell<bool>>,
    /// Counts Authorize clicks, so a `POST /start` answer for an attempt given up meanwhile is
    /// dropped.
    attempt: Rc<Cell<u32>>,
    popup: Rc<RefCell<Option<authorize::PopupWatch>>>,
    give_up: Rc<RefCell<Option<gloo_timers::callback::Timeout>>>,
}

impl Run {
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
        let message = {
            let latest = self.latest.borrow();
            let provider = latest
                .state
                .config
                .as_ref()
                .map(|c| c.provider_name.clone())
                .unwrap_or_default();
            latest
                .messages
                .for_provider(&provider)
                .error(code)
                .to_owned()
        };
        self.emit(WidgetEvent::Error {
            company: self.company.to_string(),
            code,
            message,
        });
    }

    fn state(&self) -> UseReducerHandle<PanelState> {
        self.latest.borrow().state.clone()
    }

    /// Make one host call with the session's credentials. Refused as `unauthenticated`, it is
    /// made once more after the session token was renewed (or replaced meanwhile); a second
    /// refusal is the answer. With a `getSessionToken` that cannot give a token, the call is
    /// not made and fails as `unauthenticated`.
    async fn call<T>(
        &self,
        request: impl Fn(&dyn HostApi, &Auth) -> ApiFuture<T>,
    ) -> Result<T, ApiFailure> {
        let (host, browser) = (&*self.services.host, &self.services.browser);
        let unauthenticated = || ApiFailure::new(ErrorCode::Unauthenticated);
        let (auth, generation) = self
            .session
            .auth(browser)
            .await
            .ok_or_else(unauthenticated)?;
        match request(host, &auth).await {
            Err(refused) if refused.code == ErrorCode::Unauthenticated => {
                if !self.session.renew(generation, browser).await {
                    return Err(refused);
                }
                let (auth, _) = self.session.auth(browser).await.ok_or(refused)?;
                request(host, &auth).await
            }
            answer => answer,
        }
    }

    /// Stop everything this run started (popup watch, timers); later results are dropped.
    fn shutdown(&self) {
        self.alive.set(false);
        self.close_popup();
        self.give_up.borrow_mut().take();
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
}

impl PanelActions {
    fn new(current: Current, dispatcher: UseReducerDispatcher<PanelState>) -> Self {
        let with_run = |f: fn(&Run)| {
            let current = current.clone();
            Callback::from(move |()| {
                let run = current.borrow().clone();
                if let Some(run) = run {
                    f(&run);
                }
            })
        };
        let authorize = with_run(Run::authorize);
        let confirm_clear = with_run(Run::clear);
        let retry = {
            let current = current.clone();
            Callback::from(move |retry: Retry| {
                let run = current.borrow().clone();
                let Some(run) = run else { return };
                match retry {
                    Retry::Authorize => run.authorize(),
                    Retry::Reload => {
                        let page = run.state().page();
                        run.spawn_load(page, true);
                    }
                }
            })
        };
        let go_to_page = Callback::from(move |(page, per_page): (u32, PerPage)| {
            let run = current.borrow().clone();
            if let Some(run) = run {
                spawn_local(async move {
                    run.fetch_page(page, per_page).await;
                });
            }
        });
        let open_clear = {
            let dispatcher = dispatcher.clone();
            Callback::from(move |()| dispatcher.dispatch(Action::OpenConfirm))
        };
        let cancel_clear = Callback::from(move |()| dispatcher.dispatch(Action::CancelConfirm));
        Self {
            authorize,
            retry,
            go_to_page,
            open_clear,
            cancel_clear,
            confirm_clear,
        }
    }
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
    let current: Current = use_mut_ref(|| None);
    // The session outlives runs (a new company keeps the token) and takes every render's props.
    let session = use_memo((), |()| Session::default());
    session.set_props(
        props.session_token.as_ref(),
        props.get_session_token.as_ref(),
    );
    {
        let session = session.clone();
        use_effect_with((), move |()| move || session.stop());
    }

    {
        let dispatcher = state.dispatcher();
        let latest = latest.clone();
        let current = current.clone();
        let session = session.clone();
        use_effect_with(
            (services.clone(), props.company.clone()),
            move |(services, company)| {
                let run = Run {
                    services: (**services).clone(),
                    session: (*session).clone(),
                    company: company.clone(),
                    dispatcher,
                    latest,
                    alive: Rc::new(Cell::new(true)),
                    starting: Rc::new(Cell::new(false)),
                    attempt: Rc::new(Cell::new(0)),
                    popup: Rc::new(RefCell::new(None)),
                    give_up: Rc::new(RefCell::new(None)),
                };
                let subscription = {
                    let run = run.clone();
                    services
                        .browser
                        .listen(Rc::new(move |event| run.on_browser_event(event)))
                };
                *current.borrow_mut() = Some(run.clone());
                run.start();
                move || {
                    run.shutdown();
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
            let run = current.borrow().clone();
            if let Some(run) = run {
                let state = run.state();
                if state.per_page != *per_page && state.history.is_some() {
                    let (run, per_page) = (run.clone(), *per_page);
                    spawn_local(async move {
                        run.fetch_page(1, per_page).await;
                    });
                }
            }
        });
    }

    let actions = {
        let dispatcher = state.dispatcher();
        use_memo((), move |()| PanelActions::new(current, dispatcher))
    };
    OptIn { state, actions }
}
