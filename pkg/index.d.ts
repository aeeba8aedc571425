// Types of token-manager-widget (the hand-written wrapper, index.js).

/** Panel states reported by `statechange` (and carried by `authorized` / `cleared`). */
export type TokenManagerState =
  | "loading"
  | "not_authorized"
  | "redirecting"
  | "generating"
  | "authorized"
  | "invalidated"
  | "error";

/** Status of a history row. */
export type TokenRecordStatus =
  | "active"
  | "expired"
  | "refreshed"
  | "superseded"
  | "cleared"
  | "invalidated";

/**
 * Stable error codes of `token-manager:error` (`detail.code`): the host's and the widget's
 * (`core::messages::ErrorCode` in the Rust crates), plus two of this wrapper: `invalid_options`
 * (bad attributes or options) and `load_failed` (the WebAssembly could not be loaded).
 */
export type TokenManagerErrorCode =
  | "state_mismatch"
  | "expired_attempt"
  | "consent_declined"
  | "no_pending_authorization"
  | "malformed_callback"
  | "provider_error"
  | "provider_unavailable"
  | "provider_malformed"
  | "invalid_grant"
  | "invalid_client"
  | "invalidated"
  | "host_unreachable"
  | "timeout"
  | "csrf_rejected"
  | "redirect_uri_not_allowed"
  | "invalid_request"
  | "unknown_company"
  | "unauthenticated"
  | "forbidden"
  | "rate_limited"
  | "not_found"
  | "invalid_config"
  | "internal"
  | "unknown"
  | "invalid_options"
  | "load_failed";

/** A history row (metadata only: the browser never sees a token). Times in ms since the epoch. */
export interface TokenManagerRecord {
  id: number;
  tokenCreated: number;
  tokenExpires: number;
  refreshCreated: number | null;
  refreshExpires: number | null;
  status: TokenRecordStatus;
}

/** `detail` of `token-manager:statechange`: the panel now shows `state`. */
export interface TokenManagerStateChangeDetail {
  company: string;
  state: TokenManagerState;
}

/** `detail` of `token-manager:authorized`: a token was generated after the return from the provider. */
export interface TokenManagerAuthorizedDetail {
  company: string;
  state: "authorized";
  /** The new history row. */
  record: TokenManagerRecord;
}

/** `detail` of `token-manager:cleared`: the authorization was dissolved. */
export interface TokenManagerClearedDetail {
  company: string;
  state: "not_authorized";
  /** When the host cleared it (ms since the epoch). */
  clearedAt: number;
}

/** `detail` of `token-manager:error`: the panel shows an error. */
export interface TokenManagerErrorDetail {
  company: string;
  /** Stable code, e.g. `"state_mismatch"` or `"timeout"`. */
  code: TokenManagerErrorCode;
  /** The text shown in the panel (or logged, for the wrapper's own codes). */
  message: string;
}

/** Event name → `detail` type. */
export interface TokenManagerEventDetailMap {
  authorized: TokenManagerAuthorizedDetail;
  cleared: TokenManagerClearedDetail;
  error: TokenManagerErrorDetail;
  statechange: TokenManagerStateChangeDetail;
}

/** Names of the events (`onEvent`'s first argument; DOM events are `token-manager:<name>`). */
export type TokenManagerEventName = keyof TokenManagerEventDetailMap;

/** `onEvent`'s arguments: checking `name` narrows `detail`. */
export type TokenManagerEventArgs = {
  [K in TokenManagerEventName]: [name: K, detail: TokenManagerEventDetailMap[K]];
}[TokenManagerEventName];

/** A DOM event of the panel: `bubbles` and `composed`, so it crosses shadow roots. */
export type TokenManagerEvent<K extends TokenManagerEventName = TokenManagerEventName> = CustomEvent<
  TokenManagerEventDetailMap[K]
>;

/** The panel's colour scheme when it is not the page's (option and attribute `theme`). */
export type TokenManagerTheme = "light" | "dark" | "system";

/** Texts replacing the panel's English ones, keyed by message key (`"authorize"`, `"state_mismatch"`, …). */
export type TokenManagerLocale = Record<string, string>;

/**
 * What `getSessionToken` gives: the session token, or the token and when it expires (ms since
 * the epoch: the host's `expires_at`), so the panel renews it a minute before.
 */
export type TokenManagerSessionGrant = string | { sessionToken: string; expiresAt?: number };

/**
 * Fetches a fresh session token from the portal's backend (which mints it with the host's
 * `POST /api/v1/sessions`). Called when the panel has no token, when the host refuses the
 * current one (the refused call is then retried once), and before an `expiresAt` it gave.
 * Concurrent needs share one call. A throw, a rejection or another value means "no token": the
 * panel shows `unauthenticated`.
 */
export type TokenManagerGetSessionToken = () => Promise<TokenManagerSessionGrant> | TokenManagerSessionGrant;

/** Options of `mountTokenManager` (the element's attributes are the kebab-case names). */
export interface TokenManagerOptions {
  /** Base URL of the host API, e.g. `"/api/optin"` (attribute `api`). */
  api: string;
  /** Company whose authorization the panel manages (attribute `company`). */
  company: string;
  /** Grid page size; default 10 (attribute `page-size`). */
  pageSize?: 10 | 25 | 50 | 100;
  /** `"redirect"` (default) or `"popup"` (attribute `mode`). */
  mode?: "redirect" | "popup";
  /** Replacement texts (attribute `locale`, as JSON). */
  locale?: TokenManagerLocale;
  /** IANA time zone of the grid, e.g. `"America/New_York"`; default the browser's (attribute `time-zone`). */
  timeZone?: string;
  /** Help tip under the panel (attribute `help-text`). */
  helpText?: string;
  /**
   * Colour scheme (attribute `theme`): `"light"`, `"dark"` or `"system"` (the OS's preference).
   * Default: the scheme the portal page declares (its computed `color-scheme`, inherited by the
   * element), light when it declares none — never dark in a light page because the OS is dark.
   */
  theme?: TokenManagerTheme;
  /**
   * The portal's session token (attribute `session-token`): every call to the host carries it
   * as `Authorization: Bearer` and sends no cookies. A new value replaces it without restarting
   * the panel. Without it (and without `getSessionToken`) the calls carry the portal's cookies.
   */
  sessionToken?: string;
  /** Fetches a fresh session token (the element's `getSessionToken` property). */
  getSessionToken?: TokenManagerGetSessionToken;
  /** Called for every event, after the DOM event was dispatched. */
  onEvent?: (...args: TokenManagerEventArgs) => void;
}

/** A panel mounted by `mountTokenManager`. */
export interface TokenManagerHandle {
  /**
   * Merge `options` into the current ones and re-render; a new `api` or `company` starts over.
   * Throws a `TypeError` for invalid options, an `Error` after `destroy()`.
   */
  update(options: Partial<TokenManagerOptions>): void;
  /** Unmount the panel: empties the shadow root, stops its timers, listeners and requests. Idempotent. */
  destroy(): void;
}

/**
 * `<token-manager api="/api/optin" company="acme" session-token="…">`: the panel as a custom
 * element, registered by `defineTokenManager()`. Properties mirror the attributes; the
 * `getSessionToken` property has no attribute.
 */
export declare class TokenManagerElement extends HTMLElement {
  static readonly observedAttributes: readonly string[];
  api: string | null;
  company: string | null;
  pageSize: number | null;
  mode: string | null;
  timeZone: string | null;
  helpText: string | null;
  /** Attribute `theme`: `"light"`, `"dark"`, `"system"`, or null (the page's scheme). */
  theme: string | null;
  locale: TokenManagerLocale | null;
  /** Attribute `session-token`. */
  sessionToken: string | null;
  /** A function, set before or after the element is connected (no attribute). */
  getSessionToken: TokenManagerGetSessionToken | null;
  connectedCallback(): void;
  disconnectedCallback(): void;
  attributeChangedCallback(name: string, before: string | null, after: string | null): void;
  addEventListener<K extends keyof HTMLElementEventMap>(
    type: K,
    listener: (this: TokenManagerElement, event: HTMLElementEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof HTMLElementEventMap>(
    type: K,
    listener: (this: TokenManagerElement, event: HTMLElementEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | EventListenerOptions,
  ): void;
}

/**
 * Load the widget's WebAssembly (once per page) and register the custom element as `tagName`
 * (default `"token-manager"`). Idempotent; resolves to the registered class. Rejects when the
 * wasm cannot be loaded or the name is taken by another element.
 */
export declare function defineTokenManager(tagName?: string): Promise<typeof TokenManagerElement>;

/**
 * Mount the panel into `element` (rendered in its open shadow root) without a custom element.
 * Events are dispatched on `element` as `token-manager:*` DOM events and passed to `onEvent`.
 */
export declare function mountTokenManager(
  element: HTMLElement,
  options: TokenManagerOptions,
): Promise<TokenManagerHandle>;

/** The DOM events, by type (they bubble to the document and the window). */
export interface TokenManagerEventMap {
  "token-manager:authorized": TokenManagerEvent<"authorized">;
  "token-manager:cleared": TokenManagerEvent<"cleared">;
  "token-manager:error": TokenManagerEvent<"error">;
  "token-manager:statechange": TokenManagerEvent<"statechange">;
}

declare global {
  interface HTMLElementTagNameMap {
    "token-manager": TokenManagerElement;
  }
  interface HTMLElementEventMap extends TokenManagerEventMap {}
  interface DocumentEventMap extends TokenManagerEventMap {}
  interface WindowEventMap extends TokenManagerEventMap {}
}
