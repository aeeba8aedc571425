//! The widget's IO, behind two small traits so tests can swap it.
//!
//! * [`HostApi`]: the widget ↔ host HTTP contract ([`token_manager_core::api`]; the host
//!   serves it as `openapi.json`). Every call says how it authenticates ([`Auth`]: the portal's
//!   session token as a bearer token, or the portal's cookies).
//!   [`HttpHost`] speaks it with `gloo-net`, a timeout and the CSRF header.
//! * [`Browser`]: the tab: `sessionStorage`, the URL, navigation, popups and the clock.
//!   [`WebBrowser`] is the real one.
//!
//! Everything here only *carries* data; every decision is made by `token-manager-core` or the
//! reducer in [`crate::state`].

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Serialize;
use token_manager_core::api::{
    ApiErrorBody, ClearBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse,
    StartBody, StartResponse, StatusResponse, TokensQuery, TokensResponse, CSRF_HEADER,
};
use token_manager_core::{ErrorCode, Timestamp};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{RequestCredentials, Window};

/// A future the widget awaits on the browser's single thread.
pub type LocalFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// What a [`HostApi`] call resolves to: the host's answer, or why there was none.
pub type ApiFuture<T> = LocalFuture<Result<T, ApiFailure>>;

/// Default time the widget waits for the host before showing [`ErrorCode::Timeout`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// `sessionStorage` key prefix of the tab's pending authorizations (core's
/// [`ReturnMarker`](token_manager_core::ReturnMarker): no verifier); the company follows.
pub const PENDING_KEY_PREFIX: &str = "token-manager:pending:";

/// `postMessage` type a popup sends to its opener with the return's query string.
pub const CALLBACK_MESSAGE_TYPE: &str = "token-manager:callback";

/// The `sessionStorage` key holding the return marker of `company`'s pending authorization.
pub fn pending_key(company: &str) -> String {
    format!("{PENDING_KEY_PREFIX}{company}")
}

/// A session token of the portal, sent as `Authorization: Bearer <token>`. Its `Debug` is
/// redacted and it is never serialized: it is not logged, not put in a URL, not stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(Rc<str>);

impl SessionToken {
    /// Longest accepted token (bytes; a token carries its user's companies).
    pub const MAX_LEN: usize = 16 * 1024;

    /// `token`, trimmed, when it can travel in an `Authorization` header: 1 to
    /// [`MAX_LEN`](Self::MAX_LEN) visible ASCII characters (no spaces, no line breaks).
    pub fn new(token: &str) -> Option<Self> {
        let token = token.trim();
        let usable = !token.is_empty()
            && token.len() <= Self::MAX_LEN
            && token.bytes().all(|b| b.is_ascii_graphic());
        usable.then(|| Self(token.into()))
    }

    /// The token itself (for the `Authorization` header only).
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// How a host call authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// The portal's cookies (`credentials: "include"`): the widget has no session token.
    Cookies,
    /// `Authorization: Bearer <token>` and no cookies (`credentials: "omit"`), so a host on
    /// another site works with third-party cookies blocked.
    Bearer(SessionToken),
}

impl Auth {
    /// The `fetch` credentials mode of the call: `"include"` or `"omit"`.
    pub fn credentials(&self) -> &'static str {
        match self {
            Auth::Cookies => "include",
            Auth::Bearer(_) => "omit",
        }
    }

    /// The token, when the call carries one.
    pub fn token(&self) -> Option<&SessionToken> {
        match self {
            Auth::Cookies => None,
            Auth::Bearer(token) => Some(token),
        }
    }
}

/// Why a host call failed: a stable code (mapped to text by core's `Messages`) and, when the
/// host sent one, its plain message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// Stable code.
    pub code: ErrorCode,
    /// HTTP status, when there was a response.
    pub status: Option<u16>,
    /// The host's plain message, if any (never shown instead of the localized text).
    pub message: Option<String>,
}

impl ApiFailure {
    /// A failure with only a code.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            status: None,
            message: None,
        }
    }

    /// The failure of a non-2xx response: the host's `{"error":{"code":…}}` when it sent one
    /// (so a 403 `csrf_rejected` stays that), otherwise a code chosen from the status (a proxy
    /// or a foreign backend answered; a bare 403 is `forbidden`).
    pub fn from_response(status: u16, body: Option<ApiErrorBody>) -> Self {
        if let Some(body) = body {
            return Self {
                code: body.error.code,
                status: Some(status),
                message: Some(body.error.message),
            };
        }
        let code = match status {
            401 => ErrorCode::Unauthenticated,
            403 => ErrorCode::Forbidden,
            404 => ErrorCode::NotFound,
            408 => ErrorCode::Timeout,
            429 => ErrorCode::RateLimited,
            502..=504 => ErrorCode::HostUnreachable,
            400..=499 => ErrorCode::InvalidRequest,
            _ => ErrorCode::Internal,
        };
        Self {
            code,
            status: Some(status),
            message: None,
        }
    }
}

/// The widget ↔ host HTTP contract, one method per endpoint, in the types of
/// [`token_manager_core::api`]. Paths are relative to the widget's `api` base URL; `auth` says
/// how each call authenticates (the widget renews a session token and retries once when a call
/// answers `unauthenticated`).
///
/// Implement it to serve the widget from another backend in Rust apps, or to fake the host in
/// tests. Every method resolves (never hangs): implementations own their timeouts.
pub trait HostApi {
    /// `GET /config?company=`.
    fn config(&self, auth: &Auth, company: &str) -> ApiFuture<ConfigResponse>;
    /// `GET /tokens?company=&page=&per_page=`.
    fn tokens(&self, auth: &Auth, query: &TokensQuery) -> ApiFuture<TokensResponse>;
    /// `POST /start` (CSRF header): the host starts the authorization (it keeps the PKCE
    /// verifier) and answers the authorize URL and the tab's return marker.
    fn start(&self, auth: &Auth, body: &StartBody) -> ApiFuture<StartResponse>;
    /// `POST /exchange` (CSRF header): the return's code and state.
    fn exchange(&self, auth: &Auth, body: &ExchangeBody) -> ApiFuture<ExchangeResponse>;
    /// `POST /clear` (CSRF header).
    fn clear(&self, auth: &Auth, body: &ClearBody) -> ApiFuture<ClearResponse>;
    /// `GET /status?company=`.
    fn status(&self, auth: &Auth, company: &str) -> ApiFuture<StatusResponse>;
}

/// [`HostApi`] over HTTP with `gloo-net`: JSON bodies; with a session token, `Authorization:
/// Bearer` and no cookies, otherwise the portal's cookies; the CSRF header on state-changing
/// calls; and a timeout that aborts the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHost {
    base: String,
    timeout: Duration,
}

impl HttpHost {
    /// A client for the API at `api` (absolute or page-relative, e.g. `/api/optin`), with
    /// [`DEFAULT_TIMEOUT`].
    pub fn new(api: &str) -> Self {
        Self::with_timeout(api, DEFAULT_TIMEOUT)
    }

    /// Same, with another timeout (per request, headers and body together).
    pub fn with_timeout(api: &str, timeout: Duration) -> Self {
        Self {
            base: api.trim().trim_end_matches('/').to_owned(),
            timeout,
        }
    }

    /// The base URL requests are made against.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn get<T: DeserializeOwned + 'static>(
        &self,
        auth: &Auth,
        path: &str,
        query: &[(&str, &str)],
    ) -> ApiFuture<T> {
        let builder = authenticate(
            Request::get(&self.url(path)).query(query.iter().copied()),
            auth,
        );
        let answer = send(builder, None, self.timeout);
        Box::pin(async move { parse(answer.await?) })
    }

    fn post<B: Serialize, T: DeserializeOwned + 'static>(
        &self,
        auth: &Auth,
        path: &str,
        body: &B,
    ) -> ApiFuture<T> {
        let builder = authenticate(
            Request::post(&self.url(path)).header(CSRF_HEADER, "1"),
            auth,
        );
        let answer =
            crate::json::to_string(body).map(|json| send(builder, Some(json), self.timeout));
        Box::pin(async move {
            let answer = answer.ok_or(ApiFailure::new(ErrorCode::Internal))?;
            parse(answer.await?)
        })
    }
}

/// The request with its credentials: the bearer token and no cookies, or the cookies.
fn authenticate(builder: RequestBuilder, auth: &Auth) -> RequestBuilder {
    match auth {
        Auth::Cookies => builder.credentials(RequestCredentials::Include),
        Auth::Bearer(token) => builder
            .header("Authorization", &format!("Bearer {}", token.secret()))
            .credentials(RequestCredentials::Omit),
    }
}

/// A 2xx answer's body as `T`, any other answer as its [`ApiFailure`].
fn parse<T: DeserializeOwned>((status, ok, text): (u16, bool, String)) -> Result<T, ApiFailure> {
    if !ok {
        return Err(ApiFailure::from_response(
            status,
            crate::json::from_str(&text),
        ));
    }
    crate::json::from_str(&text).ok_or_else(|| ApiFailure {
        code: ErrorCode::Internal,
        status: Some(status),
        message: Some("the answer of the Token Manager service could not be read".into()),
    })
}

/// Send with a timeout and read the body: an `AbortController` aborts the fetch (and the body
/// read) when the timer fires; the `timed_out` flag tells a timeout from a network failure.
/// Resolves to `(status, ok, body)`. Not generic, so it exists once in the wasm.
fn send(
    builder: RequestBuilder,
    json: Option<String>,
    timeout: Duration,
) -> ApiFuture<(u16, bool, String)> {
    Box::pin(async move {
        let controller = web_sys::AbortController::new().ok();
        let timed_out = Rc::new(Cell::new(false));
        let _timer = controller.clone().map(|controller| {
            let timed_out = timed_out.clone();
            let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
            gloo_timers::callback::Timeout::new(millis, move || {
                timed_out.set(true);
                controller.abort();
            })
        });
        let builder = builder.abort_signal(controller.as_ref().map(|c| c.signal()).as_ref());
        let failed = |_| {
            ApiFailure::new(if timed_out.get() {
                ErrorCode::Timeout
            } else {
                ErrorCode::HostUnreachable
            })
        };
        let request = match json {
            Some(json) => builder
                .header("Content-Type", "application/json")
                .body(json)
                .map_err(|_| ApiFailure::new(ErrorCode::Internal))?,
            None => builder
                .build()
                .map_err(|_| ApiFailure::new(ErrorCode::InvalidConfig))?,
        };
        let response: Response = request.send().await.map_err(failed)?;
        let text = response.text().await.map_err(failed)?;
        Ok((response.status(), response.ok(), text))
    })
}

impl HostApi for HttpHost {
    fn config(&self, auth: &Auth, company: &str) -> ApiFuture<ConfigResponse> {
        self.get(auth, "config", &[("company", company)])
    }

    fn tokens(&self, auth: &Auth, query: &TokensQuery) -> ApiFuture<TokensResponse> {
        let (page, per_page) = (query.page.to_string(), query.per_page.get().to_string());
        self.get(
            auth,
            "tokens",
            &[
                ("company", query.company.as_str()),
                ("page", page.as_str()),
                ("per_page", per_page.as_str()),
            ],
        )
    }

    fn start(&self, auth: &Auth, body: &StartBody) -> ApiFuture<StartResponse> {
        self.post(auth, "start", body)
    }

    fn exchange(&self, auth: &Auth, body: &ExchangeBody) -> ApiFuture<ExchangeResponse> {
        self.post(auth, "exchange", body)
    }

    fn clear(&self, auth: &Auth, body: &ClearBody) -> ApiFuture<ClearResponse> {
        self.post(auth, "clear", body)
    }

    fn status(&self, auth: &Auth, company: &str) -> ApiFuture<StatusResponse> {
        self.get(auth, "status", &[("company", company)])
    }
}

/// Something the tab tells the widget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserEvent {
    /// A same-origin popup posted `{type: "token-manager:callback", search}`.
    CallbackMessage(String),
    /// The page came back from the back/forward cache (a redirect did not happen after all).
    PageRestored,
}

thread_local! {
    /// The popups this page opened for a sign-in (closed ones are dropped on the next open).
    static OUR_POPUPS: std::cell::RefCell<Vec<web_sys::Window>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// An open popup window.
pub trait Popup {
    /// Has the user (or the page) closed it?
    fn is_closed(&self) -> bool;
    /// Close it.
    fn close(&self);
    /// Send it to `url` (it is opened blank within the click, before the host answered: a
    /// popup opened later would be blocked).
    fn navigate(&self, url: &str);
}

/// Keeps a subscription alive; dropping it unsubscribes.
pub type Subscription = Box<dyn std::any::Any>;

/// The tab the widget lives in.
pub trait Browser {
    /// `sessionStorage.getItem`.
    fn storage_get(&self, key: &str) -> Option<String>;
    /// `sessionStorage.setItem`; `false` when storage is unavailable or full.
    fn storage_set(&self, key: &str, value: &str) -> bool;
    /// `sessionStorage.removeItem`.
    fn storage_remove(&self, key: &str);
    /// Every `sessionStorage` key.
    fn storage_keys(&self) -> Vec<String>;
    /// `location.href`.
    fn current_url(&self) -> String;
    /// `history.replaceState(…, url)`.
    fn replace_url(&self, url: &str);
    /// `location.assign(url)`.
    fn navigate(&self, url: &str);
    /// `window.open(url, name, "popup,…")`; `None` when blocked.
    fn open_popup(&self, url: &str, name: &str) -> Option<Box<dyn Popup>>;
    /// When this window is a popup opened by a same-origin page: that page's
    /// `sessionStorage.getItem(key)`.
    fn opener_storage_get(&self, key: &str) -> Option<String>;
    /// Post `{type: "token-manager:callback", search}` to the same-origin opener (target origin:
    /// our own); `false` when there is no such opener.
    fn post_to_opener(&self, search: &str) -> bool;
    /// `window.close()`.
    fn close_window(&self);
    /// `Date.now()`.
    fn now(&self) -> Timestamp;
    /// Listen for [`BrowserEvent`]s until the returned subscription is dropped.
    fn listen(&self, handler: Rc<dyn Fn(BrowserEvent)>) -> Subscription;
}

/// The real [`Browser`]: `window`, `sessionStorage`, `history`, `postMessage`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebBrowser;

fn window() -> Option<Window> {
    web_sys::window()
}

fn session_storage() -> Option<web_sys::Storage> {
    window()?.session_storage().ok().flatten()
}

/// Our origin, e.g. `https://portal.example`.
fn own_origin() -> Option<String> {
    window()?.location().origin().ok()
}

/// The opener window when it exists and is same-origin (reading its origin throws otherwise).
fn same_origin_opener() -> Option<Window> {
    let opener = window()?.opener().ok()?;
    // Not `dyn_into`: a window of another browsing context fails `instanceof Window` here.
    // The origin check below is the guard.
    if opener.is_null() || opener.is_undefined() {
        return None;
    }
    let opener: Window = opener.unchecked_into();
    let origin = opener.location().origin().ok()?;
    (Some(origin) == own_origin()).then_some(opener)
}

struct WebPopup(Window);

impl Popup for WebPopup {
    fn is_closed(&self) -> bool {
        self.0.closed().unwrap_or(true)
    }
    fn close(&self) {
        let _ = self.0.close();
    }
    fn navigate(&self, url: &str) {
        let _ = self.0.location().set_href(url);
    }
}

impl Browser for WebBrowser {
    fn storage_get(&self, key: &str) -> Option<String> {
        session_storage()?.get_item(key).ok().flatten()
    }

    fn storage_set(&self, key: &str, value: &str) -> bool {
        session_storage().is_some_and(|s| s.set_item(key, value).is_ok())
    }

    fn storage_remove(&self, key: &str) {
        if let Some(s) = session_storage() {
            let _ = s.remove_item(key);
        }
    }

    fn storage_keys(&self) -> Vec<String> {
        let Some(storage) = session_storage() else {
            return Vec::new();
        };
        let len = storage.length().unwrap_or(0);
        (0..len)
            .filter_map(|i| storage.key(i).ok().flatten())
            .collect()
    }

    fn current_url(&self) -> String {
        window()
            .and_then(|w| w.location().href().ok())
            .unwrap_or_default()
    }

    fn replace_url(&self, url: &str) {
        if let Some(history) = window().and_then(|w| w.history().ok()) {
            let state = history.state().unwrap_or(JsValue::NULL);
            let _ = history.replace_state_with_url(&state, "", Some(url));
        }
    }

    fn navigate(&self, url: &str) {
        if let Some(w) = window() {
            let _ = w.location().assign(url);
        }
    }

    fn open_popup(&self, url: &str, name: &str) -> Option<Box<dyn Popup>> {
        let popup = window()?
            .open_with_url_and_target_and_features(url, name, "popup,width=520,height=720")
            .ok()
            .flatten()?;
        OUR_POPUPS.with(|p| {
            let mut p = p.borrow_mut();
            p.retain(|w| !w.closed().unwrap_or(true));
            p.push(popup.clone());
        });
        Some(Box::new(WebPopup(popup)))
    }

    fn opener_storage_get(&self, key: &str) -> Option<String> {
        same_origin_opener()?
            .session_storage()
            .ok()
            .flatten()?
            .get_item(key)
            .ok()
            .flatten()
    }

    fn post_to_opener(&self, search: &str) -> bool {
        let (Some(opener), Some(origin)) = (same_origin_opener(), own_origin()) else {
            return false;
        };
        let message = js_sys::Object::new();
        let set = |k: &str, v: &str| {
            js_sys::Reflect::set(&message, &JsValue::from_str(k), &JsValue::from_str(v)).is_ok()
        };
        set("type", CALLBACK_MESSAGE_TYPE)
            && set("search", search)
            && opener.post_message(&message, &origin).is_ok()
    }

    fn close_window(&self) {
        if let Some(w) = window() {
            let _ = w.close();
        }
    }

    fn now(&self) -> Timestamp {
        // `Date.now()` is an integral number of milliseconds well inside i64.
        #[allow(clippy::cast_possible_truncation)]
        Timestamp::from_millis(js_sys::Date::now() as i64)
    }

    fn listen(&self, handler: Rc<dyn Fn(BrowserEvent)>) -> Subscription {
        let Some(w) = window() else {
            return Box::new(());
        };
        let on_message = {
            let handler = handler.clone();
            gloo_events::EventListener::new(&w, "message", move |event| {
                let Some(event) = event.dyn_ref::<web_sys::MessageEvent>() else {
                    return;
                };
                // Only our own origin may hand us a return (the popup is the portal page), and
                // only from a popup this page opened (another same-origin window or frame
                // must not be able to answer for it).
                if Some(event.origin()) != own_origin() {
                    return;
                }
                let ours = event.source().is_some_and(|source| {
                    OUR_POPUPS.with(|p| {
                        p.borrow()
                            .iter()
                            .any(|w| js_sys::Object::is(source.as_ref(), w.as_ref()))
                    })
                });
                if !ours {
                    return;
                }
                let data = event.data();
                let field = |k: &str| {
                    js_sys::Reflect::get(&data, &JsValue::from_str(k))
                        .ok()
                        .and_then(|v| v.as_string())
                };
                if field("type").as_deref() == Some(CALLBACK_MESSAGE_TYPE) {
                    if let Some(search) = field("search") {
                        handler(BrowserEvent::CallbackMessage(search));
                    }
                }
            })
        };
        let on_pageshow = gloo_events::EventListener::new(&w, "pageshow", move |event| {
            let restored = event
                .dyn_ref::<web_sys::PageTransitionEvent>()
                .is_some_and(web_sys::PageTransitionEvent::persisted);
            if restored {
                handler(BrowserEvent::PageRestored);
            }
        });
        Box::new((on_message, on_pageshow))
    }
}

/// The IO a [`TokenManager`](crate::TokenManager) uses; compared by identity so a new value
/// (not a re-render) restarts the panel.
#[derive(Clone)]
pub struct Services {
    /// The host contract.
    pub host: Rc<dyn HostApi>,
    /// The tab.
    pub browser: Rc<dyn Browser>,
}

impl Services {
    /// Real IO: [`HttpHost`] at `api` and [`WebBrowser`].
    pub fn web(api: &str) -> Self {
        Self {
            host: Rc::new(HttpHost::new(api)),
            browser: Rc::new(WebBrowser),
        }
    }
}

impl PartialEq for Services {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.host, &other.host) && Rc::ptr_eq(&self.browser, &other.browser)
    }
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Services { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_keep_the_hosts_code() {
        let body = serde_json::from_str(r#"{"error":{"code":"invalid_grant","message":"used"}}"#);
        let f = ApiFailure::from_response(409, body.ok());
        assert_eq!(f.code, ErrorCode::InvalidGrant);
        assert_eq!(f.message.as_deref(), Some("used"));
        assert_eq!(f.status, Some(409));
    }

    #[test]
    fn bare_statuses_get_a_code() {
        let code = |s| ApiFailure::from_response(s, None).code;
        assert_eq!(code(502), ErrorCode::HostUnreachable);
        assert_eq!(code(401), ErrorCode::Unauthenticated);
        assert_eq!(code(403), ErrorCode::Forbidden);
        assert_eq!(code(429), ErrorCode::RateLimited);
        assert_eq!(code(400), ErrorCode::InvalidRequest);
        assert_eq!(code(500), ErrorCode::Internal);
    }

    #[test]
    fn a_403_body_keeps_csrf_rejected() {
        let body = serde_json::from_str(r#"{"error":{"code":"csrf_rejected","message":"no"}}"#);
        let f = ApiFailure::from_response(403, body.ok());
        assert_eq!(f.code, ErrorCode::CsrfRejected);
        let body = serde_json::from_str(r#"{"error":{"code":"forbidden","message":"viewer"}}"#);
        assert_eq!(
            ApiFailure::from_response(403, body.ok()).code,
            ErrorCode::Forbidden
        );
    }

    #[test]
    fn session_tokens_fit_a_header_and_never_print() {
        let token = SessionToken::new("  tms_abc.DEF-123~+/=  ").expect("a usable token");
        assert_eq!(token.secret(), "tms_abc.DEF-123~+/=");
        assert_eq!(format!("{token:?}"), "SessionToken([redacted])");
        let auth = Auth::Bearer(token);
        assert!(!format!("{auth:?}").contains("tms_abc"));
        assert_eq!(auth.credentials(), "omit");
        assert_eq!(Auth::Cookies.credentials(), "include");
        for bad in [
            "",
            "   ",
            "a b",
            "a\r\nX-Evil: 1",
            "é",
            &"x".repeat(16 * 1024 + 1),
        ] {
            assert!(SessionToken::new(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn base_url_is_trimmed() {
        assert_eq!(HttpHost::new(" /api/optin/ ").base(), "/api/optin");
        assert_eq!(
            HttpHost::new("/api/optin").url("config"),
            "/api/optin/config"
        );
    }
}
