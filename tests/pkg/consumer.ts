// A portal team's TypeScript, type-checked against the packed package (types.test.mjs runs
// `tsc --noEmit` on it). It uses every export, option and event; the `@ts-expect-error` lines
// prove the types are strict enough to reject mistakes.

import {
  defineTokenManager,
  mountTokenManager,
  TokenManagerElement,
  type TokenManagerAuthorizedDetail,
  type TokenManagerClearedDetail,
  type TokenManagerErrorCode,
  type TokenManagerErrorDetail,
  type TokenManagerEvent,
  type TokenManagerEventName,
  type TokenManagerGetSessionToken,
  type TokenManagerHandle,
  type TokenManagerLocale,
  type TokenManagerOptions,
  type TokenManagerRecord,
  type TokenManagerSessionGrant,
  type TokenManagerState,
  type TokenManagerStateChangeDetail,
} from "token-manager-widget";

// Custom element: registration, creation, properties.
const Element: typeof TokenManagerElement = await defineTokenManager();
const Custom: typeof TokenManagerElement = await defineTokenManager("acme-token-manager");
const panel: TokenManagerElement = document.createElement("token-manager");
const viaClass: boolean = panel instanceof Element && panel instanceof Custom;
panel.api = "/api/optin";
panel.company = "acme";
panel.pageSize = 25;
panel.mode = "popup";
panel.timeZone = "America/New_York";
panel.helpText = "Questions? Call Dana.";
const french: TokenManagerLocale = { authorize: "Autoriser", state_mismatch: "Réponse refusée." };
panel.locale = french;
panel.setAttribute("page-size", "50");
// The session token the portal's backend minted, and how to get a fresh one.
panel.sessionToken = "tms1.example";
const fetchSession: TokenManagerGetSessionToken = async () => {
  const r = await fetch("/portal/token-manager-session", { method: "POST" });
  const { session_token, expires_at } = (await r.json()) as { session_token: string; expires_at: number };
  const grant: TokenManagerSessionGrant = { sessionToken: session_token, expiresAt: expires_at };
  return grant;
};
panel.getSessionToken = fetchSession;
panel.getSessionToken = () => "tms1.plain-string";
panel.getSessionToken = null;
// @ts-expect-error getSessionToken gives a token, not a number
panel.getSessionToken = async () => 42;
// @ts-expect-error a grant names its token sessionToken
const badGrant: TokenManagerSessionGrant = { token: "tms1.x" };
document.body.append(panel);

// DOM events, typed through HTMLElementEventMap / DocumentEventMap / WindowEventMap.
panel.addEventListener("token-manager:authorized", (e) => {
  const detail: TokenManagerAuthorizedDetail = e.detail;
  const record: TokenManagerRecord = detail.record;
  const created: number = record.tokenCreated;
  const expires: number = record.tokenExpires;
  const refreshCreated: number | null = record.refreshCreated;
  const refreshExpires: number | null = record.refreshExpires;
  if (record.status === "superseded") console.log("a newer opt-in replaced it");
  console.log(detail.company, record.id, record.status, created, expires, refreshCreated, refreshExpires);
});
panel.addEventListener("token-manager:cleared", (e) => {
  const detail: TokenManagerClearedDetail = e.detail;
  console.log(new Date(detail.clearedAt).toISOString(), detail.state === "not_authorized");
  // @ts-expect-error a cleared event carries no record
  console.log(e.detail.record);
});
document.addEventListener("token-manager:error", (e) => {
  const detail: TokenManagerErrorDetail = e.detail;
  const code: TokenManagerErrorCode = detail.code;
  if (code === "consent_declined" || code === "invalid_options" || code === "forbidden") console.warn(detail.message);
  // @ts-expect-error not an error code
  const wrong: TokenManagerErrorCode = "no_such_code";
  console.log(wrong);
});
window.addEventListener("token-manager:statechange", (e: TokenManagerEvent<"statechange">) => {
  const detail: TokenManagerStateChangeDetail = e.detail;
  const state: TokenManagerState = detail.state;
  console.log(detail.company, state, e.bubbles, e.composed);
});
// @ts-expect-error a statechange listener does not receive an authorized event
panel.addEventListener("token-manager:statechange", (e: TokenManagerEvent<"authorized">) => e.detail.record);

// mountTokenManager with every option; onEvent narrows `detail` by `name`.
const seen: TokenManagerEventName[] = [];
const options: TokenManagerOptions = {
  api: "https://portal.example.com/api/optin",
  company: "acme",
  pageSize: 100,
  mode: "redirect",
  locale: french,
  timeZone: "Europe/Paris",
  helpText: "Call Dana.",
  sessionToken: "tms1.example",
  getSessionToken: fetchSession,
  onEvent: (name, detail) => {
    seen.push(name);
    switch (name) {
      case "authorized":
        console.log(detail.record.id);
        break;
      case "cleared":
        console.log(detail.clearedAt);
        break;
      case "error":
        console.log(detail.code, detail.message);
        break;
      case "statechange":
        console.log(detail.state);
        break;
    }
  },
};
const host = document.createElement("div");
const handle: TokenManagerHandle = await mountTokenManager(host, options);
handle.update({ company: "globex", pageSize: 10 });
handle.update({ sessionToken: "tms1.renewed" });
handle.destroy();

// @ts-expect-error page sizes are 10, 25, 50 or 100
const badSize: TokenManagerOptions = { api: "/api/optin", company: "acme", pageSize: 20 };
// @ts-expect-error modes are "redirect" or "popup"
const badMode: TokenManagerOptions = { api: "/api/optin", company: "acme", mode: "iframe" };
// @ts-expect-error company is required
const noCompany: TokenManagerOptions = { api: "/api/optin" };
// @ts-expect-error mountTokenManager needs an element
await mountTokenManager("#panel", options);

console.log(viaClass, seen, badSize, badMode, noCompany, badGrant);
