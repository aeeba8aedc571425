//! # token-manager-widget
//!
//! The Token Manager panel as a Yew component compiled to WebAssembly: a company
//! admin clicks **Authorize**, signs in at UPS.com (or any OAuth 2.0 server), comes back, and
//! sees the **Token History** grid; **Clear** dissolves the authorization.
//!
//! The widget holds no flow rules of its own: the host starts the authorization (it keeps the
//! state and the PKCE verifier: the BFF pattern), `token-manager-core` decides whose a return
//! is and validates it against the tab's [`ReturnMarker`](token_manager_core::ReturnMarker),
//! labels the grid, formats timestamps and supplies every message. The widget only carries data
//! between core, the browser and the host, with the portal's session token when it has one.
//!
//! ```text
//!  props / mount options ─▶ TokenManager ─▶ use_opt_in (effects in hook/) ─▶ HostApi (gloo-net)
//!                                │                 │  │  ▲ Auth (session.rs: token, renewal)
//!                                │                 │  └────────────────────▶ Browser (storage, URL,
//!                                │                 ▼                          popup, clock)
//!                                │          PanelState reducer (state.rs, wraps core types)
//!                                ▼
//!        Panel ─ StatusMessage · ErrorMessage · HistoryGrid ─ Pager · ConfirmDialog
//! ```
//!
//! ## Two ways to use it
//!
//! * **Rust/Yew apps**: `html! { <TokenManager api="/api/optin" company="demo-co" on_event={cb} /> }`.
//! * **JavaScript** (through the npm package): [`mount`]`(element, options)` renders into the
//!   element's shadow root and returns a [`WidgetHandle`] with `update(options)` and `destroy()`.
//!
//! ## Testing seams
//!
//! All IO goes through [`io::HostApi`] and [`io::Browser`]; pass fakes through
//! [`TokenManagerProps::services`] (see `widget/tests/`).

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use token_manager_core::{Messages, PerPage};
use yew::prelude::*;

mod components;
pub mod events;
mod hook;
pub mod io;
mod json;
mod mount;
mod session;
pub mod state;
pub mod tz;

pub use events::WidgetEvent;
pub use io::{Auth, Browser, HostApi, HttpHost, Services, SessionToken, WebBrowser};
pub use mount::{mount, WidgetHandle};
pub use session::{GetSessionToken, SessionGrant, RENEW_BEFORE_MS};

/// The widget stylesheet (put inside the shadow root by [`mount`]; Rust apps that render
/// [`TokenManager`] in the light DOM include it themselves, scoped as they see fit).
pub const STYLESHEET: &str = include_str!("style.css");

/// How Authorize reaches the provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The tab goes to the provider and comes back to the redirect URI (the default).
    #[default]
    Redirect,
    /// The provider opens in a popup that posts the result back; the page never reloads.
    Popup,
}

/// The panel's colour scheme, when it is not the page's.
///
/// Without one ([`TokenManagerProps::theme`] `None`) the panel takes the `color-scheme` the
/// portal page declares (inherited by the host element; light when it declares none), so a
/// light page never gets a dark panel because the OS is dark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Light, whatever the page and the OS say.
    Light,
    /// Dark, whatever the page and the OS say.
    Dark,
    /// The OS's preference (`prefers-color-scheme`).
    System,
}

impl Theme {
    /// The option value (`"light"`, `"dark"`, `"system"`), also the panel's `data-theme`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Light => "light",
            Self::Dark => "dark",
            Self::System => "system",
        }
    }
}

/// Props of [`TokenManager`].
#[derive(Debug, Clone, Properties, PartialEq)]
pub struct TokenManagerProps {
    /// Base URL of the host API, e.g. `/api/optin` or `https://portal.example/api/optin`.
    pub api: AttrValue,
    /// Company whose authorization the panel manages.
    pub company: AttrValue,
    /// Grid page size (10, 25, 50 or 100; default 10).
    #[prop_or_default]
    pub page_size: PerPage,
    /// Redirect (default) or popup.
    #[prop_or_default]
    pub mode: Mode,
    /// Replacement texts keyed by core's message keys (`"authorize"`, `"state_mismatch"`, …).
    #[prop_or_default]
    pub locale: Rc<BTreeMap<String, String>>,
    /// IANA time zone of the grid (default: the browser's).
    #[prop_or_default]
    pub time_zone: Option<AttrValue>,
    /// Help tip under the panel (default: the seed's tip about the Account Executive).
    #[prop_or_default]
    pub help_text: Option<AttrValue>,
    /// Colour scheme (default `None`: the page's declared `color-scheme`, light if none).
    #[prop_or_default]
    pub theme: Option<Theme>,
    /// The portal's session token for the host: sent as `Authorization: Bearer` on every call,
    /// and then no cookies are sent. A new value replaces it without restarting the panel.
    /// Without one (and without [`get_session_token`](Self::get_session_token)) the calls carry
    /// the portal's cookies.
    #[prop_or_default]
    pub session_token: Option<SessionToken>,
    /// Gets a fresh session token from the portal's backend: called for the first call when
    /// there is no [`session_token`](Self::session_token), when the host answers
    /// `unauthenticated` (the call is then retried once), and [`RENEW_BEFORE_MS`] before a
    /// token whose expiry it gave expires. Concurrent needs share one call.
    #[prop_or_default]
    pub get_session_token: Option<GetSessionToken>,
    /// Events for the embedding page.
    #[prop_or_default]
    pub on_event: Callback<WidgetEvent>,
    /// IO to use instead of `gloo-net` at `api` and the real browser (tests, other backends).
    #[prop_or_default]
    pub services: Option<Services>,
}

/// The Token Manager panel.
#[component]
pub fn TokenManager(props: &TokenManagerProps) -> Html {
    let messages = use_memo(
        (props.locale.clone(), props.help_text.clone()),
        |(locale, help_text)| {
            let mut overrides = (**locale).clone();
            if let Some(tip) = help_text {
                overrides.insert(
                    token_manager_core::UiText::HelpTip.key().to_owned(),
                    tip.to_string(),
                );
            }
            Messages::with_overrides(overrides)
        },
    );
    let zone = use_memo(props.time_zone.clone(), |tz| {
        tz::Zone::new(tz.as_deref()).unwrap_or_else(|reason| {
            web_sys::console::warn_1(
                &format!("token-manager: timeZone ignored, using the browser's: {reason}").into(),
            );
            tz::Zone::local()
        })
    });
    let hook::OptIn { state, actions } = hook::use_opt_in(props, messages.clone());
    html! {
        <components::Panel
            {state}
            theme={props.theme}
            {messages}
            {zone}
            {actions} />
    }
}
