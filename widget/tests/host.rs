//! The real IO in headless Chromium: the `gloo-net` client's timeout and network errors, the
//! JS `mount` API (shadow root, options, events, destroy), and — when `TM_TEST_HOST` was set at
//! compile time — the real host-example.
//!
//! For the host-example test, start the host with
//! `--allowed-origin http://127.0.0.1:<port>` and run the tests with
//! `WASM_BINDGEN_TEST_ADDRESS=127.0.0.1:<port>` so the test page has that origin, and mint a
//! session for an admin of `demo-co` (`POST {host}/api/v1/sessions` with the host's API key)
//! into `TM_TEST_SESSION_TOKEN`, also at compile time: the calls carry it as a bearer token and
//! send no cookies.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::time::Duration;

use gloo_timers::future::sleep;
use js_sys::{Array, Function, Object, Reflect};
use support::{gloo_utils_document, wait_for};
use token_manager_core::api::{ExchangeBody, StartBody, TokensQuery};
use token_manager_core::{ErrorCode, PerPage};
use token_manager_widget::{mount, Auth, HostApi, HttpHost, SessionToken, WidgetHandle};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::*;
use web_sys::{HtmlElement, ShadowRoot};

wasm_bindgen_test_configure!(run_in_browser);

fn origin() -> String {
    web_sys::window().unwrap().location().origin().unwrap()
}

fn tokens_query(company: &str) -> TokensQuery {
    TokensQuery {
        company: company.into(),
        page: 1,
        per_page: PerPage::Ten,
    }
}

#[wasm_bindgen_test]
async fn a_slow_host_times_out() {
    // A zero timeout fires before any answer can arrive.
    let host = HttpHost::with_timeout(&origin(), Duration::ZERO);
    let failure = host.config(&Auth::Cookies, "demo-co").await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::Timeout);
}

#[wasm_bindgen_test]
async fn an_unreachable_host_is_reported() {
    let host = HttpHost::new("http://127.0.0.1:9/api/optin");
    let failure = host
        .tokens(&Auth::Cookies, &tokens_query("demo-co"))
        .await
        .unwrap_err();
    assert_eq!(failure.code, ErrorCode::HostUnreachable);
}

#[wasm_bindgen_test]
async fn a_foreign_answer_maps_to_a_code() {
    // The test server answers 404 (not our JSON) for an unknown path.
    let host = HttpHost::new(&format!("{}/no-such-api", origin()));
    let token = Auth::Bearer(SessionToken::new("tms1.not-a-real-token").unwrap());
    let failure = host
        .tokens(&token, &tokens_query("demo-co"))
        .await
        .unwrap_err();
    assert_eq!(failure.status, Some(404));
    assert_eq!(failure.code, ErrorCode::NotFound);
}

/// `window.fetch` replaced for `https://recorded.invalid/…`: every request is recorded (URL,
/// method, credentials mode, `Authorization` and CSRF headers) and answered like a host with
/// no authorization yet; other URLs go to the real fetch. Restored on drop.
struct RecordedFetch {
    original: JsValue,
    seen: Array,
}

const RECORDED: &str = "https://recorded.invalid/api/optin";

impl RecordedFetch {
    fn install() -> Self {
        let window = web_sys::window().unwrap();
        let original = Reflect::get(&window, &"fetch".into()).unwrap();
        let seen = Array::new();
        let fake = Function::new_with_args(
            "original, seen, input, init",
            r#"
            const request = new Request(input, init);
            if (!request.url.startsWith("https://recorded.invalid/")) {
                return original.call(window, input, init);
            }
            seen.push({
                url: request.url,
                method: request.method,
                credentials: request.credentials,
                authorization: request.headers.get("authorization"),
                csrf: request.headers.get("x-token-manager"),
            });
            const path = new URL(request.url).pathname;
            const body = path.endsWith("/tokens")
                ? { status: "not_authorized", rows: [], total: 0, page: 1, per_page: 10 }
                : path.endsWith("/config")
                ? { provider: "ups", provider_name: "UPS.com", authorize_url: "https://www.ups.com/lasso/signin",
                    client_id: "c", redirect_uri: "https://portal.example/", scope: "", pkce: true }
                : { error: { code: "not_found", message: "no such thing" } };
            const status = "error" in body ? 404 : 200;
            return Promise.resolve(new Response(JSON.stringify(body), { status }));
            "#,
        )
        .bind2(&JsValue::NULL, &original, &seen);
        Reflect::set(&window, &"fetch".into(), &fake).unwrap();
        Self { original, seen }
    }

    /// `field` of every recorded request, as a string (`"null"` for a missing header).
    fn field(&self, field: &str) -> Vec<String> {
        self.seen
            .iter()
            .map(|r| {
                let v = Reflect::get(&r, &field.into()).unwrap();
                v.as_string().unwrap_or_else(|| "null".into())
            })
            .collect()
    }
}

impl Drop for RecordedFetch {
    fn drop(&mut self) {
        let window = web_sys::window().unwrap();
        Reflect::set(&window, &"fetch".into(), &self.original).unwrap();
    }
}

#[wasm_bindgen_test]
async fn the_client_sends_a_session_token_as_bearer_and_then_no_cookies() {
    let fetch = RecordedFetch::install();
    let host = HttpHost::new(RECORDED);
    let auth = Auth::Bearer(SessionToken::new("tms1.abc.def").unwrap());
    host.tokens(&auth, &tokens_query("demo-co")).await.unwrap();
    let refused = host
        .start(
            &auth,
            &StartBody {
                company: "demo-co".into(),
                return_to: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::NotFound);
    host.tokens(&Auth::Cookies, &tokens_query("demo-co"))
        .await
        .unwrap();
    assert_eq!(
        fetch.field("url"),
        [
            format!("{RECORDED}/tokens?company=demo-co&page=1&per_page=10"),
            format!("{RECORDED}/start"),
            format!("{RECORDED}/tokens?company=demo-co&page=1&per_page=10"),
        ]
    );
    assert_eq!(fetch.field("method"), ["GET", "POST", "GET"]);
    assert_eq!(fetch.field("credentials"), ["omit", "omit", "include"]);
    assert_eq!(
        fetch.field("authorization"),
        ["Bearer tms1.abc.def", "Bearer tms1.abc.def", "null"]
    );
    assert_eq!(fetch.field("csrf"), ["null", "1", "null"]);
}

#[wasm_bindgen_test]
async fn mount_takes_get_session_token_and_a_session_token() {
    let fetch = RecordedFetch::install();
    let calls = Array::new();
    // `{sessionToken, expiresAt}` from a promise, as a portal's fetch to its backend gives it.
    let get = Function::new_with_args(
        "calls",
        "calls.push(1); return Promise.resolve({ sessionToken: 'tms1.from-js', expiresAt: Date.now() + 3600000 });",
    )
    .bind1(&JsValue::NULL, &calls);
    let el = new_host_element();
    let with_get = options(RECORDED, &[("getSessionToken", get.into())]);
    let (mut handle, _) = mount_until(&el, with_get, "not authorized", |shadow| {
        shadow_state(shadow) == "not_authorized"
    })
    .await;
    assert_eq!(calls.length(), 1);
    assert_eq!(
        fetch.field("authorization"),
        ["Bearer tms1.from-js", "Bearer tms1.from-js"]
    );
    assert_eq!(fetch.field("credentials"), ["omit", "omit"]);
    handle.destroy();

    // A plain string works too; so does `sessionToken` (then nothing is asked at start).
    let get = Function::new_with_args("calls", "calls.push(2); return 'tms1.plain';")
        .bind1(&JsValue::NULL, &calls);
    let both = options(
        RECORDED,
        &[
            ("sessionToken", "tms1.given".into()),
            ("getSessionToken", get.into()),
        ],
    );
    let (mut handle, _) = mount_until(&el, both, "not authorized", |shadow| {
        shadow_state(shadow) == "not_authorized" && fetch.seen.length() == 4
    })
    .await;
    assert_eq!(calls.length(), 1, "the given token is used");
    assert_eq!(
        fetch.field("authorization")[2..],
        ["Bearer tms1.given", "Bearer tms1.given"]
    );
    handle.destroy();

    // A function that resolves to something else (or throws) gives no token: the panel says
    // the session ended, and calls nobody.
    for body in [
        "return 42;",
        "throw new Error('backend down');",
        "return Promise.reject('no');",
    ] {
        let get = Function::new_no_args(body);
        let with_get = options(RECORDED, &[("getSessionToken", get.into())]);
        let (mut handle, shadow) = mount_until(&el, with_get, "the error", |shadow| {
            shadow_state(shadow) == "error"
        })
        .await;
        assert_eq!(
            alert_code(&shadow).as_deref(),
            Some("unauthenticated"),
            "{body}"
        );
        assert_eq!(fetch.seen.length(), 4, "{body}: no call without a token");
        handle.destroy();
    }
    el.remove();
}

fn new_host_element() -> HtmlElement {
    let document = gloo_utils_document();
    let el: HtmlElement = document
        .create_element("token-manager-test")
        .unwrap()
        .dyn_into()
        .unwrap();
    document.body().unwrap().append_child(&el).unwrap();
    el
}

fn options(api: &str, extra: &[(&str, JsValue)]) -> JsValue {
    let o = Object::new();
    Reflect::set(&o, &"api".into(), &api.into()).unwrap();
    Reflect::set(&o, &"company".into(), &"demo-co".into()).unwrap();
    for (k, v) in extra {
        Reflect::set(&o, &(*k).into(), v).unwrap();
    }
    o.into()
}

/// `mount` into `el`, then wait (for `what`) until its shadow root is `ready`.
async fn mount_until(
    el: &HtmlElement,
    options: JsValue,
    what: &str,
    ready: impl Fn(&ShadowRoot) -> bool,
) -> (WidgetHandle, ShadowRoot) {
    let handle = mount(el.clone(), options).unwrap();
    let shadow = el.shadow_root().unwrap();
    wait_for(
        what,
        || ready(&shadow).then_some(()),
        || shadow.inner_html(),
    )
    .await;
    (handle, shadow)
}

/// The `data-code` of the error the panel in `shadow` shows, if any.
fn alert_code(shadow: &ShadowRoot) -> Option<String> {
    shadow
        .query_selector("[role=alert]")
        .unwrap()?
        .get_attribute("data-code")
}

fn shadow_state(shadow: &ShadowRoot) -> String {
    shadow
        .query_selector(".panel")
        .unwrap()
        .and_then(|p| p.get_attribute("data-state"))
        .unwrap_or_default()
}

#[wasm_bindgen_test]
async fn mount_renders_into_a_shadow_root_and_destroy_empties_it() {
    let el = new_host_element();
    let events = Array::new();
    let on_event =
        Function::new_with_args("name, detail", "this.push([name, detail])").bind0(&events);
    let mut handle = mount(
        el.clone(),
        options(
            "http://127.0.0.1:9/api/optin",
            &[
                ("onEvent", on_event.into()),
                ("pageSize", 25.into()),
                ("mode", "popup".into()),
                ("timeZone", "Europe/Paris".into()),
                ("theme", "dark".into()),
            ],
        ),
    )
    .unwrap();
    let shadow = el.shadow_root().expect("an open shadow root");
    // Styled by a constructable stylesheet (no <style> element: CSP without 'unsafe-inline').
    assert!(shadow.query_selector("style").unwrap().is_none());
    let sheets = shadow.adopted_style_sheets();
    assert_eq!(sheets.length(), 1);
    let rules = js_sys::Reflect::get(&sheets.get(0), &"cssRules".into()).unwrap();
    let rules = js_sys::Reflect::get(&rules, &"length".into()).unwrap();
    assert!(
        rules.as_f64().unwrap() > 20.0,
        "the whole stylesheet: {rules:?} rules"
    );
    let panel = wait_for(
        "the panel",
        || shadow.query_selector("[part~=panel]").unwrap(),
        || shadow.inner_html(),
    )
    .await;
    assert!(panel.query_selector("[part~=header] h2").unwrap().is_some());
    // `theme: "dark"` gives the panel the dark scheme (the page here declares none: light).
    assert_eq!(panel.get_attribute("data-theme").as_deref(), Some("dark"));
    let style = web_sys::window()
        .unwrap()
        .get_computed_style(&panel)
        .unwrap()
        .unwrap();
    assert_eq!(style.get_property_value("color-scheme").unwrap(), "dark");
    assert_eq!(
        style.get_property_value("background-color").unwrap(),
        "rgb(22, 27, 34)"
    );
    // Nothing listens at 127.0.0.1:9: the panel says so instead of spinning.
    wait_for(
        "the error state",
        || (shadow_state(&shadow) == "error").then_some(()),
        || shadow.inner_html(),
    )
    .await;
    assert_eq!(alert_code(&shadow).as_deref(), Some("host_unreachable"));
    // The events reached JS as (name, plain object). (Effects may run a frame after the DOM.)
    wait_for(
        "three events",
        || (events.length() >= 3).then_some(()),
        || format!("{} events", events.length()),
    )
    .await;
    let seen: Vec<(String, JsValue)> = events
        .iter()
        .map(|pair| {
            let pair: Array = pair.dyn_into().unwrap();
            (pair.get(0).as_string().unwrap(), pair.get(1))
        })
        .collect();
    let names: Vec<_> = seen.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["statechange", "error", "statechange"],
        "loading, the error, then the error state"
    );
    let error = &seen[1].1;
    assert_eq!(
        Reflect::get(error, &"code".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("host_unreachable")
    );
    assert_eq!(
        Reflect::get(error, &"company".into())
            .unwrap()
            .as_string()
            .as_deref(),
        Some("demo-co")
    );
    assert!(Reflect::get(error, &"message".into())
        .unwrap()
        .as_string()
        .unwrap()
        .contains("could not be reached"));

    // update: a new locale re-renders in place.
    let locale = Object::new();
    Reflect::set(&locale, &"title".into(), &"Jetons".into()).unwrap();
    handle
        .update(options(
            "http://127.0.0.1:9/api/optin",
            &[("locale", locale.into())],
        ))
        .unwrap();
    wait_for(
        "the new title",
        || {
            let h2 = shadow.query_selector("h2").unwrap()?;
            (h2.text_content()? == "Jetons").then_some(())
        },
        || shadow.inner_html(),
    )
    .await;
    // Invalid options are refused with a TypeError and leave the panel as it is.
    let err = handle
        .update(options(
            "http://127.0.0.1:9/api/optin",
            &[("pageSize", 20.into())],
        ))
        .unwrap_err();
    assert!(err.is_instance_of::<js_sys::TypeError>());

    handle.destroy();
    sleep(Duration::from_millis(50)).await;
    assert_eq!(shadow.child_nodes().length(), 0);
    assert_eq!(shadow.adopted_style_sheets().length(), 0);
    handle.destroy(); // twice is fine
    assert!(handle
        .update(options("http://127.0.0.1:9/api/optin", &[]))
        .is_err());
    el.remove();
}

#[wasm_bindgen_test]
fn mount_rejects_bad_options() {
    let el = new_host_element();
    for bad in [
        JsValue::from_str("nope"),
        options("", &[]),
        options("/api/optin", &[("company", "".into())]),
        options("/api/optin", &[("pageSize", 20.into())]),
        options("/api/optin", &[("mode", "tab".into())]),
        options("/api/optin", &[("theme", "sepia".into())]),
        options("/api/optin", &[("onEvent", 5.into())]),
        options("/api/optin", &[("sessionToken", "two words".into())]),
        options("/api/optin", &[("sessionToken", 5.into())]),
        options("/api/optin", &[("getSessionToken", "tok".into())]),
    ] {
        let err = mount(el.clone(), bad).err().expect("refused");
        assert!(err.is_instance_of::<js_sys::TypeError>());
    }
    el.remove();
}

/// Against the real host-example, when the test script started one (see the module docs).
#[wasm_bindgen_test]
async fn the_real_host_answers_through_the_widgets_client() {
    let Some(base) = option_env!("TM_TEST_HOST") else {
        return; // No host started: skipped.
    };
    let token = option_env!("TM_TEST_SESSION_TOKEN").unwrap_or_else(|| {
        panic!(
            "TM_TEST_HOST is set but TM_TEST_SESSION_TOKEN is not: mint a session for an admin of \
             demo-co (POST {base}/api/v1/sessions with the host's API key) at compile time"
        )
    });
    let token = SessionToken::new(token).expect("TM_TEST_SESSION_TOKEN is a session token");
    let auth = Auth::Bearer(token.clone());
    let base = base.trim_end_matches('/');
    let api = format!("{base}/api/optin");
    let host = HttpHost::new(&api);

    // Without the token the host does not know us (and no cookie stands in for it).
    let refused = host
        .tokens(&Auth::Cookies, &tokens_query("demo-co"))
        .await
        .unwrap_err();
    assert_eq!(refused.code, ErrorCode::Unauthenticated, "{refused:?}");

    let page = host
        .tokens(&auth, &tokens_query("demo-co"))
        .await
        .unwrap_or_else(|f| {
            panic!(
                "GET {api}/tokens failed: {f:?} (is --allowed-origin {} set?)",
                origin()
            )
        });
    assert_eq!(page.page, 1);
    assert_eq!(page.per_page, PerPage::Ten);
    assert!(page.can_manage, "the test session is an admin of demo-co");

    // `POST /start`: the host answers the authorize URL and the tab's marker (no verifier).
    let started = host
        .start(
            &auth,
            &StartBody {
                company: "demo-co".into(),
                return_to: Some("/admin/token-manager".into()),
            },
        )
        .await
        .unwrap_or_else(|f| panic!("POST {api}/start failed: {f:?}"));
    let url = url::Url::parse(&started.authorize_url).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .expect("the authorize URL carries the state");
    assert!(url.query_pairs().any(|(k, _)| k == "code_challenge"));
    assert!(started.pending.state_matches(&state));
    assert_eq!(started.pending.company, "demo-co");
    assert_eq!(
        started.pending.return_to.as_deref(),
        Some("/admin/token-manager")
    );
    let marker = serde_json::to_value(&started.pending).unwrap();
    assert!(marker.get("code_verifier").is_none(), "{marker}");
    // `POST /exchange {company, code, state}`: a state the host never issued is refused.
    let forged = host
        .exchange(
            &auth,
            &ExchangeBody {
                company: "demo-co".into(),
                code: "not-a-code".into(),
                state: "not-the-state".into(),
                iss: None,
            },
        )
        .await
        .unwrap_err();
    assert_ne!(forged.code, ErrorCode::Internal, "{forged:?}");
    assert_ne!(forged.code, ErrorCode::Unauthenticated, "{forged:?}");

    // And the panel renders the host's page with the token.
    let el = new_host_element();
    let with_token = options(&api, &[("sessionToken", token.secret().into())]);
    let (mut handle, shadow) = mount_until(&el, with_token, "a settled panel", |shadow| {
        matches!(
            shadow_state(shadow).as_str(),
            "not_authorized" | "authorized" | "invalidated" | "error"
        )
    })
    .await;
    assert_ne!(shadow_state(&shadow), "error", "{}", shadow.inner_html());
    let caption = shadow.query_selector("table caption").unwrap().unwrap();
    assert_eq!(caption.text_content().as_deref(), Some("Token History"));
    handle.destroy();
    el.remove();
}
