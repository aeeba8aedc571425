//! The panel in headless Chromium against an in-memory fake of the host contract and a fake
//! browser (navigation, storage, popups intercepted). Each test renders into a fresh element,
//! waits for the DOM and asserts on it.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, missing_docs)]

mod support;

use std::collections::BTreeMap;
use std::rc::Rc;

use support::*;
use token_manager_core::api::AuthorizationStatus;
use token_manager_core::{ErrorCode, Messages, PerPage, Timestamp, UiText};
use token_manager_widget::io::BrowserEvent;
use token_manager_widget::{Mode, Theme, TokenManagerProps, WidgetEvent};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{HtmlSelectElement, KeyboardEvent, KeyboardEventInit};

wasm_bindgen_test_configure!(run_in_browser);

fn m() -> Messages {
    Messages::default()
}

fn query_of(url: &str) -> BTreeMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn key(f: &Fixture, selector: &str, key: &str, shift: bool) {
    let init = KeyboardEventInit::new();
    init.set_key(key);
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_shift_key(shift);
    let event = KeyboardEvent::new_with_keyboard_event_init_dict("keydown", &init).unwrap();
    let target = f.q(selector).unwrap();
    target.dispatch_event(&event).unwrap();
}

fn active_part() -> Option<String> {
    gloo_utils_document()
        .active_element()
        .and_then(|e| e.get_attribute("part"))
}

/// Props edit: popup mode.
fn popup(p: &mut TokenManagerProps) {
    p.mode = Mode::Popup;
}

async fn wait_focus(part: &str) {
    wait_for(
        &format!("focus on {part}"),
        || (active_part().as_deref() == Some(part)).then_some(()),
        || format!("focus is on {:?}", active_part()),
    )
    .await;
}

#[wasm_bindgen_test]
async fn not_authorized_shows_explanation_authorize_warning_and_tip() {
    let f = panel(FakeHost::not_authorized(), "not_authorized").await;
    assert_eq!(f.text("h2"), "Token Manager");
    assert_eq!(f.text(".explanation"), m().text(UiText::Explanation));
    let authorize = f.button("authorize-button").unwrap();
    assert_eq!(authorize.text_content().unwrap().trim(), "Authorize");
    assert!(f.text(".warning").contains("changing the password"));
    assert_eq!(f.text(".tip"), m().text(UiText::HelpTip));
    // The empty grid says so.
    assert_eq!(f.text("table caption"), "Token History");
    assert_eq!(f.text("td.empty"), "No tokens yet.");
    assert_eq!(f.text(".range"), "0 of 0");
    // A polite live region is always present.
    let status = f.q("[role=status]").unwrap();
    assert_eq!(status.get_attribute("aria-live").as_deref(), Some("polite"));
    // `statechange` comes from an effect, which may run a frame after the DOM changed.
    wait_for(
        "two statechange events",
        || (f.event_names() == ["statechange:loading", "statechange:not_authorized"]).then_some(()),
        || format!("{:?}", f.event_names()),
    )
    .await;
    assert_eq!(f.host.calls_to("tokens"), 1);
    assert_eq!(f.host.calls_to("config"), 1);
    // Without a session token the calls carry the portal's cookies and no Authorization.
    f.host.assert_every_call(None, "include");
}

#[wasm_bindgen_test]
async fn help_text_and_locale_replace_texts() {
    let f = panel_with(FakeHost::not_authorized(), "not_authorized", |p| {
        p.help_text = Some("Call Dana at 555-0100.".into());
        p.locale = Rc::new(BTreeMap::from([(
            "authorize".to_owned(),
            "Autoriser".to_owned(),
        )]));
    })
    .await;
    assert_eq!(f.text(".tip"), "Call Dana at 555-0100.");
    assert_eq!(
        f.button("authorize-button")
            .unwrap()
            .text_content()
            .unwrap()
            .trim(),
        "Autoriser"
    );
}

#[wasm_bindgen_test]
async fn loading_is_shown_until_the_host_answers() {
    let host = FakeHost::not_authorized();
    host.delay_ms.set(300);
    let f = Fixture::new(host, FakeBrowser::new());
    f.wait_state("loading").await;
    assert_eq!(f.text("[role=status]"), "Loading…");
    assert_eq!(
        f.q(".panel").unwrap().get_attribute("aria-busy").as_deref(),
        Some("true")
    );
    f.wait_state("not_authorized").await;
}

#[wasm_bindgen_test]
async fn authorized_grid_has_headers_labels_and_local_time() {
    let f = panel(FakeHost::active(rows(3)), "authorized").await;
    assert_eq!(f.text("caption"), "Token History");
    let headers: Vec<_> = f
        .all("thead th")
        .iter()
        .map(|th| {
            assert_eq!(th.get_attribute("scope").as_deref(), Some("col"));
            th.text_content().unwrap()
        })
        .collect();
    assert_eq!(
        headers,
        [
            "Token Created",
            "Token Expires",
            "Refresh Created",
            "Refresh Expires",
            "Status"
        ]
    );
    // Newest first, as the host sent them.
    let ids: Vec<_> = f
        .all("tbody tr")
        .iter()
        .map(|tr| tr.get_attribute("data-id").unwrap())
        .collect();
    assert_eq!(ids, ["3", "2", "1"]);
    // The grid format of core in the chosen zone (UTC here), ISO-8601 UTC in the tooltip.
    let first = f.q("tbody tr td time").unwrap();
    assert_eq!(first.text_content().unwrap(), Timestamp(NOW).format_grid(0));
    assert_eq!(first.text_content().unwrap(), "11-29-2026 01:05:09 PM");
    assert_eq!(
        first.get_attribute("title").as_deref(),
        Some("2026-11-29T13:05:09.123Z")
    );
    let statuses: Vec<_> = f
        .all("tbody .badge")
        .iter()
        .map(|b| b.text_content().unwrap())
        .collect();
    assert_eq!(statuses, ["Active", "Refreshed", "Refreshed"]);
    // A missing refresh expiry is shown as a dash, not a bogus date.
    assert_eq!(
        f.all("tbody tr")[1]
            .query_selector_all("time")
            .unwrap()
            .length(),
        3
    );
    assert_eq!(f.text(".range"), "1-3 of 3");
    assert!(f.button("clear-button").is_some());
    assert!(f.button("authorize-button").is_none());
    assert!(f.q("[part~=table]").is_some() && f.q("[part~=pager]").is_some());
}

#[wasm_bindgen_test]
async fn the_grid_is_a_focusable_group_named_by_its_caption_with_labelled_cells() {
    let f = panel(FakeHost::active(rows(2)), "authorized").await;
    // The scroll region of medium widths: in the tab order, named by the caption.
    let wrap = f.q(".table-wrap").unwrap();
    assert_eq!(wrap.get_attribute("role").as_deref(), Some("group"));
    assert_eq!(wrap.get_attribute("tabindex").as_deref(), Some("0"));
    let caption = f.q("caption").unwrap();
    assert!(!caption.id().is_empty());
    assert_eq!(wrap.get_attribute("aria-labelledby"), Some(caption.id()));
    // Explicit table roles (they survive the stacked layout's CSS display changes).
    assert_eq!(
        f.q("table").unwrap().get_attribute("role").as_deref(),
        Some("table")
    );
    assert_eq!(f.all("[role=columnheader]").len(), 5);
    assert_eq!(f.all("tbody [role=row]").len(), 2);
    // Each cell names its column for the stacked layout, in the locale's words.
    let labels: Vec<_> = f.all("tbody tr")[0]
        .query_selector_all("td")
        .map(|cells| {
            (0..cells.length())
                .map(|i| {
                    let td: web_sys::Element = cells.item(i).unwrap().dyn_into().unwrap();
                    assert_eq!(td.get_attribute("role").as_deref(), Some("cell"));
                    td.get_attribute("data-label").unwrap()
                })
                .collect()
        })
        .unwrap();
    let headers: Vec<_> = f
        .all("thead th")
        .iter()
        .map(|th| th.text_content().unwrap())
        .collect();
    assert_eq!(labels, headers);
}

#[wasm_bindgen_test]
async fn the_theme_option_is_the_panels_data_theme_and_none_leaves_the_pages_scheme() {
    // `data-theme` is what the stylesheet keys the panel's color-scheme on (the e2e tests check
    // the colours); without a theme the attribute is absent and the page's scheme is inherited.
    let mut f = panel_with(FakeHost::not_authorized(), "not_authorized", |p| {
        p.theme = Some(Theme::Dark);
    })
    .await;
    let theme = |f: &Fixture| f.q(".panel").unwrap().get_attribute("data-theme");
    assert_eq!(theme(&f).as_deref(), Some("dark"));
    for value in [Theme::Light, Theme::System, Theme::Dark] {
        f.update(|p| p.theme = Some(value));
        settle().await;
        assert_eq!(theme(&f).as_deref(), Some(value.as_str()));
    }
    f.update(|p| p.theme = None);
    settle().await;
    assert_eq!(theme(&f), None);
    assert_eq!(
        f.state(),
        "not_authorized",
        "a new theme does not restart the panel"
    );
}

#[wasm_bindgen_test]
async fn time_zone_option_uses_that_zones_offset() {
    let host = FakeHost::active(rows(1));
    let f = panel_with(host, "authorized", |p| {
        p.time_zone = Some("America/New_York".into());
    })
    .await;
    // 29 November: EST, UTC-5.
    assert_eq!(
        f.q("tbody time").unwrap().text_content().unwrap(),
        "11-29-2026 08:05:09 AM"
    );
}

#[wasm_bindgen_test]
async fn paging_asks_the_host_for_one_page_at_a_time() {
    let f = panel(FakeHost::active(rows(23)), "authorized").await;
    assert_eq!(f.text(".range"), "1-10 of 23");
    assert_eq!(f.all("tbody tr").len(), 10);
    let prev = f.q("button[aria-label='Previous page']").unwrap();
    let next = f.q("button[aria-label='Next page']").unwrap();
    assert!(prev.has_attribute("disabled"));
    assert!(!next.has_attribute("disabled"));

    f.click("button[aria-label='Next page']");
    f.wait_text(".range", "11-20 of 23").await;
    f.click("button[aria-label='Next page']");
    f.wait_text(".range", "21-23 of 23").await;
    assert_eq!(f.all("tbody tr").len(), 3);
    assert!(f
        .q("button[aria-label='Next page']")
        .unwrap()
        .has_attribute("disabled"));
    f.click("button[aria-label='Previous page']");
    f.wait_text(".range", "11-20 of 23").await;

    // Items per page: a labelled select with the four sizes; a new size starts at page 1.
    let label = f.q("label.size").unwrap();
    assert!(label.text_content().unwrap().contains("Items per page"));
    let select: HtmlSelectElement = f.q("label.size select").unwrap().dyn_into().unwrap();
    let options: Vec<_> = (0..select.length())
        .map(|i| select.item(i).unwrap().text_content().unwrap())
        .collect();
    assert_eq!(options, ["10", "25", "50", "100"]);
    select.set_value("25");
    select
        .dispatch_event(&web_sys::Event::new("change").unwrap())
        .unwrap();
    f.wait_text(".range", "1-23 of 23").await;
    assert_eq!(
        *f.host.calls.borrow(),
        [
            "tokens 1 10",
            "config demo-co",
            "tokens 2 10",
            "tokens 3 10",
            "tokens 2 10",
            "tokens 1 25"
        ]
    );
}

/// The `<tbody>` markup of `rows` as a fresh render writes it (UTC; yew writes `class` last):
/// table roles, and each cell's column name in `data-label` (the stacked layout shows it).
fn expected_rows(rows: &[token_manager_core::TokenRecord]) -> String {
    let cell = |label: &str, at: Option<Timestamp>| {
        match at {
        Some(at) => format!(
            "<td role=\"cell\" data-label=\"{label}\"><time datetime=\"{iso}\" title=\"{iso}\">{}</time></td>",
            at.format_grid(0),
            iso = at.to_iso8601()
        ),
        None => format!(
            "<td role=\"cell\" data-label=\"{label}\"><span aria-label=\"none\" class=\"none\">—</span></td>"
        ),
    }
    };
    rows.iter()
        .map(|r| {
            format!(
                "<tr role=\"row\" data-id=\"{}\">{}{}{}{}<td role=\"cell\" data-label=\"Status\"><span part=\"badge\" class=\"badge {}\">{}</span></td></tr>",
                r.id,
                cell("Token Created", Some(r.token_created)),
                cell("Token Expires", Some(r.token_expires)),
                cell("Refresh Created", r.refresh_created),
                cell("Refresh Expires", r.refresh_expires),
                r.status.as_str(),
                r.status.label()
            )
        })
        .collect()
}

#[wasm_bindgen_test]
async fn a_page_change_replaces_every_row_exactly() {
    // Rows are patched in place by position (not keyed): the DOM after a page change must be
    // exactly what a fresh render of that page gives, including a dash cell turning into a
    // date and back, and a shorter last page.
    let all = rows(23);
    let f = panel(FakeHost::active(all.clone()), "authorized").await;
    let tbody = || f.q("tbody").unwrap().inner_html();
    let first = tbody();
    assert_eq!(first, expected_rows(&all[..10]));
    f.click("button[aria-label='Next page']");
    f.wait_text(".range", "11-20 of 23").await;
    assert_eq!(tbody(), expected_rows(&all[10..20]));
    f.click("button[aria-label='Next page']");
    f.wait_text(".range", "21-23 of 23").await;
    assert_eq!(tbody(), expected_rows(&all[20..]));
    f.click("button[aria-label='Previous page']");
    f.wait_text(".range", "11-20 of 23").await;
    f.click("button[aria-label='Previous page']");
    f.wait_text(".range", "1-10 of 23").await;
    assert_eq!(tbody(), first);
}

#[wasm_bindgen_test]
async fn page_size_prop_is_used() {
    let host = FakeHost::active(rows(30));
    let f = panel_with(host, "authorized", |p| p.page_size = PerPage::TwentyFive).await;
    assert_eq!(f.text(".range"), "1-25 of 30");
}

#[wasm_bindgen_test]
async fn authorize_has_the_host_start_keeps_only_the_marker_and_navigates_once() {
    let f = panel(FakeHost::not_authorized(), "not_authorized").await;
    // A double click starts one flow.
    let button = f.button("authorize-button").unwrap();
    button.click();
    button.click();
    f.wait_state("redirecting").await;
    f.wait_navigations(1).await;
    settle().await;
    assert_eq!(f.text("[role=status]"), "Redirecting to UPS.com…");
    assert!(f
        .button("authorize-button")
        .unwrap()
        .has_attribute("disabled"));
    let navigations = f.browser.navigations.borrow().clone();
    assert_eq!(navigations.len(), 1, "{navigations:?}");
    // The host started it: one `POST /start` for this company and this page.
    assert_eq!(f.host.calls_to("start"), 1);
    let starts = f.host.starts.borrow().clone();
    assert_eq!(starts[0].company, COMPANY);
    assert_eq!(starts[0].return_to.as_deref(), Some("/admin/token-manager"));
    // The tab went to the URL the host answered (core's, from the host's entropy).
    let (expected, _) = token_manager_core::PendingAuthorization::start(
        &config(),
        &entropy(7),
        Timestamp(NOW - 60_000),
        COMPANY,
        Some("/admin/token-manager"),
    )
    .unwrap();
    assert_eq!(navigations[0], expected.as_str());
    let q = query_of(&navigations[0]);
    assert_eq!(q["client_id"], "client-1");
    assert_eq!(q["redirect_uri"], PORTAL);
    assert_eq!(q["code_challenge_method"], "S256");
    // sessionStorage holds the marker: company, state, when, where to come back — and no
    // verifier (the host keeps it).
    let pending = f.browser.pending(COMPANY).expect("marker stored");
    assert_eq!(pending.company, COMPANY);
    assert!(pending.state_matches(&q["state"]));
    assert_eq!(
        pending.created_at,
        Timestamp(NOW),
        "the tab's clock, not the host's"
    );
    assert_eq!(pending.return_to.as_deref(), Some("/admin/token-manager"));
    let json = f.browser.pending_json(COMPANY).unwrap();
    let verifier = verifier_of(&f.host.pendings.borrow()[0]);
    assert_eq!(verifier.len(), 43);
    assert_ne!(verifier, q["state"]);
    assert!(!json.contains(&verifier), "{json}");
    let keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(keys, ["company", "created_at", "return_to", "state"]);
    assert_eq!(
        f.browser.storage.borrow().len(),
        1,
        "nothing else is stored"
    );
}

#[wasm_bindgen_test]
async fn a_restored_page_offers_authorize_again() {
    let f = panel(FakeHost::not_authorized(), "not_authorized").await;
    f.authorize().await;
    // Back button from the provider: the page comes from the back/forward cache.
    f.browser.fire(BrowserEvent::PageRestored);
    f.wait_state("not_authorized").await;
    assert!(!f
        .button("authorize-button")
        .unwrap()
        .has_attribute("disabled"));
}

#[wasm_bindgen_test]
async fn a_good_return_exchanges_exactly_once() {
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(&host, &browser, COMPANY, 20_000, 3, None);
    *browser.url.borrow_mut() = format!("{PORTAL}?code=SplxlOBeZQQYbYS6WxSbIA&state={state}&tab=1");
    host.delay_ms.set(150);
    let f = Fixture::new(host, browser);
    f.wait_state("generating").await;
    assert_eq!(f.text("[role=status]"), "Generating token…");
    // Single use: the marker is gone before the exchange answers, the query is stripped.
    assert!(f.browser.pending(COMPANY).is_none());
    assert_eq!(*f.browser.replaced.borrow(), [format!("{PORTAL}?tab=1")]);
    f.wait_state("authorized").await;
    assert_eq!(f.text("[role=status]"), "A token was generated");
    f.wait_text(".range", "1-1 of 1").await;
    let exchanges = f.host.exchanges.borrow().clone();
    assert_eq!(exchanges.len(), 1);
    assert_eq!(exchanges[0].code, "SplxlOBeZQQYbYS6WxSbIA");
    assert_eq!(exchanges[0].company, COMPANY);
    // `{company, code, state}`: the host finds its pending authorization by the state and
    // redeems the code with the verifier it kept.
    assert_eq!(exchanges[0].state, state);
    assert_eq!(f.host.redeemed.borrow().len(), 1);
    assert!(f.host.pendings.borrow().is_empty(), "used once");
    assert!(f.event_names().contains(&"authorized".to_owned()));
    assert!(f
        .events
        .borrow()
        .iter()
        .any(|e| matches!(e, WidgetEvent::Authorized { record, .. } if record.id == 100)));
    assert!(f.browser.navigations.borrow().is_empty());

    // A reload of the (stripped) page does not exchange again.
    let browser = f.browser.clone();
    let host = f.host.clone();
    drop(f);
    let again = Fixture::new(host, browser);
    again.wait_state("authorized").await;
    assert_eq!(again.host.calls_to("exchange"), 1);
}

#[wasm_bindgen_test]
async fn a_mismatched_state_shows_the_error_and_makes_no_exchange() {
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    authorized_earlier(&host, &browser, COMPANY, 20_000, 3, None);
    *browser.url.borrow_mut() = format!("{PORTAL}?code=abc&state=forged-state");
    let f = Fixture::new(host, browser);
    f.wait_state("error").await;
    assert_eq!(f.alert_code().as_deref(), Some("state_mismatch"));
    assert_eq!(f.alert_text(), m().error(ErrorCode::StateMismatch));
    assert_eq!(f.host.calls_to("exchange"), 0);
    assert!(f.browser.pending(COMPANY).is_none(), "the attempt is void");
    assert_eq!(*f.browser.replaced.borrow(), [PORTAL.to_owned()]);
    assert!(f.event_names().contains(&"error".to_owned()));
    // The way out is a new authorization.
    settle().await;
    f.authorize().await;
    f.wait_navigations(1).await;
}

#[wasm_bindgen_test]
async fn a_stale_attempt_is_refused() {
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(&host, &browser, COMPANY, 11 * 60_000, 3, None);
    *browser.url.borrow_mut() = format!("{PORTAL}?code=abc&state={state}");
    let f = Fixture::new(host, browser);
    f.wait_state("error").await;
    assert_eq!(f.alert_code().as_deref(), Some("expired_attempt"));
    assert_eq!(f.host.calls_to("exchange"), 0);
}

#[wasm_bindgen_test]
async fn a_return_nobody_waits_for_is_refused() {
    let browser = FakeBrowser::at(&format!("{PORTAL}?code=abc&state=whatever"));
    let f = Fixture::new(FakeHost::not_authorized(), browser);
    f.wait_state("error").await;
    assert_eq!(f.alert_code().as_deref(), Some("no_pending_authorization"));
    assert_eq!(f.host.calls_to("exchange"), 0);
}

#[wasm_bindgen_test]
async fn another_companys_return_is_left_alone() {
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(&host, &browser, "acme", 20_000, 9, None);
    authorized_earlier(&host, &browser, COMPANY, 20_000, 3, None);
    let url = format!("{PORTAL}?code=abc&state={state}");
    *browser.url.borrow_mut() = url.clone();
    let f = Fixture::new(host, browser);
    f.wait_state("not_authorized").await;
    assert_eq!(f.host.calls_to("exchange"), 0);
    assert_eq!(
        *f.browser.url.borrow(),
        url,
        "the URL belongs to acme's widget"
    );
    assert!(f.browser.pending("acme").is_some());
    assert!(f.browser.pending(COMPANY).is_some());
}

#[wasm_bindgen_test]
async fn another_companys_return_goes_back_to_its_authorize_page() {
    // Tab A clicked Authorize for acme on `?company=acme`; the redirect URI page came back
    // showing this company (the portal's last choice): the return is carried to acme's page.
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(
        &host,
        &browser,
        "acme",
        20_000,
        9,
        Some("/admin/token-manager?company=acme"),
    );
    let url = format!("{PORTAL}?code=abc&state={state}");
    *browser.url.borrow_mut() = url;
    let f = Fixture::new(host, browser);
    let expected = format!("/admin/token-manager?company=acme&code=abc&state={state}");
    for _ in 0..200 {
        if !f.browser.navigations.borrow().is_empty() {
            break;
        }
        gloo_timers::future::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(*f.browser.navigations.borrow(), vec![expected]);
    assert_eq!(
        *f.browser.url.borrow(),
        PORTAL,
        "the code is stripped from this entry"
    );
    assert_eq!(
        f.host.calls_to("exchange"),
        0,
        "acme's page exchanges, not this one"
    );
    assert!(f.browser.pending("acme").is_some());
}

#[wasm_bindgen_test]
async fn a_declined_consent_shows_the_providers_text_as_text() {
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(&host, &browser, COMPANY, 20_000, 3, None);
    let evil = "<img src=x onerror=alert(1)><b>No thanks</b>";
    *browser.url.borrow_mut() = format!(
        "{PORTAL}?error=access_denied&error_description={}&state={state}",
        js_sys::encode_uri_component(evil)
    );
    let f = Fixture::new(host, browser);
    f.wait_state("error").await;
    assert_eq!(f.alert_code().as_deref(), Some("consent_declined"));
    assert_eq!(
        f.alert_text(),
        "Authorization was declined at UPS.com. No token was created."
    );
    let detail = f.q("[role=alert] .detail").unwrap();
    assert_eq!(detail.text_content().unwrap(), evil);
    assert_eq!(detail.child_element_count(), 0, "no markup was created");
    assert!(f.q("img").is_none() && f.q("b").is_none());
    assert_eq!(f.host.calls_to("exchange"), 0);
}

#[wasm_bindgen_test]
async fn a_failed_exchange_shows_the_hosts_code() {
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(&host, &browser, COMPANY, 20_000, 3, None);
    *browser.url.borrow_mut() = format!("{PORTAL}?code=used&state={state}");
    host.fail_next("exchange", ErrorCode::InvalidGrant);
    let f = Fixture::new(host, browser);
    f.wait_state("error").await;
    assert_eq!(f.alert_text(), m().error(ErrorCode::InvalidGrant));
    assert_eq!(f.host.calls_to("exchange"), 1);
    assert!(f.button("authorize-button").is_some());
}

#[wasm_bindgen_test]
async fn clear_asks_first_then_keeps_the_rows_as_cleared() {
    let f = panel(FakeHost::active(rows(2)), "authorized").await;
    f.button("clear-button").unwrap().click();
    let dialog = {
        let f = &f;
        wait_for("the dialog", || f.q("[role=dialog]"), String::new).await
    };
    assert_eq!(dialog.get_attribute("aria-modal").as_deref(), Some("true"));
    let title_id = dialog.get_attribute("aria-labelledby").unwrap();
    assert_eq!(f.text(&format!("#{title_id}")), "Clear authorization");
    assert_eq!(
        f.host.calls_to("clear"),
        0,
        "nothing cleared before confirming"
    );
    // Focus starts on Cancel, and Tab/Shift+Tab stay inside the dialog.
    wait_focus("button cancel-button").await;
    key(&f, "[part~=cancel-button]", "Tab", false);
    assert_eq!(active_part().as_deref(), Some("button confirm-button"));
    key(&f, "[part~=confirm-button]", "Tab", false);
    assert_eq!(active_part().as_deref(), Some("button cancel-button"));
    key(&f, "[part~=cancel-button]", "Tab", true);
    assert_eq!(active_part().as_deref(), Some("button confirm-button"));
    // Escape cancels and gives focus back to Clear.
    key(&f, "[part~=confirm-button]", "Escape", false);
    wait_for(
        "the dialog to close",
        || f.q("[role=dialog]").is_none().then_some(()),
        String::new,
    )
    .await;
    wait_focus("button clear-button").await;
    assert_eq!(f.host.calls_to("clear"), 0);

    // Cancel button too.
    f.button("clear-button").unwrap().click();
    wait_for("the dialog", || f.q("[role=dialog]"), String::new).await;
    f.button("cancel-button").unwrap().click();
    wait_for(
        "the dialog to close",
        || f.q("[role=dialog]").is_none().then_some(()),
        String::new,
    )
    .await;
    assert_eq!(f.host.calls_to("clear"), 0);

    // Confirm.
    f.button("clear-button").unwrap().click();
    wait_for("the dialog", || f.q("[role=dialog]"), String::new).await;
    f.button("confirm-button").unwrap().click();
    f.wait_state("not_authorized").await;
    assert_eq!(f.host.calls_to("clear"), 1);
    f.wait_text("[role=status]", "The authorization was cleared.")
        .await;
    wait_for(
        "cleared rows",
        || {
            let badges: Vec<_> = f
                .all("tbody .badge")
                .iter()
                .map(|b| b.text_content().unwrap())
                .collect();
            (badges == ["Cleared", "Cleared"]).then_some(())
        },
        || f.root.inner_html(),
    )
    .await;
    assert!(f.button("authorize-button").is_some());
    assert!(f.event_names().contains(&"cleared".to_owned()));
}

#[wasm_bindgen_test]
async fn invalidated_shows_the_warning_and_authorize() {
    let host = FakeHost::new(AuthorizationStatus::Invalidated, rows(2));
    let f = panel(host, "invalidated").await;
    assert_eq!(
        f.text("[part~=invalidated] .text"),
        m().text(UiText::InvalidatedWarning)
    );
    assert!(f.button("authorize-button").is_some());
    assert!(f.q(".warning").is_some() && f.q(".tip").is_some());
    assert_eq!(f.all("tbody tr").len(), 2);
}

#[wasm_bindgen_test]
async fn host_errors_and_timeouts_show_messages_and_retry() {
    for code in [
        ErrorCode::Timeout,
        ErrorCode::HostUnreachable,
        ErrorCode::Unauthenticated,
    ] {
        let host = FakeHost::not_authorized();
        host.fail_next("tokens", code);
        let f = panel(host, "error").await;
        assert_eq!(f.alert_code().as_deref(), Some(code.as_str()));
        assert_eq!(f.alert_text(), m().error(code));
        assert!(f
            .events
            .borrow()
            .iter()
            .any(|e| matches!(e, WidgetEvent::Error { code: c, .. } if *c == code)));
        // "Try again" loads again (the fake answers this time).
        let retry = f.button("retry-button").unwrap();
        assert_eq!(retry.text_content().unwrap().trim(), "Try again");
        retry.click();
        f.wait_state("not_authorized").await;
    }
}

#[wasm_bindgen_test]
async fn a_failed_page_keeps_the_grid_and_offers_retry() {
    let f = panel(FakeHost::active(rows(23)), "authorized").await;
    f.host.fail_next("tokens", ErrorCode::Timeout);
    f.click("button[aria-label='Next page']");
    f.wait_state("error").await;
    assert_eq!(f.text(".range"), "1-10 of 23");
    f.button("retry-button").unwrap().click();
    f.wait_state("authorized").await;
}

#[wasm_bindgen_test]
async fn a_config_failure_at_authorize_is_reported() {
    let host = FakeHost::not_authorized();
    host.fail_next("config", ErrorCode::ProviderUnavailable);
    host.fail_next("config", ErrorCode::ProviderUnavailable);
    let f = panel(host, "not_authorized").await;
    f.button("authorize-button").unwrap().click();
    f.wait_state("error").await;
    assert_eq!(f.alert_text(), m().error(ErrorCode::ProviderUnavailable));
    assert!(f.browser.navigations.borrow().is_empty());
    assert!(f.browser.pending(COMPANY).is_none());
    assert_eq!(f.host.calls_to("start"), 0);
    // Third time lucky.
    f.authorize().await;
    f.wait_navigations(1).await;
}

#[wasm_bindgen_test]
async fn popup_mode_takes_the_result_by_message() {
    let f = panel_with(FakeHost::not_authorized(), "not_authorized", popup).await;
    f.authorize().await;
    // Opened blank within the click (a popup opened after the host's answer would be
    // blocked), then sent to the authorize URL the host answered.
    let (blank, name) = f.browser.popups.borrow()[0].clone();
    assert_eq!(
        (blank.as_str(), name.as_str()),
        ("about:blank", "token-manager-demo-co")
    );
    let url = wait_for(
        "the popup to go to the provider",
        || f.browser.popup_navigations.borrow().first().cloned(),
        String::new,
    )
    .await;
    assert!(
        url.starts_with("https://www.ups.com/lasso/signin?"),
        "{url}"
    );
    assert!(f.browser.navigations.borrow().is_empty(), "the page stays");
    let state = query_of(&url)["state"].clone();
    // A message for someone else is ignored.
    f.browser
        .fire(BrowserEvent::CallbackMessage("?code=x&state=other".into()));
    settle().await;
    assert_eq!(f.state(), "redirecting");
    // Ours.
    f.browser.fire(BrowserEvent::CallbackMessage(format!(
        "?code=popup-code&state={state}"
    )));
    f.wait_state("authorized").await;
    assert_eq!(f.text("[role=status]"), "A token was generated");
    assert_eq!(f.host.exchanges.borrow()[0].code, "popup-code");
    assert_eq!(f.host.exchanges.borrow()[0].state, state);
    assert!(f.browser.popup_closed.get());
    assert!(
        f.browser.replaced.borrow().is_empty(),
        "the opener's URL has no query"
    );
    // A replayed message does nothing: the marker was used.
    f.browser.fire(BrowserEvent::CallbackMessage(format!(
        "?code=popup-code&state={state}"
    )));
    settle().await;
    assert_eq!(f.host.calls_to("exchange"), 1);
}

#[wasm_bindgen_test]
async fn a_popup_closed_without_result_returns_to_not_authorized() {
    let f = panel_with(FakeHost::not_authorized(), "not_authorized", popup).await;
    f.authorize().await;
    f.browser.popup_closed.set(true);
    f.wait_state("not_authorized").await;
    assert_eq!(f.host.calls_to("exchange"), 0);
    assert!(f.browser.navigations.borrow().is_empty());
}

#[wasm_bindgen_test]
async fn a_blocked_popup_falls_back_to_redirect() {
    let browser = FakeBrowser::new();
    browser.popup_blocked.set(true);
    let f = Fixture::with(FakeHost::not_authorized(), browser, popup);
    f.wait_state("not_authorized").await;
    f.authorize().await;
    f.wait_navigations(1).await;
    assert!(f.browser.popups.borrow().is_empty());
}

#[wasm_bindgen_test]
async fn the_popup_hands_the_return_to_its_opener_and_closes() {
    let opener = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    let state = authorized_earlier(&host, &opener, COMPANY, 20_000, 3, None);
    let popup = FakeBrowser::at(&format!("{PORTAL}?code=abc&state={state}"));
    *popup.opener_storage.borrow_mut() = Some(opener.storage.borrow().clone());
    // Chromium copies sessionStorage into the popup: that copy must not be usable.
    *popup.storage.borrow_mut() = opener.storage.borrow().clone();
    let f = Fixture::new(host, popup);
    wait_for(
        "the post to the opener",
        || f.browser.closed_self.get().then_some(()),
        || f.root.inner_html(),
    )
    .await;
    assert_eq!(
        *f.browser.posted.borrow(),
        [format!("?code=abc&state={state}")]
    );
    assert!(f.browser.pending(COMPANY).is_none());
    assert_eq!(f.host.calls_to("exchange"), 0, "the opener exchanges");
    assert!(f.host.calls.borrow().is_empty(), "the popup calls nobody");
}

// ---- the portal session: token, renewal, roles -------------------------------------------

/// The session token `token` as a prop.
fn token(token: &str) -> Option<token_manager_widget::SessionToken> {
    token_manager_widget::SessionToken::new(token)
}

/// Props edit: the page's session token (if any) and `sessions` as its `getSessionToken`.
fn session(
    given: Option<&str>,
    sessions: &Rc<FakeSessions>,
) -> impl FnOnce(&mut TokenManagerProps) {
    let (given, get) = (given.and_then(token), sessions.callback());
    move |p| {
        p.session_token = given;
        p.get_session_token = Some(get);
    }
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

/// Does any event's JS `detail` mention `needle`?
fn events_mention(f: &Fixture, needle: &str) -> bool {
    f.events
        .borrow()
        .iter()
        .any(|e| serde_json::to_string(&e.detail()).unwrap().contains(needle))
}

#[wasm_bindgen_test]
async fn with_a_session_token_every_call_is_bearer_and_sends_no_cookies() {
    let host = FakeHost::not_authorized();
    host.accept_only(&["tms1.first"]);
    let f = panel_with(host, "not_authorized", |p| {
        p.session_token = token("tms1.first");
    })
    .await;
    f.button("authorize-button").unwrap().click();
    f.wait_navigations(1).await;
    assert_eq!(
        *f.host.calls.borrow(),
        ["tokens 1 10", "config demo-co", "start demo-co"]
    );
    f.host.assert_every_call(Some("Bearer tms1.first"), "omit");
    // Never in a URL, in storage or in an event.
    assert!(!f.browser.navigations.borrow()[0].contains("tms1.first"));
    assert!(f
        .browser
        .storage
        .borrow()
        .values()
        .all(|v| !v.contains("tms1.first")));
    assert!(!events_mention(&f, "tms1.first"));
}

#[wasm_bindgen_test]
async fn without_a_token_get_session_token_is_asked_once_at_start() {
    let host = FakeHost::active(rows(3));
    host.accept_only(&["tms1.fetched"]);
    let sessions = FakeSessions::new(&[("tms1.fetched", None)]);
    let f = panel_with(host, "authorized", session(None, &sessions)).await;
    settle().await;
    assert_eq!(sessions.calls.get(), 1);
    assert_eq!(
        f.host.authorizations("tokens"),
        [bearer("tms1.fetched")],
        "the first call already carries it"
    );
    assert_eq!(f.host.authorizations("config"), [bearer("tms1.fetched")]);
}

#[wasm_bindgen_test]
async fn a_refused_token_is_renewed_once_and_the_call_retried() {
    let host = FakeHost::active(rows(3));
    // The page's token has expired: the host takes only the renewed one.
    host.accept_only(&["tms1.renewed"]);
    let sessions = FakeSessions::new(&[("tms1.renewed", None)]);
    let f = panel_with(host, "authorized", session(Some("tms1.expired"), &sessions)).await;
    f.wait_text(".range", "1-3 of 3").await;
    assert_eq!(sessions.calls.get(), 1);
    assert_eq!(
        f.host.authorizations("tokens"),
        [bearer("tms1.expired"), bearer("tms1.renewed")],
        "refused once, retried once with the new token"
    );
    // The new token stays: later calls carry it without asking again.
    assert_eq!(f.host.authorizations("config"), [bearer("tms1.renewed")]);
    f.button("clear-button").unwrap().click();
    wait_for("the dialog", || f.q("[role=dialog]"), String::new).await;
    f.button("confirm-button").unwrap().click();
    f.wait_state("not_authorized").await;
    assert_eq!(f.host.authorizations("clear"), [bearer("tms1.renewed")]);
    assert_eq!(sessions.calls.get(), 1);
    assert!(!events_mention(&f, "tms1."));
}

#[wasm_bindgen_test]
async fn a_second_refusal_shows_the_session_error() {
    let host = FakeHost::not_authorized();
    host.accept_only(&["tms1.someone-else"]);
    let sessions = FakeSessions::new(&[("tms1.renewed", None), ("tms1.again", None)]);
    let f = panel_with(host, "error", session(Some("tms1.expired"), &sessions)).await;
    assert_eq!(f.alert_code().as_deref(), Some("unauthenticated"));
    assert_eq!(f.alert_text(), m().error(ErrorCode::Unauthenticated));
    assert_eq!(sessions.calls.get(), 1, "one renewal per refused call");
    assert_eq!(
        f.host.authorizations("tokens"),
        [bearer("tms1.expired"), bearer("tms1.renewed")]
    );
    assert!(!events_mention(&f, "tms1."));
}

#[wasm_bindgen_test]
async fn concurrent_refusals_share_one_renewal() {
    let host = FakeHost::active(rows(30));
    host.accept_only(&["tms1.first"]);
    let sessions = FakeSessions::new(&[("tms1.second", None)]);
    sessions.delay_ms.set(80);
    let mut f = panel_with(host, "authorized", session(Some("tms1.first"), &sessions)).await;
    settle().await;
    assert_eq!(sessions.calls.get(), 0);
    // The token expires; two grid requests are in flight together.
    f.host.accept_only(&["tms1.second"]);
    f.host.delay_ms.set(50);
    f.click("button[aria-label='Next page']");
    f.update(|p| p.page_size = PerPage::TwentyFive);
    wait_for(
        "both retries",
        || (f.host.calls_to("tokens") == 5).then_some(()),
        || format!("{:?}", f.host.requests.borrow()),
    )
    .await;
    wait_for(
        "the grid to settle",
        || (f.q("table[aria-busy=false]").is_some() && f.state() == "authorized").then_some(()),
        || f.root.inner_html(),
    )
    .await;
    assert_eq!(sessions.calls.get(), 1, "one getSessionToken for both");
    let tokens = f.host.authorizations("tokens");
    assert_eq!(
        tokens[1..],
        [
            bearer("tms1.first"),
            bearer("tms1.first"),
            bearer("tms1.second"),
            bearer("tms1.second")
        ]
    );
}

#[wasm_bindgen_test]
async fn a_token_is_renewed_before_it_expires() {
    let host = FakeHost::active(rows(23));
    // expiresAt: the renewal is due RENEW_BEFORE_MS earlier, i.e. 1.2 s from now.
    let expires_at = NOW + token_manager_widget::RENEW_BEFORE_MS + 1_200;
    let sessions = FakeSessions::new(&[("tms1.short", Some(expires_at)), ("tms1.fresh", None)]);
    let f = panel_with(host, "authorized", session(None, &sessions)).await;
    assert_eq!(sessions.calls.get(), 1);
    wait_for(
        "the renewal before expiry",
        || (sessions.calls.get() == 2).then_some(()),
        || format!("{} calls", sessions.calls.get()),
    )
    .await;
    settle().await;
    // No refusal was needed: the next call carries the fresh token.
    f.click("button[aria-label='Next page']");
    f.wait_text(".range", "11-20 of 23").await;
    assert_eq!(
        f.host.authorizations("tokens"),
        [bearer("tms1.short"), bearer("tms1.fresh")]
    );
    // The fresh token said no expiry: nothing more is scheduled.
    gloo_timers::future::sleep(std::time::Duration::from_millis(1_500)).await;
    assert_eq!(sessions.calls.get(), 2);
}

#[wasm_bindgen_test]
async fn a_new_session_token_replaces_the_old_without_restarting() {
    let host = FakeHost::active(rows(23));
    let mut f = panel_with(host, "authorized", |p| {
        p.session_token = token("tms1.first");
    })
    .await;
    f.update(|p| p.session_token = token("tms1.second"));
    settle().await;
    f.click("button[aria-label='Next page']");
    f.wait_text(".range", "11-20 of 23").await;
    assert_eq!(
        *f.host.calls.borrow(),
        ["tokens 1 10", "config demo-co", "tokens 2 10"],
        "no reload"
    );
    assert_eq!(
        f.host.authorizations("tokens"),
        [bearer("tms1.first"), bearer("tms1.second")]
    );
}

#[wasm_bindgen_test]
async fn a_session_that_cannot_be_had_says_so_and_try_again_asks_again() {
    let host = FakeHost::not_authorized();
    let sessions = FakeSessions::new(&[]);
    sessions.queue(None); // the portal's backend failed
    let f = panel_with(host, "error", session(None, &sessions)).await;
    assert_eq!(f.alert_text(), m().error(ErrorCode::Unauthenticated));
    assert!(f.host.calls.borrow().is_empty(), "no call without a token");
    sessions.queue(Some(("tms1.later", None)));
    f.button("retry-button").unwrap().click();
    f.wait_state("not_authorized").await;
    assert_eq!(sessions.calls.get(), 2);
    assert_eq!(f.host.authorizations("tokens"), [bearer("tms1.later")]);
}

#[wasm_bindgen_test]
async fn a_viewer_sees_the_rows_but_no_authorize_and_no_clear() {
    for status in [
        AuthorizationStatus::Active,
        AuthorizationStatus::NotAuthorized,
        AuthorizationStatus::Cleared,
        AuthorizationStatus::Invalidated,
    ] {
        let host = FakeHost::new(status, rows(2));
        host.can_manage.set(false);
        let f = Fixture::new(host, FakeBrowser::new());
        wait_for(
            "a settled panel",
            || (!matches!(f.state().as_str(), "" | "loading")).then_some(()),
            || f.root.inner_html(),
        )
        .await;
        settle().await;
        assert_ne!(f.state(), "error");
        assert_eq!(f.all("tbody tr").len(), 2, "{status:?}: the grid is shown");
        assert!(f.button("authorize-button").is_none(), "{status:?}");
        assert!(f.button("clear-button").is_none(), "{status:?}");
        assert!(f.q("[role=dialog]").is_none());
        assert!(f.q(".note").is_none(), "no 'Click Clear' note");
    }
}

#[wasm_bindgen_test]
async fn a_viewers_error_offers_try_again_not_authorize() {
    // A return a viewer cannot finish (the host forbids the exchange).
    let browser = FakeBrowser::new();
    let host = FakeHost::not_authorized();
    host.can_manage.set(false);
    let state = authorized_earlier(&host, &browser, COMPANY, 20_000, 3, None);
    *browser.url.borrow_mut() = format!("{PORTAL}?code=abc&state={state}");
    host.fail_next("exchange", ErrorCode::Forbidden);
    let f = Fixture::new(host, browser);
    f.wait_state("error").await;
    f.wait_text(
        "[role=alert] .text",
        "You are not allowed to manage this company's authorization.",
    )
    .await;
    wait_for(
        "Try again",
        || f.button("retry-button"),
        || f.root.inner_html(),
    )
    .await;
    assert!(f.button("authorize-button").is_none());
}

#[wasm_bindgen_test]
async fn forbidden_shows_its_sentence() {
    // A start the host refuses (e.g. the session lost its admin role meanwhile).
    let host = FakeHost::not_authorized();
    host.fail_next("start", ErrorCode::Forbidden);
    let f = panel(host, "not_authorized").await;
    f.button("authorize-button").unwrap().click();
    f.wait_state("error").await;
    assert_eq!(f.alert_code().as_deref(), Some("forbidden"));
    assert_eq!(
        f.alert_text(),
        "You are not allowed to manage this company's authorization."
    );
    assert_eq!(m().error(ErrorCode::Forbidden), f.alert_text());
    assert!(f.browser.navigations.borrow().is_empty());
    assert!(
        f.browser.pending(COMPANY).is_none(),
        "no marker without a start"
    );
    assert!(f.events.borrow().iter().any(|e| matches!(
        e,
        WidgetEvent::Error {
            code: ErrorCode::Forbidden,
            ..
        }
    )));
}

#[wasm_bindgen_test]
async fn a_popup_closed_while_the_host_starts_goes_nowhere() {
    let host = FakeHost::not_authorized();
    let f = panel_with(host, "not_authorized", popup).await;
    f.host.delay_ms.set(1_200);
    f.authorize().await;
    f.browser.popup_closed.set(true);
    f.wait_state("not_authorized").await;
    gloo_timers::future::sleep(std::time::Duration::from_millis(1_300)).await;
    assert_eq!(f.host.calls_to("start"), 1);
    assert!(f.browser.popup_navigations.borrow().is_empty());
    assert!(f.browser.navigations.borrow().is_empty());
    assert!(f.browser.pending(COMPANY).is_none());
    assert_eq!(f.state(), "not_authorized");
}

#[wasm_bindgen_test]
async fn superseded_rows_have_their_badge() {
    let mut all = rows(2);
    all[1].status = token_manager_core::RecordStatus::Superseded;
    all[1].superseded_by = Some("dana".into());
    let f = panel(FakeHost::active(all.clone()), "authorized").await;
    assert_eq!(f.q("tbody").unwrap().inner_html(), expected_rows(&all));
    let badge = &f.all("tbody .badge")[1];
    assert_eq!(badge.text_content().unwrap(), "Superseded");
    assert_eq!(
        badge.get_attribute("class").as_deref(),
        Some("badge superseded")
    );
}
