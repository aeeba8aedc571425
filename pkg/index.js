// token-manager-widget: the hand-written entry point of the npm package.
//
// It wraps the WebAssembly widget (wasm-bindgen's `mount(host, options)` → `WidgetHandle`,
// see ARCHITECTURE.md "widget ↔ pkg") in:
//   - `defineTokenManager(tagName)`: loads the wasm once and registers `<token-manager>`;
//   - `TokenManagerElement`: the custom element (attributes ↔ options, the `getSessionToken`
//     property, DOM events);
//   - `mountTokenManager(element, options)`: the same panel without a custom element.
// Importing this module has no side effect: nothing is fetched or registered until one of the
// functions above is called. Types: index.d.ts.

import init, { mount } from "./token_manager_widget.js";

/** Prefix of the DOM events: `token-manager:authorized`, `:cleared`, `:error`, `:statechange`. */
const EVENT_PREFIX = "token-manager:";

/** Attribute → option name (kebab-case ↔ camelCase). */
const ATTRIBUTE_OPTIONS = Object.freeze({
  api: "api",
  company: "company",
  "page-size": "pageSize",
  mode: "mode",
  "time-zone": "timeZone",
  "help-text": "helpText",
  theme: "theme",
  locale: "locale",
  "session-token": "sessionToken",
});

/** Properties a page may set before the element is defined (they are re-applied on upgrade). */
const PROPERTIES = Object.freeze([...Object.values(ATTRIBUTE_OPTIONS), "getSessionToken"]);

// ---- loading the WebAssembly, once per page ------------------------------------------------

let loaded = false;
let loading = null;

/**
 * Fetch and instantiate the widget's wasm (relative to this module, so bundlers that follow
 * `new URL(…, import.meta.url)` and plain `<script type="module">` both find it). Every caller
 * shares one promise; a failed load can be retried.
 */
function loadWidget() {
  if (loaded) return Promise.resolve();
  if (!loading) {
    const url = new URL("./token_manager_widget_bg.wasm", import.meta.url);
    loading = init({ module_or_path: url }).then(
      () => {
        loaded = true;
      },
      (cause) => {
        loading = null;
        const reason = cause instanceof Error ? cause.message : String(cause);
        throw new Error(`token-manager: could not load the widget's WebAssembly from ${url}: ${reason}`, {
          cause,
        });
      },
    );
  }
  return loading;
}

// ---- events -------------------------------------------------------------------------------

function dispatch(target, name, detail) {
  target.dispatchEvent(
    new CustomEvent(EVENT_PREFIX + name, { detail, bubbles: true, composed: true }),
  );
}

/** An error found by the wrapper itself (bad attributes or options, wasm not loadable). */
function reportError(target, code, error) {
  const message = error instanceof Error ? error.message : String(error);
  console.error(message);
  const company = target.getAttribute?.("company") ?? "";
  dispatch(target, "error", { company, code, message });
}

// ---- options ------------------------------------------------------------------------------

function optionsError(message) {
  return new TypeError(`token-manager: ${message}`);
}

/** Read the element's attributes into `mount` options; throws a `TypeError` naming the fault. */
function optionsFromAttributes(element) {
  const options = {};
  for (const [attribute, option] of Object.entries(ATTRIBUTE_OPTIONS)) {
    const value = element.getAttribute(attribute);
    if (value === null) continue;
    switch (attribute) {
      case "page-size": {
        const size = Number(value.trim());
        if (!Number.isInteger(size)) {
          throw optionsError(`page-size must be 10, 25, 50 or 100, not ${JSON.stringify(value)}`);
        }
        options.pageSize = size;
        break;
      }
      case "locale": {
        let table;
        try {
          table = JSON.parse(value);
        } catch (e) {
          throw optionsError(`the locale attribute is not valid JSON (${e.message})`);
        }
        options.locale = checkLocale(table);
        break;
      }
      default:
        options[option] = value;
    }
  }
  for (const required of ["api", "company"]) {
    if (!options[required]?.trim()) {
      throw optionsError(`the "${required}" attribute is required`);
    }
  }
  return options;
}

function checkLocale(table) {
  if (table === null || typeof table !== "object" || Array.isArray(table)) {
    throw optionsError('locale must be an object of texts, e.g. {"authorize":"Autoriser"}');
  }
  for (const [key, text] of Object.entries(table)) {
    if (typeof text !== "string") throw optionsError(`locale["${key}"] must be a string`);
  }
  return table;
}

// ---- the custom element -------------------------------------------------------------------

// Outside browsers (server rendering, tests in Node) importing must still work.
const ElementBase = typeof HTMLElement === "undefined" ? class {} : HTMLElement;

/**
 * `<token-manager api="/api/optin" company="acme" session-token="…">`: the panel as a custom
 * element. Register it with `defineTokenManager()`. Attribute changes (a new `session-token`
 * included) and a new `getSessionToken` update the panel; removing the element unmounts it
 * (timers, listeners and requests of the panel end with it).
 */
export class TokenManagerElement extends ElementBase {
  static get observedAttributes() {
    return Object.keys(ATTRIBUTE_OPTIONS);
  }

  /** The mounted widget, or null. */
  #handle = null;
  /** A sync is queued for the next microtask. */
  #queued = false;
  /** The last options error reported, so one fault is reported once. */
  #reported = null;
  /** The `getSessionToken` property (a function), or null. */
  #getSessionToken = null;
  /** Own properties set before the upgrade were moved onto the setters. */
  #upgraded = false;
  /** A first mount without any token source waited one task for `getSessionToken`. */
  #waitedForToken = false;

  connectedCallback() {
    this.#upgradeProperties();
    this.#queue();
  }

  // A page (or framework) may set properties on the element before `defineTokenManager()`
  // ran: they are then own data properties that hide the setters. Move them onto the setters.
  #upgradeProperties() {
    if (this.#upgraded) return;
    this.#upgraded = true;
    for (const name of PROPERTIES) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
    }
  }

  disconnectedCallback() {
    this.#queue();
  }

  attributeChangedCallback(_name, before, after) {
    if (before !== after) this.#queue();
  }

  // Changes are applied together in a microtask: several attributes set in a row give one
  // update, and moving the element (disconnect + connect) keeps the mounted panel.
  #queue() {
    if (this.#queued) return;
    this.#queued = true;
    queueMicrotask(() => {
      this.#queued = false;
      this.#sync();
    });
  }

  #sync() {
    if (!this.isConnected) {
      this.#unmount();
      return;
    }
    if (!loaded) {
      loadWidget().then(
        () => this.#queue(),
        (error) => reportError(this, "load_failed", error),
      );
      return;
    }
    let options;
    try {
      options = optionsFromAttributes(this);
    } catch (error) {
      this.#unmount();
      this.#report(error);
      return;
    }
    // Neither a `session-token` nor a `getSessionToken` yet: a page commonly sets the property
    // right after `await defineTokenManager()`, a few microtasks after the element connected.
    // Give it until the next task rather than calling the host with no token first.
    if (!this.#handle && !this.#getSessionToken && !options.sessionToken && !this.#waitedForToken) {
      this.#waitedForToken = true;
      setTimeout(() => this.#queue(), 0);
      return;
    }
    if (this.#getSessionToken) options.getSessionToken = this.#getSessionToken;
    options.onEvent = (name, detail) => dispatch(this, name, detail);
    try {
      if (this.#handle) this.#handle.update(options);
      else this.#handle = mount(this, options);
      this.#reported = null;
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error) {
    const message = error instanceof Error ? error.message : String(error);
    if (message === this.#reported) return;
    this.#reported = message;
    reportError(this, "invalid_options", error);
  }

  #unmount() {
    if (!this.#handle) return;
    const handle = this.#handle;
    this.#handle = null;
    handle.destroy();
    handle.free();
  }

  // Properties mirror the attributes, for frameworks that set properties.
  get api() {
    return this.getAttribute("api");
  }
  set api(value) {
    this.#setAttribute("api", value);
  }
  get company() {
    return this.getAttribute("company");
  }
  set company(value) {
    this.#setAttribute("company", value);
  }
  get pageSize() {
    const value = this.getAttribute("page-size");
    return value === null ? null : Number(value);
  }
  set pageSize(value) {
    this.#setAttribute("page-size", value);
  }
  get mode() {
    return this.getAttribute("mode");
  }
  set mode(value) {
    this.#setAttribute("mode", value);
  }
  get timeZone() {
    return this.getAttribute("time-zone");
  }
  set timeZone(value) {
    this.#setAttribute("time-zone", value);
  }
  get helpText() {
    return this.getAttribute("help-text");
  }
  set helpText(value) {
    this.#setAttribute("help-text", value);
  }
  /** `"light"`, `"dark"` or `"system"`; none: the page's declared `color-scheme` (light if none). */
  get theme() {
    return this.getAttribute("theme");
  }
  set theme(value) {
    this.#setAttribute("theme", value);
  }
  get locale() {
    const value = this.getAttribute("locale");
    if (value === null) return null;
    try {
      return JSON.parse(value);
    } catch {
      return null;
    }
  }
  set locale(value) {
    this.#setAttribute("locale", value == null ? null : JSON.stringify(value));
  }
  /** The portal's session token (attribute `session-token`). */
  get sessionToken() {
    return this.getAttribute("session-token");
  }
  set sessionToken(value) {
    this.#setAttribute("session-token", value);
  }
  /**
   * `() => Promise<string | { sessionToken, expiresAt }>`: fetches a fresh session token from
   * the portal's backend. A property only (a function is no attribute); set it before or after
   * the element is connected.
   */
  get getSessionToken() {
    return this.#getSessionToken;
  }
  set getSessionToken(value) {
    if (value !== null && value !== undefined && typeof value !== "function") {
      throw new TypeError("token-manager: getSessionToken must be a function (or null)");
    }
    const next = value ?? null;
    if (next === this.#getSessionToken) return;
    this.#getSessionToken = next;
    this.#queue();
  }

  #setAttribute(name, value) {
    if (value === null || value === undefined) this.removeAttribute(name);
    else this.setAttribute(name, String(value));
  }
}

// ---- public functions ---------------------------------------------------------------------

const definitions = new Map();

/**
 * Load the widget (once) and register the custom element as `tagName` (default
 * `token-manager`). Idempotent: calling it again with the same name returns the same promise.
 * Resolves to the element's class.
 */
export function defineTokenManager(tagName = "token-manager") {
  let definition = definitions.get(tagName);
  if (!definition) {
    definition = defineOnce(tagName);
    definitions.set(tagName, definition);
    definition.catch(() => definitions.delete(tagName));
  }
  return definition;
}

async function defineOnce(tagName) {
  if (typeof customElements === "undefined") {
    throw new Error("token-manager: defineTokenManager() needs a browser (customElements is undefined)");
  }
  if (typeof tagName !== "string" || !/^[a-z][.0-9_a-z-]*-[.0-9_a-z-]*$/.test(tagName)) {
    throw new TypeError(
      `token-manager: ${JSON.stringify(tagName)} is not a valid custom element name (lowercase, with a hyphen)`,
    );
  }
  const existing = customElements.get(tagName);
  if (existing && !(existing.prototype instanceof TokenManagerElement || existing === TokenManagerElement)) {
    throw new Error(`token-manager: <${tagName}> is already defined by another element`);
  }
  await loadWidget();
  if (!customElements.get(tagName)) {
    // A subclass per name: one constructor can be registered under one name only.
    customElements.define(tagName, class extends TokenManagerElement {});
  }
  return customElements.get(tagName);
}

/**
 * Mount the panel into `element` (its open shadow root, attached when absent) without a custom
 * element. Events are dispatched on `element` as DOM events and also passed to
 * `options.onEvent`. `update(options)` merges the given options into the current ones (e.g.
 * `update({ sessionToken })` replaces the token without restarting the panel).
 */
export async function mountTokenManager(element, options) {
  if (typeof HTMLElement === "undefined" || !(element instanceof HTMLElement)) {
    throw new TypeError("token-manager: mountTokenManager() needs an HTMLElement to render into");
  }
  if (options === null || typeof options !== "object") {
    throw new TypeError("token-manager: mountTokenManager() needs an options object ({ api, company, … })");
  }
  await loadWidget();
  let current = { ...options };
  const onEvent = (name, detail) => {
    dispatch(element, name, detail);
    current.onEvent?.(name, detail);
  };
  let handle = mount(element, { ...current, onEvent });
  return {
    update(next) {
      if (!handle) throw new Error("token-manager: update() was called after destroy()");
      const merged = { ...current, ...next };
      handle.update({ ...merged, onEvent });
      current = merged;
    },
    destroy() {
      if (!handle) return;
      const mounted = handle;
      handle = null;
      mounted.destroy();
      mounted.free();
    },
  };
}
