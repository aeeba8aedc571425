//! Test doubles of the widget's two seams and a DOM fixture.
//!
//! * [`FakeHost`]: an in-memory host that honours the contract (paging with core's
//!   `paginate`, newest first, `Clear` keeps rows as `cleared`), records every call, and can be
//!   told to fail or to answer slowly.
//! * [`FakeBrowser`]: `sessionStorage` in a map, a URL string, recorded navigations, popups and
//!   `postMessage`s, fixed entropy and a settable clock.
//! * [`Fixture`]: renders `<TokenManager>` into a fresh element and queries its DOM.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::sleep;
use token_manager_core::api::{
    AuthorizationStatus, ClearBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse,
    StatusResponse, TokensQuery, TokensResponse,
};
use token_manager_core::history::paginate;
use token_manager_core::{ErrorCode, PendingAuthorization, RecordStatus, Timestamp, TokenRecord};
use token_manager_widget::io::{ApiFailure, BrowserEvent, LocalFuture, Popup, Subscription};
use token_manager_widget::{
    Browser, HostApi, Mode, Services, TokenManager, TokenManagerProps, WidgetEvent,
};
use wasm_bindgen::JsCast;
use web_sys::{Element, HtmlElement};
use yew::{AppHandle, Callback};

/// 2026-11-29T13:05:09.123Z
pub const NOW: i64 = 1_795_957_509_123;
pub const COMPANY: &str = "demo-co";
pub const PORTAL: &str = "https://portal.example/admin/token-manager";

pub fn config() -> ConfigResponse {
    ConfigResponse {
        provider: "ups".into(),
        provider_name: "UPS.com".into(),
        authorize_url: "https://www.ups.com/lasso/signin".into(),
        client_id: "client-1".into(),
        redirect_uri: PORTAL.into(),
        scope: "read".into(),
        pkce: true,
        extra_params: BTreeMap::from([("type".into(), "ups_com_api".into())]),
    }
}

/// `n` history rows, newest first (row 0 is the newest), one hour apart.
pub fn rows(n: usize) -> Vec<TokenRecord> {
    (0..n)
        .map(|i| {
            let created = NOW - i64::try_from(i).unwrap() * 3_600_000;
            TokenRecord {
                id: i64::try_from(n - i).unwrap(),
                company: COMPANY.into(),
                token_created: Timestamp(created),
                token_expires: Timestamp(created + 14_399_000),
                refresh_created: Some(Timestamp(created)),
                refresh_expires: if i == 1 {
                    None
                } else {
                    Some(Timestamp(created + 5_183_999_000))
                },
                status: if i == 0 {
                    RecordStatus::Active
                } else {
                    RecordStatus::Refreshed
                },
                cleared_at: None,
                authorized_by: Some("admin".into()),
            }
        })
        .collect()
}

#[derive(Default)]
pub struct FakeHost {
    pub status: Cell<Option<AuthorizationStatus>>,
    pub rows: RefCell<Vec<TokenRecord>>,
    /// Every call, e.g. `tokens 2 10`, `exchange abc`, `clear`.
    pub calls: RefCell<Vec<String>>,
    pub exchanges: RefCell<Vec<ExchangeBody>>,
    /// Failures to answer with, per method name, consumed in order.
    pub failures: RefCell<BTreeMap<&'static str, VecDeque<ApiFailure>>>,
    /// Answer every call after this long.
    pub delay_ms: Cell<u32>,
}

impl FakeHost {
    pub fn new(status: AuthorizationStatus, rows: Vec<TokenRecord>) -> Rc<Self> {
        let host = Self::default();
        host.status.set(Some(status));
        *host.rows.borrow_mut() = rows;
        Rc::new(host)
    }

    pub fn fail_next(&self, method: &'static str, code: ErrorCode) {
        self.failures
            .borrow_mut()
            .entry(method)
            .or_default()
            .push_back(ApiFailure::new(code));
    }

    pub fn calls_to(&self, method: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.split(' ').next() == Some(method))
            .count()
    }

    fn answer<T: 'static>(
        &self,
        method: &'static str,
        call: String,
        ok: impl FnOnce() -> T + 'static,
    ) -> LocalFuture<Result<T, ApiFailure>> {
        self.calls.borrow_mut().push(call);
        let failure = self
            .failures
            .borrow_mut()
            .get_mut(method)
            .and_then(VecDeque::pop_front);
        let delay = self.delay_ms.get();
        let result = match failure {
            Some(f) => Err(f),
            None => Ok(ok()),
        };
        Box::pin(async move {
            if delay > 0 {
                sleep(Duration::from_millis(delay.into())).await;
            }
            result
        })
    }
}

impl HostApi for FakeHost {
    fn config(&self, company: &str) -> LocalFuture<Result<ConfigResponse, ApiFailure>> {
        self.answer("config", format!("config {company}"), config)
    }

    fn tokens(&self, q: &TokensQuery) -> LocalFuture<Result<TokensResponse, ApiFailure>> {
        let rows = self.rows.borrow().clone();
        let status = self.status.get().unwrap();
        let (page, per_page) = (q.page, q.per_page);
        self.answer(
            "tokens",
            format!("tokens {} {}", q.page, q.per_page.get()),
            move || {
                let (window, slice) = paginate(&rows, page, per_page);
                TokensResponse {
                    status,
                    rows: slice.to_vec(),
                    total: window.total,
                    page: window.page,
                    per_page,
                }
            },
        )
    }

    fn exchange(&self, body: ExchangeBody) -> LocalFuture<Result<ExchangeResponse, ApiFailure>> {
        let call = format!("exchange {}", body.code);
        let record = TokenRecord {
            id: 100,
            company: body.company.clone(),
            token_created: Timestamp(NOW),
            token_expires: Timestamp(NOW + 14_399_000),
            refresh_created: Some(Timestamp(NOW)),
            refresh_expires: Some(Timestamp(NOW + 5_183_999_000)),
            status: RecordStatus::Active,
            cleared_at: None,
            authorized_by: Some("admin".into()),
        };
        let failing = self
            .failures
            .borrow()
            .get("exchange")
            .is_some_and(|q| !q.is_empty());
        if !failing {
            self.exchanges.borrow_mut().push(body);
            self.status.set(Some(AuthorizationStatus::Active));
            self.rows.borrow_mut().insert(0, record.clone());
        }
        self.answer("exchange", call, move || ExchangeResponse { record })
    }

    fn clear(&self, body: &ClearBody) -> LocalFuture<Result<ClearResponse, ApiFailure>> {
        let failing = self
            .failures
            .borrow()
            .get("clear")
            .is_some_and(|q| !q.is_empty());
        if !failing {
            self.status.set(Some(AuthorizationStatus::Cleared));
            for r in self.rows.borrow_mut().iter_mut() {
                r.status = RecordStatus::Cleared;
                r.cleared_at = Some(Timestamp(NOW));
            }
        }
        self.answer("clear", format!("clear {}", body.company), || {
            ClearResponse {
                status: AuthorizationStatus::Cleared,
                cleared_at: Timestamp(NOW),
            }
        })
    }

    fn status(&self, company: &str) -> LocalFuture<Result<StatusResponse, ApiFailure>> {
        let status = self.status.get().unwrap();
        self.answer("status", format!("status {company}"), move || {
            StatusResponse {
                status,
                since: None,
                reason: None,
            }
        })
    }
}

pub struct FakePopup(pub Rc<Cell<bool>>);

impl Popup for FakePopup {
    fn is_closed(&self) -> bool {
        self.0.get()
    }
    fn close(&self) {
        self.0.set(true);
    }
}

/// What the widget registered through `Browser::listen`.
pub type Handler = Rc<dyn Fn(BrowserEvent)>;

pub struct FakeBrowser {
    pub storage: RefCell<BTreeMap<String, String>>,
    pub url: RefCell<String>,
    pub navigations: RefCell<Vec<String>>,
    pub replaced: RefCell<Vec<String>>,
    pub popups: RefCell<Vec<(String, String)>>,
    pub popup_closed: Rc<Cell<bool>>,
    pub popup_blocked: Cell<bool>,
    /// The opener's `sessionStorage`, when this tab is a same-origin popup.
    pub opener_storage: RefCell<Option<BTreeMap<String, String>>>,
    pub posted: RefCell<Vec<String>>,
    pub closed_self: Cell<bool>,
    pub now: Cell<i64>,
    pub entropy: Cell<u8>,
    pub handler: RefCell<Option<Handler>>,
}

impl FakeBrowser {
    pub fn new() -> Rc<Self> {
        Self::at(PORTAL)
    }

    pub fn at(url: &str) -> Rc<Self> {
        Rc::new(Self {
            storage: RefCell::default(),
            url: RefCell::new(url.to_owned()),
            navigations: RefCell::default(),
            replaced: RefCell::default(),
            popups: RefCell::default(),
            popup_closed: Rc::new(Cell::new(false)),
            popup_blocked: Cell::new(false),
            opener_storage: RefCell::default(),
            posted: RefCell::default(),
            closed_self: Cell::new(false),
            now: Cell::new(NOW),
            entropy: Cell::new(7),
            handler: RefCell::default(),
        })
    }

    /// Deliver an event as the real browser would (a popup's message, a bfcache restore).
    pub fn fire(&self, event: BrowserEvent) {
        let handler = self.handler.borrow().clone();
        handler.expect("the widget listens")(event);
    }

    pub fn pending(&self, company: &str) -> Option<PendingAuthorization> {
        let json = self
            .storage
            .borrow()
            .get(&format!("token-manager:pending:{company}"))
            .cloned()?;
        Some(serde_json::from_str(&json).expect("the widget stores core's PendingAuthorization"))
    }

    /// Store a pending authorization as Authorize would have, `age_ms` ago; returns its state.
    pub fn store_pending(&self, company: &str, age_ms: i64, seed: u8) -> String {
        self.store_pending_from(company, age_ms, seed, None)
    }

    /// Like [`store_pending`](Self::store_pending), as if Authorize was clicked on `return_to`.
    pub fn store_pending_from(
        &self,
        company: &str,
        age_ms: i64,
        seed: u8,
        return_to: Option<&str>,
    ) -> String {
        let (url, pending) = PendingAuthorization::start(
            &config(),
            &[seed; 64],
            Timestamp(self.now.get() - age_ms),
            company,
            return_to,
        )
        .unwrap();
        let state = url
            .query_pairs()
            .find(|(k, _)| k == "state")
            .unwrap()
            .1
            .into_owned();
        self.storage.borrow_mut().insert(
            format!("token-manager:pending:{company}"),
            serde_json::to_string(&pending).unwrap(),
        );
        state
    }
}

impl Browser for FakeBrowser {
    fn storage_get(&self, key: &str) -> Option<String> {
        self.storage.borrow().get(key).cloned()
    }
    fn storage_set(&self, key: &str, value: &str) -> bool {
        self.storage
            .borrow_mut()
            .insert(key.to_owned(), value.to_owned());
        true
    }
    fn storage_remove(&self, key: &str) {
        self.storage.borrow_mut().remove(key);
    }
    fn storage_keys(&self) -> Vec<String> {
        self.storage.borrow().keys().cloned().collect()
    }
    fn current_url(&self) -> String {
        self.url.borrow().clone()
    }
    fn replace_url(&self, url: &str) {
        self.replaced.borrow_mut().push(url.to_owned());
        *self.url.borrow_mut() = url.to_owned();
    }
    fn navigate(&self, url: &str) {
        self.navigations.borrow_mut().push(url.to_owned());
    }
    fn open_popup(&self, url: &str, name: &str) -> Option<Box<dyn Popup>> {
        if self.popup_blocked.get() {
            return None;
        }
        self.popups
            .borrow_mut()
            .push((url.to_owned(), name.to_owned()));
        Some(Box::new(FakePopup(self.popup_closed.clone())))
    }
    fn opener_storage_get(&self, key: &str) -> Option<String> {
        self.opener_storage.borrow().as_ref()?.get(key).cloned()
    }
    fn post_to_opener(&self, search: &str) -> bool {
        if self.opener_storage.borrow().is_none() {
            return false;
        }
        self.posted.borrow_mut().push(search.to_owned());
        true
    }
    fn close_window(&self) {
        self.closed_self.set(true);
    }
    fn random_64(&self) -> Option<[u8; 64]> {
        let seed = self.entropy.get();
        self.entropy.set(seed.wrapping_add(1));
        Some([seed; 64])
    }
    fn now(&self) -> Timestamp {
        Timestamp(self.now.get())
    }
    fn listen(&self, handler: Rc<dyn Fn(BrowserEvent)>) -> Subscription {
        *self.handler.borrow_mut() = Some(handler);
        Box::new(())
    }
}

pub fn props(host: &Rc<FakeHost>, browser: &Rc<FakeBrowser>) -> TokenManagerProps {
    TokenManagerProps {
        api: "/api/optin".into(),
        company: COMPANY.into(),
        page_size: Default::default(),
        mode: Mode::Redirect,
        locale: Default::default(),
        time_zone: Some("UTC".into()),
        help_text: None,
        on_event: Callback::noop(),
        services: Some(Services {
            host: host.clone(),
            browser: browser.clone(),
        }),
    }
}

/// A rendered panel; unmounted and removed on drop.
pub struct Fixture {
    pub root: Element,
    app: Option<AppHandle<TokenManager>>,
    pub host: Rc<FakeHost>,
    pub browser: Rc<FakeBrowser>,
    pub events: Rc<RefCell<Vec<WidgetEvent>>>,
}

impl Fixture {
    pub fn new(host: Rc<FakeHost>, browser: Rc<FakeBrowser>) -> Self {
        Self::with(host, browser, |_| {})
    }

    pub fn with(
        host: Rc<FakeHost>,
        browser: Rc<FakeBrowser>,
        edit: impl FnOnce(&mut TokenManagerProps),
    ) -> Self {
        let document = gloo_utils_document();
        let root = document.create_element("div").unwrap();
        document.body().unwrap().append_child(&root).unwrap();
        let events = Rc::new(RefCell::new(Vec::new()));
        let mut p = props(&host, &browser);
        {
            let events = events.clone();
            p.on_event = Callback::from(move |e| events.borrow_mut().push(e));
        }
        edit(&mut p);
        let app = yew::Renderer::<TokenManager>::with_root_and_props(root.clone(), p).render();
        Self {
            root,
            app: Some(app),
            host,
            browser,
            events,
        }
    }

    pub fn q(&self, selector: &str) -> Option<Element> {
        self.root.query_selector(selector).unwrap()
    }

    pub fn all(&self, selector: &str) -> Vec<Element> {
        let list = self.root.query_selector_all(selector).unwrap();
        (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<Element>().ok())
            .collect()
    }

    pub fn text(&self, selector: &str) -> String {
        self.q(selector)
            .and_then(|e| e.text_content())
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    pub fn state(&self) -> String {
        self.q(".panel")
            .and_then(|p| p.get_attribute("data-state"))
            .unwrap_or_default()
    }

    pub fn click(&self, selector: &str) {
        self.q(selector)
            .unwrap_or_else(|| panic!("no {selector} in {}", self.root.inner_html()))
            .dyn_into::<HtmlElement>()
            .unwrap()
            .click();
    }

    pub fn button(&self, part: &str) -> Option<HtmlElement> {
        self.all("button")
            .into_iter()
            .find(|b| {
                b.get_attribute("part")
                    .is_some_and(|p| p.split(' ').any(|x| x == part))
            })
            .map(|b| b.dyn_into().unwrap())
    }

    pub async fn wait_state(&self, state: &str) {
        let what = format!("state {state}");
        wait_for(
            &what,
            || (self.state() == state).then_some(()),
            || format!("state {}: {}", self.state(), self.root.inner_html()),
        )
        .await;
    }

    pub async fn wait_text(&self, selector: &str, text: &str) {
        let what = format!("{selector} to read {text:?}");
        wait_for(
            &what,
            || (self.text(selector) == text).then_some(()),
            || format!("{selector} reads {:?}", self.text(selector)),
        )
        .await;
    }

    pub fn event_names(&self) -> Vec<String> {
        self.events
            .borrow()
            .iter()
            .map(|e| match e {
                WidgetEvent::StateChange { state, .. } => format!("statechange:{state}"),
                other => other.name().to_owned(),
            })
            .collect()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        self.root.remove();
    }
}

pub fn gloo_utils_document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Poll `f` every 10 ms for up to 5 s.
pub async fn wait_for<T>(
    what: &str,
    mut f: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    for _ in 0..500 {
        if let Some(v) = f() {
            return v;
        }
        sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}; {}", describe());
}

/// Let the panel settle (pending renders and immediately-ready futures).
pub async fn settle() {
    sleep(Duration::from_millis(30)).await;
}
