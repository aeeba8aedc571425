//! The JavaScript API (the "widget ↔ pkg" contract in ARCHITECTURE.md, wrapped by the npm
//! package): `mount(element, options)` → `WidgetHandle { update, destroy }`. No
//! `#[wasm_bindgen(start)]`: the library does nothing until mounted.

use std::collections::BTreeMap;
use std::rc::Rc;

use serde::Deserialize;
use token_manager_core::{PerPage, Timestamp};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{CssStyleSheet, Element, HtmlElement, ShadowRoot, ShadowRootInit, ShadowRootMode};
use yew::{AppHandle, AttrValue, Callback};

use crate::io::{LocalFuture, SessionToken};
use crate::session::{GetSessionToken, SessionGrant};
use crate::{Mode, Theme, TokenManager, TokenManagerProps, WidgetEvent, STYLESHEET};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Names of the events passed to `onEvent`. */
export type TokenManagerEventName = "authorized" | "cleared" | "error" | "statechange";

/** What `getSessionToken` resolves to: the token, or the token and its expiry (ms since the epoch). */
export type SessionTokenGrant = string | { sessionToken: string; expiresAt?: number };

/** Panel states reported by `statechange`. */
export type TokenManagerState =
  | "loading" | "not_authorized" | "redirecting" | "generating"
  | "authorized" | "invalidated" | "error";

/** `detail` of the events passed to `onEvent` (timestamps in ms since the epoch). */
export interface TokenManagerEventDetail {
  company: string;
  /** `statechange`, `authorized`, `cleared`. */
  state?: TokenManagerState;
  /** `error`: a stable code such as `"state_mismatch"` or `"timeout"`. */
  code?: string;
  /** `error`: the text shown in the panel. */
  message?: string;
  /** `cleared`. */
  clearedAt?: number;
  /** `authorized`: the new history row (metadata only, never a token). */
  record?: {
    id: number; tokenCreated: number; tokenExpires: number;
    refreshCreated: number | null; refreshExpires: number | null; status: string;
  };
}

/** Options of `mount` and `WidgetHandle.update`. */
export interface MountOptions {
  /** Base URL of the host API, e.g. "/api/optin". */
  api: string;
  /** Company whose authorization the panel manages. */
  company: string;
  /** Grid page size; default 10. */
  pageSize?: 10 | 25 | 50 | 100;
  /** "redirect" (default) or "popup". */
  mode?: "redirect" | "popup";
  /** Replacement texts keyed by message key ("authorize", "state_mismatch", …). */
  locale?: Record<string, string>;
  /** IANA time zone of the grid; default the browser's. */
  timeZone?: string;
  /** Help tip under the panel; default the tip about the Account Executive. */
  helpText?: string;
  /** Colour scheme; default the page's declared `color-scheme` (light if none). */
  theme?: "light" | "dark" | "system";
  /**
   * The portal's session token for the host: sent as `Authorization: Bearer`, and then no
   * cookies are sent. A new value in `update` replaces it without restarting the panel.
   */
  sessionToken?: string;
  /**
   * Fetches a fresh session token from the portal's backend: called when there is no
   * `sessionToken`, when the host refuses the token (the call is then retried once), and a
   * minute before `expiresAt`. Concurrent needs share one call.
   */
  getSessionToken?: () => Promise<SessionTokenGrant> | SessionTokenGrant;
  /** Called for every event. */
  onEvent?: (name: TokenManagerEventName, detail: TokenManagerEventDetail) => void;
}
"#;

/// The serializable part of the options (`onEvent`, `sessionToken` and `getSessionToken` are
/// read separately: a serde error would quote the value).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Options {
    api: String,
    company: String,
    #[serde(default)]
    page_size: Option<u32>,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    locale: Option<BTreeMap<String, String>>,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    help_text: Option<String>,
    #[serde(default)]
    theme: Option<Theme>,
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(&format!("token-manager: {message}")).into()
}

/// Read and check `options` into component props.
fn props_from(options: &JsValue) -> Result<TokenManagerProps, JsValue> {
    if !options.is_object() {
        return Err(type_error("options must be an object"));
    }
    let parsed: Options = serde_wasm_bindgen::from_value(options.clone())
        .map_err(|e| type_error(&format!("invalid options: {e}")))?;
    if parsed.api.trim().is_empty() {
        return Err(type_error("options.api must be the host API base URL"));
    }
    if parsed.company.trim().is_empty() {
        return Err(type_error("options.company must not be empty"));
    }
    let page_size = match parsed.page_size {
        None => PerPage::default(),
        Some(n) => PerPage::try_from(n)
            .map_err(|_| type_error("options.pageSize must be 10, 25, 50 or 100"))?,
    };
    let on_event = match function(options, "onEvent")? {
        None => Callback::noop(),
        Some(f) => {
            Callback::from(move |event: WidgetEvent| {
                let serializer = serde_wasm_bindgen::Serializer::json_compatible();
                let detail = serde::Serialize::serialize(&event.detail(), &serializer)
                    .unwrap_or(JsValue::NULL);
                // A throwing listener must not break the panel.
                let _ = f.call2(&JsValue::NULL, &JsValue::from_str(event.name()), &detail);
            })
        }
    };
    let session_token = match field(options, "sessionToken") {
        None => None,
        Some(token) => Some(token.as_string().and_then(|t| SessionToken::new(&t)).ok_or_else(
            || {
                type_error(
                    "options.sessionToken must be a session token (visible ASCII characters, no spaces)",
                )
            },
        )?),
    };
    let get_session_token = function(options, "getSessionToken")?.map(session_getter);
    Ok(TokenManagerProps {
        api: parsed.api.trim().to_owned().into(),
        company: parsed.company.trim().to_owned().into(),
        page_size,
        mode: parsed.mode.unwrap_or_default(),
        locale: Rc::new(parsed.locale.unwrap_or_default()),
        time_zone: parsed.time_zone.map(AttrValue::from),
        help_text: parsed.help_text.map(AttrValue::from),
        theme: parsed.theme,
        session_token,
        get_session_token,
        on_event,
        services: None,
    })
}

/// `options[name]`, unless undefined or null.
fn field(options: &JsValue, name: &str) -> Option<JsValue> {
    js_sys::Reflect::get(options, &JsValue::from_str(name))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// `options[name]` as a function, if given; a `TypeError` if it is something else.
fn function(options: &JsValue, name: &str) -> Result<Option<js_sys::Function>, JsValue> {
    field(options, name)
        .map(|f| {
            f.dyn_into()
                .map_err(|_| type_error(&format!("options.{name} must be a function")))
        })
        .transpose()
}

/// `getSessionToken` as the widget calls it: its result (a value or a promise) settled, read as
/// a token or `{sessionToken, expiresAt}`. A throw, a rejection or another value is `None`
/// (reported on the console without the value: it may be a token).
fn session_getter(f: js_sys::Function) -> GetSessionToken {
    Callback::from(move |()| -> LocalFuture<Option<SessionGrant>> {
        let called = f.call0(&JsValue::NULL);
        Box::pin(async move {
            let settled = match called {
                Ok(value) => JsFuture::from(js_sys::Promise::resolve(&value)).await,
                Err(thrown) => Err(thrown),
            };
            let grant = match settled {
                Ok(value) => read_grant(&value),
                Err(reason) => {
                    web_sys::console::warn_2(
                        &"token-manager: getSessionToken() failed:".into(),
                        &reason,
                    );
                    return None;
                }
            };
            if grant.is_none() {
                web_sys::console::warn_1(
                    &"token-manager: getSessionToken() must resolve to a session token string or { sessionToken, expiresAt }"
                        .into(),
                );
            }
            grant
        })
    })
}

/// A token string, or `{sessionToken: string, expiresAt?: number}` (ms since the epoch).
fn read_grant(value: &JsValue) -> Option<SessionGrant> {
    if let Some(token) = value.as_string() {
        return Some(SessionGrant {
            token: SessionToken::new(&token)?,
            expires_at: None,
        });
    }
    if !value.is_object() {
        return None;
    }
    let token = field(value, "sessionToken")?.as_string()?;
    let expires_at = match field(value, "expiresAt") {
        None => None,
        // A finite number of ms; fractions are dropped.
        #[allow(clippy::cast_possible_truncation)]
        Some(at) => Some(Timestamp::from_millis(
            at.as_f64().filter(|n| n.is_finite())? as i64,
        )),
    };
    Some(SessionGrant {
        token: SessionToken::new(&token)?,
        expires_at,
    })
}

/// A mounted panel. `update(options)` re-renders with new options; `destroy()` unmounts it,
/// stops its timers and listeners and empties the shadow root.
#[wasm_bindgen]
pub struct WidgetHandle {
    app: Option<AppHandle<TokenManager>>,
    shadow: ShadowRoot,
}

#[wasm_bindgen]
impl WidgetHandle {
    /// Replace the options (same shape as `mount`'s). A new `api` or `company` starts over.
    pub fn update(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "MountOptions")] options: JsValue,
    ) -> Result<(), JsValue> {
        let props = props_from(&options)?;
        match self.app.as_mut() {
            Some(app) => {
                app.update(props);
                Ok(())
            }
            None => Err(type_error("the widget was destroyed")),
        }
    }

    /// Unmount the panel and empty the shadow root. Calling it again does nothing.
    pub fn destroy(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
        self.shadow.set_inner_html("");
        self.shadow.set_adopted_style_sheets(&js_sys::Array::new());
    }
}

/// Render the panel into `host.shadowRoot` (an open shadow root is attached when absent).
///
/// Throws a `TypeError` for invalid options, or when `host` has a closed shadow root.
#[wasm_bindgen]
pub fn mount(
    host: HtmlElement,
    #[wasm_bindgen(unchecked_param_type = "MountOptions")] options: JsValue,
) -> Result<WidgetHandle, JsValue> {
    let props = props_from(&options)?;
    let shadow = match host.shadow_root() {
        Some(shadow) => shadow,
        None => host
            .attach_shadow(&ShadowRootInit::new(ShadowRootMode::Open))
            .map_err(|_| type_error("cannot attach a shadow root to this element"))?,
    };
    let document = host
        .owner_document()
        .ok_or_else(|| type_error("the element is not in a document"))?;
    shadow.set_inner_html("");
    adopt_stylesheet(&shadow, &document)?;
    let root: Element = document.create_element("div")?;
    root.set_class_name("tm-root");
    shadow.append_child(&root)?;
    let app = yew::Renderer::<TokenManager>::with_root_and_props(root, props).render();
    Ok(WidgetHandle {
        app: Some(app),
        shadow,
    })
}

/// Style the shadow root with a constructable stylesheet (`adoptedStyleSheets`): no `<style>`
/// element, so the portal's CSP needs no `style-src 'unsafe-inline'` (CSP governs style
/// elements and attributes, not stylesheets built through the CSSOM). Browsers without
/// constructable stylesheets (Safari before 16.4) get a `<style>` element instead.
fn adopt_stylesheet(shadow: &ShadowRoot, document: &web_sys::Document) -> Result<(), JsValue> {
    if let Ok(sheet) = CssStyleSheet::new() {
        if sheet.replace_sync(STYLESHEET).is_ok() {
            shadow.set_adopted_style_sheets(&js_sys::Array::of1(&sheet));
            return Ok(());
        }
    }
    let style = document.create_element("style")?;
    style.set_text_content(Some(STYLESHEET));
    shadow.append_child(&style)?;
    Ok(())
}
