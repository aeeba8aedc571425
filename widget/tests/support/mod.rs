//! Test doubles of the widget's two seams and a DOM fixture.
//!
//! * [`FakeHost`]: an in-memory host that honours the contract (`POST /start` keeps a real
//!   `PendingAuthorization` from fixed entropy and answers its marker, `POST /exchange` checks
//!   the code and state against it, paging with core's `paginate`, newest first, `Clear` keeps
//!   rows as `cleared`), records every call with its credentials, can accept only some session
//!   tokens, and can be told to fail or to answer slowly.
//! * [`FakeBrowser`]: `sessionStorage` in a map, a URL string, recorded navigations, popups and
//!   `postMessage`s, and a settable clock.
//! * [`FakeSessions`]: a `getSessionToken` that counts its calls and hands out queued tokens.
//! * [`Fixture`]: renders `<TokenManager>` into a fresh element and queries its DOM.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::future::sleep;
use token_manager_core::api::{
    AuthorizationStatus, ClearBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse,
    StartBody, StartResponse, StatusResponse, TokensQuery, TokensResponse,
};
use token_manager_core::flow::DEFAULT_MAX_AGE;
use token_manager_core::history::paginate;
use token_manager_core::{
    CallbackParams, ErrorCode, PendingAuthorization, RecordStatus, ReturnMarker, Timestamp,
    TokenRecord,
};
use token_manager_widget::io::{
    ApiFailure, ApiFuture, BrowserEvent, LocalFuture, Popup, Subscription,
};
use token_manager_widget::{
    Auth, Browser, GetSessionToken, HostApi, Mode, Services, SessionGrant, SessionToken,
    TokenManager, TokenManagerProps, WidgetEvent,
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
        challenge_method: true,
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
                cleared_by: None,
                superseded_by: None,
                revocation: None,
            }
        })
        .collect()
}

/// One call the host was asked, with how it authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// As in [`FakeHost::calls`], e.g. `tokens 1 10`.
    pub call: String,
    /// The `Authorization` header value, e.g. `Bearer tok-1`, if any.
    pub authorization: Option<String>,
    /// The `fetch` credentials mode: `include` (cookies) or `omit`.
    pub credentials: &'static str,
}

/// The fake host's entropy for `seed`: state from the first half, verifier from the second,
/// and the halves differ (so the verifier never equals the state).
pub fn entropy(seed: u8) -> [u8; 64] {
    let mut bytes = [seed; 64];
    bytes[32..].fill(!seed);
    bytes
}

/// The `PKCE` verifier inside a pending authorization (private in core: read from its JSON).
pub fn verifier_of(pending: &PendingAuthorization) -> String {
    serde_json::to_value(pending).unwrap()["code_verifier"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub struct FakeHost {
    pub status: Cell<Option<AuthorizationStatus>>,
    pub rows: RefCell<Vec<TokenRecord>>,
    /// `can_manage` of `GET /tokens` (false: a viewer session).
    pub can_manage: Cell<bool>,
    /// Every call, e.g. `tokens 2 10`, `start demo-co`, `exchange abc`, `clear`.
    pub calls: RefCell<Vec<String>>,
    /// The same calls with their credentials.
    pub requests: RefCell<Vec<Call>>,
    pub starts: RefCell<Vec<StartBody>>,
    pub exchanges: RefCell<Vec<ExchangeBody>>,
    /// The authorizations `POST /start` began (or [`authorized_earlier`] put here), until
    /// exchanged: the host side of the BFF, holding the verifiers.
    pub pendings: RefCell<Vec<PendingAuthorization>>,
    /// The verifiers the exchanges redeemed codes with.
    pub redeemed: RefCell<Vec<String>>,
    /// Entropy seed of the next `POST /start` (then incremented).
    pub entropy: Cell<u8>,
    /// When set, only these bearer tokens are accepted (others, and cookies, get 401).
    pub accepted: RefCell<Option<Vec<String>>>,
    /// Failures to answer with, per method name, consumed in order.
    pub failures: RefCell<BTreeMap<&'static str, VecDeque<ApiFailure>>>,
    /// Answer every call after this long.
    pub delay_ms: Cell<u32>,
}

impl Default for FakeHost {
    fn default() -> Self {
        Self {
            status: Cell::default(),
            rows: RefCell::default(),
            can_manage: Cell::new(true),
            calls: RefCell::default(),
            requests: RefCell::default(),
            starts: RefCell::default(),
            exchanges: RefCell::default(),
            pendings: RefCell::default(),
            redeemed: RefCell::default(),
            entropy: Cell::new(7),
            accepted: RefCell::default(),
            failures: RefCell::default(),
            delay_ms: Cell::default(),
        }
    }
}

impl FakeHost {
    pub fn new(status: AuthorizationStatus, rows: Vec<TokenRecord>) -> Rc<Self> {
        let host = Self::default();
        host.status.set(Some(status));
        *host.rows.borrow_mut() = rows;
        Rc::new(host)
    }

    /// A host with no authorization and no history yet.
    pub fn not_authorized() -> Rc<Self> {
        Self::new(AuthorizationStatus::NotAuthorized, vec![])
    }

    /// A host with an active authorization and these history rows.
    pub fn active(rows: Vec<TokenRecord>) -> Rc<Self> {
        Self::new(AuthorizationStatus::Active, rows)
    }

    /// Accept only these session tokens from now on.
    pub fn accept_only(&self, tokens: &[&str]) {
        *self.accepted.borrow_mut() = Some(tokens.iter().map(|t| (*t).to_owned()).collect());
    }

    /// The `Authorization` header values of the calls to `method`, in order.
    pub fn authorizations(&self, method: &str) -> Vec<Option<String>> {
        self.requests
            .borrow()
            .iter()
            .filter(|c| c.call.split(' ').next() == Some(method))
            .map(|c| c.authorization.clone())
            .collect()
    }

    /// Begin an authorization as `POST /start` does (entropy `seed`, Authorize clicked at
    /// `created_at`): the host keeps it; the authorize URL and the tab's marker are returned.
    pub fn begin(
        &self,
        company: &str,
        seed: u8,
        created_at: Timestamp,
        return_to: Option<&str>,
    ) -> (String, ReturnMarker) {
        let (url, pending) =
            PendingAuthorization::start(&config(), &entropy(seed), created_at, company, return_to)
                .unwrap();
        let marker = pending.marker();
        self.pendings.borrow_mut().push(pending);
        (url.to_string(), marker)
    }

    /// Every call so far authenticated so: its `Authorization` header value (`None`: none) and
    /// its `fetch` credentials mode.
    pub fn assert_every_call(&self, authorization: Option<&str>, credentials: &str) {
        for call in self.requests.borrow().iter() {
            assert_eq!(call.authorization.as_deref(), authorization, "{call:?}");
            assert_eq!(call.credentials, credentials, "{call:?}");
        }
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

    /// Record the call and decide whether it is refused: a session token that is not accepted
    /// (401 `unauthenticated`), then the next queued failure of `method`.
    fn admit(&self, method: &'static str, call: String, auth: &Auth) -> Option<ApiFailure> {
        self.calls.borrow_mut().push(call.clone());
        let token = auth.token().map(|t| t.secret().to_owned());
        self.requests.borrow_mut().push(Call {
            call,
            authorization: token.as_ref().map(|t| format!("Bearer {t}")),
            credentials: auth.credentials(),
        });
        if let Some(accepted) = self.accepted.borrow().as_ref() {
            if !token.is_some_and(|t| accepted.contains(&t)) {
                return Some(ApiFailure::from_response(401, None));
            }
        }
        self.failures
            .borrow_mut()
            .get_mut(method)
            .and_then(VecDeque::pop_front)
    }

    /// The answer, after `delay_ms`.
    fn reply<T: 'static>(&self, result: Result<T, ApiFailure>) -> ApiFuture<T> {
        let delay = self.delay_ms.get();
        Box::pin(async move {
            if delay > 0 {
                sleep(Duration::from_millis(delay.into())).await;
            }
            result
        })
    }

    /// Answer a call: refused as [`admit`](Self::admit) decides, otherwise with what `handle`
    /// does now (it may change the host's state and may itself fail), after `delay_ms`.
    fn answer<T: 'static>(
        &self,
        method: &'static str,
        call: String,
        auth: &Auth,
        handle: impl FnOnce() -> Result<T, ApiFailure>,
    ) -> ApiFuture<T> {
        let result = match self.admit(method, call, auth) {
            Some(refused) => Err(refused),
            None => handle(),
        };
        self.reply(result)
    }
}

/// Put an authorization begun `age_ms` ago on both sides, as Authorize would have: the host
/// keeps the pending authorization, the tab's storage the marker. Returns the state.
pub fn authorized_earlier(
    host: &FakeHost,
    browser: &FakeBrowser,
    company: &str,
    age_ms: i64,
    seed: u8,
    return_to: Option<&str>,
) -> String {
    let created_at = Timestamp(browser.now.get() - age_ms);
    let (_, marker) = host.begin(company, seed, created_at, return_to);
    let state = marker.state().secret().clone();
    browser.storage.borrow_mut().insert(
        format!("token-manager:pending:{company}"),
        serde_json::to_string(&marker).unwrap(),
    );
    state
}

/// A token `getSessionToken` hands out and its `expiresAt`; `None`: it fails.
pub type Grant = Option<(String, Option<i64>)>;

/// A `getSessionToken` that counts its calls and answers the queued grants in order (token and
/// `expiresAt`; `None`, or an empty queue: it fails), after `delay_ms`.
#[derive(Default)]
pub struct FakeSessions {
    pub calls: Cell<u32>,
    pub grants: RefCell<VecDeque<Grant>>,
    pub delay_ms: Cell<u32>,
}

impl FakeSessions {
    pub fn new(grants: &[(&str, Option<i64>)]) -> Rc<Self> {
        let sessions = Self::default();
        sessions.delay_ms.set(20);
        for (token, expires_at) in grants {
            sessions.queue(Some((token, *expires_at)));
        }
        Rc::new(sessions)
    }

    pub fn queue(&self, grant: Option<(&str, Option<i64>)>) {
        self.grants
            .borrow_mut()
            .push_back(grant.map(|(t, at)| (t.to_owned(), at)));
    }

    pub fn callback(self: &Rc<Self>) -> GetSessionToken {
        let sessions = self.clone();
        Callback::from(move |()| -> LocalFuture<Option<SessionGrant>> {
            sessions.calls.set(sessions.calls.get() + 1);
            let grant = sessions.grants.borrow_mut().pop_front().flatten();
            let delay = sessions.delay_ms.get();
            Box::pin(async move {
                sleep(Duration::from_millis(delay.into())).await;
                let (token, expires_at) = grant?;
                Some(SessionGrant {
                    token: SessionToken::new(&token).unwrap(),
                    expires_at: expires_at.map(Timestamp),
                })
            })
        })
    }
}

impl HostApi for FakeHost {
    fn config(&self, auth: &Auth, company: &str) -> ApiFuture<ConfigResponse> {
        self.answer("config", format!("config {company}"), auth, || Ok(config()))
    }

    fn tokens(&self, auth: &Auth, q: &TokensQuery) -> ApiFuture<TokensResponse> {
        let call = format!("tokens {} {}", q.page, q.per_page.get());
        self.answer("tokens", call, auth, || {
            let rows = self.rows.borrow();
            let (window, slice) = paginate(&rows, q.page, q.per_page);
            Ok(TokensResponse {
                status: self.status.get().unwrap(),
                rows: slice.to_vec(),
                total: window.total,
                page: window.page,
                per_page: q.per_page,
                can_manage: self.can_manage.get(),
            })
        })
    }

    fn start(&self, auth: &Auth, body: &StartBody) -> ApiFuture<StartResponse> {
        self.answer("start", format!("start {}", body.company), auth, || {
            self.starts.borrow_mut().push(body.clone());
            let seed = self.entropy.get();
            self.entropy.set(seed.wrapping_add(1));
            // The host's clock: a minute behind the tab's (the tab must not care).
            let created_at = Timestamp(NOW - 60_000);
            let (authorize_url, pending) =
                self.begin(&body.company, seed, created_at, body.return_to.as_deref());
            Ok(StartResponse {
                authorize_url,
                pending,
                expires_at: Timestamp(created_at.as_millis() + 600_000),
            })
        })
    }

    fn exchange(&self, auth: &Auth, body: &ExchangeBody) -> ApiFuture<ExchangeResponse> {
        self.answer("exchange", format!("exchange {}", body.code), auth, || {
            self.exchanges.borrow_mut().push(body.clone());
            // The host side: the pending authorization of that state (single use) validates
            // the same return and gives up its verifier.
            let pending = {
                let mut pendings = self.pendings.borrow_mut();
                pendings
                    .iter()
                    .position(|p| p.state().secret() == &body.state && p.company == body.company)
                    .map(|i| pendings.remove(i))
            };
            let pending = pending.ok_or(ApiFailure::new(ErrorCode::NoPendingAuthorization))?;
            let params = CallbackParams::parse(&format!(
                "?code={}&state={}",
                js_sys::encode_uri_component(&body.code),
                js_sys::encode_uri_component(&body.state)
            ))
            .unwrap()
            .unwrap();
            let request = pending
                .handle_callback(params, Timestamp(NOW), DEFAULT_MAX_AGE)
                .map_err(|e| ApiFailure::new(e.error_code()))?;
            self.redeemed
                .borrow_mut()
                .push(request.code_verifier.secret().clone());
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
                cleared_by: None,
                superseded_by: None,
                revocation: None,
            };
            self.status.set(Some(AuthorizationStatus::Active));
            self.rows.borrow_mut().insert(0, record.clone());
            Ok(ExchangeResponse { record })
        })
    }

    fn clear(&self, auth: &Auth, body: &ClearBody) -> ApiFuture<ClearResponse> {
        self.answer("clear", format!("clear {}", body.company), auth, || {
            self.status.set(Some(AuthorizationStatus::Cleared));
            for r in self.rows.borrow_mut().iter_mut() {
                r.status = RecordStatus::Cleared;
                r.cleared_at = Some(Timestamp(NOW));
            }
            Ok(ClearResponse {
                revocation: None,
                status: AuthorizationStatus::Cleared,
                cleared_at: Timestamp(NOW),
            })
        })
    }

    fn status(&self, auth: &Auth, company: &str) -> ApiFuture<StatusResponse> {
        self.answer("status", format!("status {company}"), auth, || {
            Ok(StatusResponse {
                status: self.status.get().unwrap(),
                since: None,
                reason: None,
            })
        })
    }
}

pub struct FakePopup {
    closed: Rc<Cell<bool>>,
    navigations: Rc<RefCell<Vec<String>>>,
}

impl Popup for FakePopup {
    fn is_closed(&self) -> bool {
        self.closed.get()
    }
    fn close(&self) {
        self.closed.set(true);
    }
    fn navigate(&self, url: &str) {
        self.navigations.borrow_mut().push(url.to_owned());
    }
}

/// What the widget registered through `Browser::listen`.
pub type Handler = Rc<dyn Fn(BrowserEvent)>;

pub struct FakeBrowser {
    pub storage: RefCell<BTreeMap<String, String>>,
    pub url: RefCell<String>,
    pub navigations: RefCell<Vec<String>>,
    pub replaced: RefCell<Vec<String>>,
    /// Popups opened: (URL, name).
    pub popups: RefCell<Vec<(String, String)>>,
    /// Where the popups were sent afterwards.
    pub popup_navigations: Rc<RefCell<Vec<String>>>,
    pub popup_closed: Rc<Cell<bool>>,
    pub popup_blocked: Cell<bool>,
    /// The opener's `sessionStorage`, when this tab is a same-origin popup.
    pub opener_storage: RefCell<Option<BTreeMap<String, String>>>,
    pub posted: RefCell<Vec<String>>,
    pub closed_self: Cell<bool>,
    pub now: Cell<i64>,
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
            popup_navigations: Rc::default(),
            popup_closed: Rc::new(Cell::new(false)),
            popup_blocked: Cell::new(false),
            opener_storage: RefCell::default(),
            posted: RefCell::default(),
            closed_self: Cell::new(false),
            now: Cell::new(NOW),
            handler: RefCell::default(),
        })
    }

    /// Deliver an event as the real browser would (a popup's message, a bfcache restore).
    pub fn fire(&self, event: BrowserEvent) {
        let handler = self.handler.borrow().clone();
        handler.expect("the widget listens")(event);
    }

    /// The stored marker of `company`'s pending authorization, as JSON.
    pub fn pending_json(&self, company: &str) -> Option<String> {
        self.storage
            .borrow()
            .get(&format!("token-manager:pending:{company}"))
            .cloned()
    }

    pub fn pending(&self, company: &str) -> Option<ReturnMarker> {
        let json = self.pending_json(company)?;
        Some(serde_json::from_str(&json).expect("the widget stores core's ReturnMarker"))
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
        Some(Box::new(FakePopup {
            closed: self.popup_closed.clone(),
            navigations: self.popup_navigations.clone(),
        }))
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
        theme: None,
        session_token: None,
        get_session_token: None,
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
    props: TokenManagerProps,
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
        let app =
            yew::Renderer::<TokenManager>::with_root_and_props(root.clone(), p.clone()).render();
        Self {
            root,
            app: Some(app),
            props: p,
            host,
            browser,
            events,
        }
    }

    /// New props for the mounted panel (as `WidgetHandle.update` gives them).
    pub fn update(&mut self, edit: impl FnOnce(&mut TokenManagerProps)) {
        edit(&mut self.props);
        self.app.as_mut().unwrap().update(self.props.clone());
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

    /// The `data-code` of the error shown, if any.
    pub fn alert_code(&self) -> Option<String> {
        self.q("[role=alert]")?.get_attribute("data-code")
    }

    /// The sentence of the error shown.
    pub fn alert_text(&self) -> String {
        self.text("[role=alert] .text")
    }

    /// Click Authorize and wait for `redirecting`.
    pub async fn authorize(&self) {
        self.button("authorize-button").unwrap().click();
        self.wait_state("redirecting").await;
    }

    /// Wait until the tab has navigated `n` times.
    pub async fn wait_navigations(&self, n: usize) {
        wait_for(
            &format!("{n} navigations"),
            || (self.browser.navigations.borrow().len() == n).then_some(()),
            || {
                format!(
                    "navigations {:?}, calls {:?}",
                    self.browser.navigations.borrow(),
                    self.host.calls.borrow()
                )
            },
        )
        .await;
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

/// A panel over `host` in a fresh tab at the portal page, once it shows `state`.
pub async fn panel(host: Rc<FakeHost>, state: &str) -> Fixture {
    panel_with(host, state, |_| {}).await
}

/// [`panel`] with its props edited first.
pub async fn panel_with(
    host: Rc<FakeHost>,
    state: &str,
    edit: impl FnOnce(&mut TokenManagerProps),
) -> Fixture {
    let f = Fixture::with(host, FakeBrowser::new(), edit);
    f.wait_state(state).await;
    f
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
