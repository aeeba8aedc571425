//! The real IO in headless Chromium: the `gloo-net` client's timeout and network errors, the
//! JS `mount` API (shadow root, options, events, destroy), and — when `TM_TEST_HOST` was set at
//! compile time — the real host-example.
//!
//! For the host-example test, start the host with
//! `--allowed-origin http://127.0.0.1:<port>` and run the tests with
//! `WASM_BINDGEN_TEST_ADDRESS=127.0.0.1:<port>` so the test page has that origin; the host must
//! be on `127.0.0.1` too (its session cookie is then same-site for the test page).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::time::Duration;

use gloo_timers::future::sleep;
use js_sys::{Array, Function, Object, Reflect};
use support::{gloo_utils_document, wait_for};
use token_manager_core::api::TokensQuery;
use token_manager_core::{ErrorCode, PerPage};
use token_manager_widget::{mount, HostApi, HttpHost};
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
    let failure = host.config("demo-co").await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::Timeout);
}

#[wasm_bindgen_test]
async fn an_unreachable_host_is_reported() {
    let host = HttpHost::new("http://127.0.0.1:9/api/optin");
    let failure = host.tokens(&tokens_query("demo-co")).await.unwrap_err();
    assert_eq!(failure.code, ErrorCode::HostUnreachable);
}

#[wasm_bindgen_test]
async fn a_foreign_answer_maps_to_a_code() {
    // The test server answers 404 (not our JSON) for an unknown path.
    let host = HttpHost::new(&format!("{}/no-such-api", origin()));
    let failure = host.tokens(&tokens_query("demo-co")).await.unwrap_err();
    assert_eq!(failure.status, Some(404));
    assert_eq!(failure.code, ErrorCode::NotFound);
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
    // Nothing listens at 127.0.0.1:9: the panel says so instead of spinning.
    wait_for(
        "the error state",
        || (shadow_state(&shadow) == "error").then_some(()),
        || shadow.inner_html(),
    )
    .await;
    let alert = shadow.query_selector("[role=alert]").unwrap().unwrap();
    assert_eq!(
        alert.get_attribute("data-code").as_deref(),
        Some("host_unreachable")
    );
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
        options("/api/optin", &[("onEvent", 5.into())]),
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
    let base = base.trim_end_matches('/');
    // The demo portal logs `admin` in on the first visit; the cookie is same-site for us.
    let _ = gloo_net::http::Request::get(&format!("{base}/"))
        .mode(web_sys::RequestMode::NoCors)
        .credentials(web_sys::RequestCredentials::Include)
        .send()
        .await;
    let api = format!("{base}/api/optin");
    let page = HttpHost::new(&api)
        .tokens(&tokens_query("demo-co"))
        .await
        .unwrap_or_else(|f| {
            panic!(
                "GET {api}/tokens failed: {f:?} (is --allowed-origin {} set?)",
                origin()
            )
        });
    assert_eq!(page.page, 1);
    assert_eq!(page.per_page, PerPage::Ten);

    // And the panel renders it.
    let el = new_host_element();
    let mut handle = mount(el.clone(), options(&api, &[])).unwrap();
    let shadow = el.shadow_root().unwrap();
    let state = wait_for(
        "a settled panel",
        || {
            let s = shadow_state(&shadow);
            matches!(
                s.as_str(),
                "not_authorized" | "authorized" | "invalidated" | "error"
            )
            .then_some(s)
        },
        || shadow.inner_html(),
    )
    .await;
    assert_ne!(state, "error", "{}", shadow.inner_html());
    let caption = shadow.query_selector("table caption").unwrap().unwrap();
    assert_eq!(caption.text_content().as_deref(), Some("Token History"));
    handle.destroy();
    el.remove();
}
