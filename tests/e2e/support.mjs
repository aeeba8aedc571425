// Shared helpers of the end-to-end tests: polling waits, the panel seen as a user sees it,
// the mock UPS sign-in screens, and host/mock checks. Not a test file itself (the runner only
// picks up `*.test.mjs`).

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before } from 'node:test';

import {
  PKG_DIST,
  freePort,
  launchBrowser,
  launchProfile,
  portalSessionRoute,
  screenshot,
  serveStatic,
  startHost,
} from '../harness/index.mjs';

export { freePort, launchBrowser, launchProfile, screenshot, startHost };

export const require = createRequire(import.meta.url);

/** A grid timestamp as the seed shows it: `mm-dd-yyyy hh:mm:ss AM/PM`. */
export const GRID_TIME = /^\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2} (AM|PM)$/;
/** The tooltip of a grid timestamp: ISO-8601 in UTC. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** The demo UPS user of the mock. */
export const DEMO_USER = 'demo';
export const DEMO_PASSWORD = 'demo-password';

/** English texts of the panel (core's defaults), exactly as the admin reads them. */
export const TEXT = {
  title: 'Token Manager',
  authorize: 'Authorize',
  clear: 'Clear',
  redirecting: 'Redirecting to UPS.com…',
  generating: 'Generating token…',
  generated: 'A token was generated',
  cleared: 'The authorization was cleared.',
  /** After Clear with UPS (no revocation): the receipt in the same status line. */
  clearedUps: /^The authorization was cleared\. UPS\.com does not offer revocation; the tokens were deleted here and expire at UPS\.com within \d+ minutes\.$/,
  loading: 'Loading…',
  caption: 'Token History',
  columns: ['Token Created', 'Token Expires', 'Refresh Created', 'Refresh Expires', 'Status'],
  itemsPerPage: 'Items per page',
  empty: 'No tokens yet.',
  previousPage: 'Previous page',
  nextPage: 'Next page',
  confirmTitle: 'Clear authorization',
  confirmQuestion:
    "Clear the authorization? The portal will stop retrieving data on the user's behalf immediately.",
  cancel: 'Cancel',
  retry: 'Try again',
  invalidated:
    'The opt-in is no longer valid — the UPS.com password may have changed. Authorize again to continue.',
  passwordWarning:
    'When using the Opt-In method, changing the password for the UPS.com user that opted in will invalidate any previous Opt-In. Consequently, company admins will need to opt in again whenever the password is changed.',
};

/** Error texts (core's `ErrorCode::default_message`), keyed by wire code. */
export const ERROR_TEXT = {
  state_mismatch:
    'This sign-in response did not match the request from this tab, so it was rejected for your safety. Please authorize again.',
  expired_attempt: 'The authorization attempt took too long and expired. Please authorize again.',
  consent_declined: 'Authorization was declined at UPS.com. No token was created.',
  no_pending_authorization:
    'This sign-in response does not belong to an authorization started in this tab, so it was ignored. Please authorize again.',
  provider_unavailable:
    'UPS.com is not responding right now. No token was created; please try again in a few minutes.',
  invalid_grant:
    'UPS.com rejected the authorization code (it may have been used already or expired). Please authorize again.',
  host_unreachable:
    'The Token Manager service could not be reached. Check your connection and try again.',
  timeout: 'The Token Manager service took too long to answer. Please try again.',
};

/** Default wait for a visible state (generous for 2 shared cores, still far from a hang). */
export const WAIT_MS = 20_000;

/**
 * Poll `probe` until it returns a truthy value (exceptions count as "not yet"); returns that
 * value. On timeout, fails with `message` and the last observation, so a failure says what
 * the user saw instead.
 */
export async function waitFor(probe, { timeout = WAIT_MS, interval = 100, message = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
      last = value;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeout} ms waiting for ${message} (last seen: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Wait until `locator`'s text (trimmed, whitespace collapsed) equals `expected`. */
export async function waitForText(locator, expected, opts = {}) {
  let seen;
  await waitFor(
    async () => {
      seen = norm(await locator.first().textContent({ timeout: 1000 }));
      return seen === expected;
    },
    { message: `text ${JSON.stringify(expected)}`, ...opts },
  ).catch((e) => {
    throw new Error(`${e.message}; text was ${JSON.stringify(seen)}`);
  });
}

export function norm(s) {
  return (s ?? '').replace(/\s+/g, ' ').trim();
}

/**
 * A fresh browser context (its own portal session, auto-logged-in as admin) and page.
 * Uncaught script errors of every page of the context are collected in `page.e2eErrors`.
 */
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    locale: 'en-US',
    timezoneId: VIEWER_TIME_ZONE,
    ...options,
  });
  context.setDefaultTimeout(WAIT_MS);
  context.on('page', trackErrors);
  const page = await context.newPage();
  trackErrors(page);
  return { context, page };
}

export function trackErrors(page) {
  if (page.e2eErrors) return page;
  page.e2eErrors = [];
  page.on('pageerror', (e) => page.e2eErrors.push(`${page.url()}: ${e.message}`));
  // A CSP refusal (script, style, connection) is a bug of the page or the panel, not noise.
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) page.e2eErrors.push(`${page.url()}: ${m.text()}`);
  });
  return page;
}

/**
 * Run one user path in its own context; whatever happens, save a screenshot of the final
 * state as `target/e2e/<name>.png`, then close the context.
 */
export async function userPath(browser, name, body, contextOptions = {}) {
  const { context, page } = await newPage(browser, contextOptions);
  await runPath(context, page, name, body);
}

/** The context options of every test page (see {@link newPage}). */
export const CONTEXT_OPTIONS = { viewport: { width: 1280, height: 900 }, locale: 'en-US', timezoneId: 'America/New_York' };

/**
 * {@link userPath} in a context of its own making (e.g. a persistent profile from
 * `launchProfile`): a page of it tracked for errors, the final screenshot, then the context closed.
 */
export async function profilePath(context, name, body) {
  context.setDefaultTimeout(WAIT_MS);
  context.on('page', trackErrors);
  const page = context.pages()[0] ?? (await context.newPage());
  trackErrors(page);
  await runPath(context, page, name, body);
}

async function runPath(context, page, name, body) {
  let shot = page;
  try {
    await body({ context, page, setShot: (p) => (shot = p) });
    const errors = context.pages().flatMap((p) => p.e2eErrors ?? []);
    assert.deepEqual(errors, [], 'no uncaught script errors in the pages');
  } finally {
    // A failed test may leave requests held: let them go so the page can be captured.
    for (const p of context.pages()) for (const hold of p.e2eHolds ?? []) await hold.release();
    try {
      if (!shot.isClosed()) await screenshot(shot, name);
    } catch (e) {
      console.error(`screenshot ${name} failed: ${e.message}`);
    }
    await context.close().catch(() => {});
  }
}

/**
 * One host (and mock UPS) and one browser for a whole test file, started before its first
 * test and stopped after its last. Returns an object whose `env` and `browser` are set once
 * `before` has run.
 */
export function sharedHost(args) {
  const shared = { env: null, browser: null };
  before(async () => {
    shared.env = await startHost({ args: ['--exchange-per-minute', '1000', ...args] });
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close().catch(() => {});
    await shared.env?.stop();
  });
  return shared;
}

/**
 * Run axe-core (injected from npm `axe-core`) on the panel's shadow host and fail on any
 * violation, naming the panel state it was found in. The context needs `bypassCSP: true`
 * (the portal's CSP forbids injected scripts, rightly).
 */
export async function assertAccessible(page, panel, label) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ path: require.resolve('axe-core') });
  }
  const selector = panel.company ? `token-manager[company="${panel.company}"]` : 'token-manager';
  const violations = await page.evaluate(async (sel) => {
    const host = document.querySelector(sel);
    const result = await window.axe.run(host, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${JSON.stringify(n.target)}: ${n.failureSummary}`),
    }));
  }, selector);
  assert.deepEqual(violations, [], `axe-core violations in panel state "${label}":\n${JSON.stringify(violations, null, 2)}`);
}

/** The panel (`<token-manager>`) of `company` (or the only one) on `page`. */
export class Panel {
  constructor(page, company) {
    this.page = page;
    this.company = company;
    this.root = company
      ? page.locator(`token-manager[company="${company}"]`)
      : page.locator('token-manager');
    this.section = this.root.locator('section.panel');
  }

  button(name) {
    return this.root.getByRole('button', { name, exact: true });
  }
  get authorize() {
    return this.button(TEXT.authorize);
  }
  get clear() {
    return this.button(TEXT.clear);
  }
  get retry() {
    return this.button(TEXT.retry);
  }
  /** The polite live region (progress and confirmations). */
  get status() {
    return this.root.locator('[role="status"][aria-live="polite"]');
  }
  /** The error (or invalidated warning) alert. */
  get alert() {
    return this.root.locator('[role="alert"]');
  }
  get dialog() {
    return this.root.getByRole('dialog');
  }
  get table() {
    return this.root.locator('table');
  }
  get range() {
    return this.root.locator('.pager .range');
  }
  get pageSize() {
    return this.root.getByRole('combobox', { name: /Items per page/ });
  }
  get nextPage() {
    return this.root.getByRole('button', { name: TEXT.nextPage, exact: true });
  }
  get previousPage() {
    return this.root.getByRole('button', { name: TEXT.previousPage, exact: true });
  }

  /** The panel's state as the widget exposes it (`data-state`). */
  async state() {
    return this.section.getAttribute('data-state', { timeout: 1000 });
  }

  /**
   * Wait for `data-state` to be `name`, with `aria-busy` as that state calls for (true only
   * while loading, redirecting or generating).
   */
  async waitForState(name, opts = {}) {
    const busy = ['loading', 'redirecting', 'generating'].includes(name) ? 'true' : 'false';
    await waitFor(
      async () => (await this.state()) === name && (await this.section.getAttribute('aria-busy', { timeout: 1000 })) === busy,
      { message: `panel state ${name}`, ...opts },
    ).catch(async (e) => {
      throw new Error(`${e.message}; panel shows: ${JSON.stringify(await this.describe())}`);
    });
  }

  /** What the panel shows right now, for failure messages. */
  async describe() {
    try {
      return {
        state: await this.state(),
        status: await this.statusText(),
        alert: (await this.alert.count()) ? norm(await this.alert.first().textContent({ timeout: 500 })) : null,
        range: (await this.range.count()) ? norm(await this.range.textContent({ timeout: 500 })) : null,
        rows: await this.rows().catch(() => null),
      };
    } catch (e) {
      return { error: e.message, url: this.page.url() };
    }
  }

  /** The live region's text as announced (decorative `aria-hidden` icons left out). */
  async statusText() {
    return norm(
      await this.status.evaluate(
        (el) =>
          [...el.querySelectorAll('*')].some((n) => n.getAttribute('aria-hidden') === 'true')
            ? [...el.childNodes]
                .filter((n) => !(n.nodeType === 1 && n.getAttribute('aria-hidden') === 'true'))
                .map((n) => n.textContent)
                .join('')
            : el.textContent,
        undefined,
        { timeout: 1000 },
      ),
    );
  }

  /** Wait until the live region announces exactly `text` ('' = silent). */
  /** Wait until the status line is `text` (a string, or a RegExp it must match). */
  async waitForStatus(text) {
    let seen;
    const matches = (t) => (text instanceof RegExp ? text.test(t ?? '') : t === text);
    await waitFor(async () => matches((seen = await this.statusText())), {
      message: `status message ${text instanceof RegExp ? text : JSON.stringify(text)}`,
    }).catch((e) => {
      throw new Error(`${e.message}; status was ${JSON.stringify(seen)}`);
    });
  }

  async rangeText() {
    return norm(await this.range.textContent());
  }

  /** Grid rows as the user reads them: the five cell texts, the tooltips, the row id. */
  async rows() {
    return this.table.locator('tbody tr[data-id]').evaluateAll((trs) =>
      trs.map((tr) => ({
        id: tr.getAttribute('data-id'),
        cells: [...tr.cells].map((td) => td.textContent.replace(/\s+/g, ' ').trim()),
        titles: [...tr.cells].map((td) => td.querySelector('time')?.getAttribute('title') ?? null),
        status: tr.cells[4]?.textContent.trim(),
      })),
    );
  }

  async headers() {
    return (await this.table.locator('thead th').allTextContents()).map(norm);
  }

  async caption() {
    return norm(await this.table.locator('caption').textContent());
  }

  /** Wait until the grid shows exactly `n` rows and the range text `range`. */
  async waitForRows(n, range) {
    await waitFor(
      async () => (await this.rows()).length === n && (range === undefined || (await this.rangeText()) === range),
      { message: `${n} grid rows${range ? ` and range ${range}` : ''}` },
    ).catch(async (e) => {
      throw new Error(`${e.message}; panel shows: ${JSON.stringify(await this.describe())}`);
    });
    return this.rows();
  }
}

/** The time zone of every test browser context (see {@link newPage}). */
export const VIEWER_TIME_ZONE = 'America/New_York';

/** `mm-dd-yyyy hh:mm:ss AM/PM` of an ISO instant in `timeZone`, computed independently. */
export function gridTime(iso, timeZone = VIEWER_TIME_ZONE) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hour12: true,
    })
      .formatToParts(new Date(iso))
      .map((p) => [p.type, p.value]),
  );
  return `${parts.month}-${parts.day}-${parts.year} ${parts.hour}:${parts.minute}:${parts.second} ${parts.dayPeriod.toUpperCase()}`;
}

/**
 * Assert one grid row is what the admin should read: 4 timestamps in the viewer's time zone,
 * each with its ISO-8601 UTC instant as tooltip, and `status`.
 */
export function assertRow(row, status) {
  assert.equal(row.cells.length, 5, 'a row has five cells');
  for (let i = 0; i < 4; i++) {
    assert.match(row.cells[i], GRID_TIME, `cell ${i} "${row.cells[i]}" is mm-dd-yyyy hh:mm:ss AM/PM`);
    assert.match(row.titles[i] ?? '', ISO_UTC, `cell ${i} tooltip "${row.titles[i]}" is ISO-8601 UTC`);
    assert.equal(row.cells[i], gridTime(row.titles[i]), `cell ${i} shows its instant ${row.titles[i]} in ${VIEWER_TIME_ZONE}`);
  }
  if (status) assert.equal(row.status, status);
}

/** Assert the grid's caption and column headers. */
export async function assertGridChrome(panel) {
  assert.equal(await panel.caption(), TEXT.caption);
  assert.deepEqual(await panel.headers(), TEXT.columns);
}

/** Rows are newest first: each row's Token Created tooltip is not older than the next one's. */
export function assertNewestFirst(rows) {
  for (let i = 1; i < rows.length; i++) {
    const newer = Date.parse(rows[i - 1].titles[0]);
    const older = Date.parse(rows[i].titles[0]);
    assert.ok(newer >= older, `row ${i - 1} (${rows[i - 1].titles[0]}) is not older than row ${i} (${rows[i].titles[0]})`);
  }
}

/**
 * The mock UPS sign-in screens, as the admin uses them: Log In (Email or Username, the
 * agreement, Continue), then Welcome back (Password, Login).
 */
export async function signInAtUps(page, { user = DEMO_USER, password = DEMO_PASSWORD } = {}) {
  await page.getByRole('heading', { name: 'Log In', exact: true }).waitFor();
  await page.getByLabel('Email or Username').fill(user);
  await page.getByRole('checkbox').check();
  await page.getByRole('button', { name: /^Continue/ }).click();
  await page.getByRole('heading', { name: `Welcome back, ${user}`, exact: true }).waitFor();
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: /^Login/ }).click();
}

/** Cancel on the Log In screen (declines at UPS: `error=access_denied`). */
export async function cancelAtUps(page) {
  await page.getByRole('heading', { name: 'Log In', exact: true }).waitFor();
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
}

/** Wait until `page` is on the mock UPS origin. */
export async function waitForUps(page, mock) {
  await page.waitForURL((u) => u.href.startsWith(mock), { waitUntil: 'domcontentloaded' });
}

/** Wait until `page` is back on the host's Token Manager page. */
export async function waitForPanelPage(page, host) {
  await page.waitForURL((u) => u.href.startsWith(`${host}/admin/token-manager`), { waitUntil: 'domcontentloaded' });
}

/** Open the Token Manager page of `company` and wait for the panel to settle in `state`. */
export async function openPanel(page, host, company, state = 'not_authorized') {
  await page.goto(`${host}/admin/token-manager?company=${encodeURIComponent(company)}`);
  const panel = new Panel(page, company);
  await panel.waitForState(state);
  return panel;
}

/**
 * The whole opt-in from a panel in `not_authorized`/`invalidated`/`error` state: Authorize,
 * sign in at the mock UPS, back on the panel with "A token was generated".
 */
export async function authorize(page, panel, env, signIn = {}) {
  await panel.authorize.click();
  await waitForUps(page, env.mock);
  await signInAtUps(page, signIn);
  await waitForPanelPage(page, env.host);
  await panel.waitForState('authorized');
  await panel.waitForStatus(TEXT.generated);
}

/**
 * Record, inside the page, every state the panels go through (state, busy, status text,
 * Authorize disabled) into the tab's `sessionStorage`, so states that only last until the
 * tab leaves for UPS ("Redirecting to UPS.com…") can be checked after the return. (Playwright
 * cannot evaluate in a page whose navigation is held, so holding it is no option.)
 */
export async function recordPanelStates(page) {
  await page.addInitScript(() => {
    const KEY = 'e2e:panel-states';
    let last = '';
    setInterval(() => {
      const host = document.querySelector('token-manager');
      const section = host?.shadowRoot?.querySelector('section.panel');
      if (!section) return;
      const status = section.querySelector('[role="status"] .text')?.textContent ?? '';
      const authorize = [...section.querySelectorAll('button')].find((b) => b.textContent.trim() === 'Authorize');
      const snap = {
        company: host.getAttribute('company'),
        state: section.dataset.state,
        busy: section.getAttribute('aria-busy'),
        status,
        authorizeDisabled: authorize ? authorize.disabled : null,
      };
      const json = JSON.stringify(snap);
      if (json === last) return;
      last = json;
      const log = JSON.parse(sessionStorage.getItem(KEY) ?? '[]');
      log.push(snap);
      sessionStorage.setItem(KEY, JSON.stringify(log));
    }, 5);
  });
}

/** The states recorded by {@link recordPanelStates} in this tab so far. */
export async function recordedPanelStates(page) {
  return page.evaluate(() => JSON.parse(sessionStorage.getItem('e2e:panel-states') ?? '[]'));
}

/**
 * Slow down the way to UPS (the sign-in page) by `ms`, as a slow network would, so the
 * redirecting state is on screen long enough to be recorded.
 */
export async function slowWayToUps(page, mock, ms = 400) {
  await page.route(
    (url) => url.href.startsWith(`${mock}/lasso/signin`),
    async (route) => {
      if (route.request().method() === 'GET') await new Promise((r) => setTimeout(r, ms));
      await route.continue();
    },
  );
}

/**
 * A bearer session token for direct API reads of `company` (admin there), minted by the
 * portal's backend way (`env.mintSession`, the host's `/api/v1/sessions` with the API key).
 */
export async function apiSession(env, company, role = 'admin') {
  const grant = { id: company, role, ...(COMPANY_NAMES.has(company) ? { name: COMPANY_NAMES.get(company) } : {}) };
  const { sessionToken } = await env.mintSession({ user: 'admin', companies: [grant], ttlSecs: 300 });
  return sessionToken;
}

/** A widget API call (`/api/optin/<path>`) with a bearer session token for `company`. */
export async function apiCall(env, method, path, company, body) {
  const token = await apiSession(env, company);
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'x-token-manager': '1' });
  const r = await fetch(`${env.host}/api/optin/${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}

/** `GET /api/optin/tokens` with a bearer session token (what the host really stored). */
export async function apiTokens(env, company, perPage = 100) {
  const r = await apiCall(env, 'GET', `tokens?company=${encodeURIComponent(company)}&page=1&per_page=${perPage}`, company);
  assert.equal(r.status, 200, `GET /tokens answered ${r.status}: ${r.text}`);
  return r.json();
}

/** `GET /api/optin/status` with a bearer session token. */
export async function apiStatus(env, company) {
  const r = await apiCall(env, 'GET', `status?company=${encodeURIComponent(company)}`, company);
  assert.equal(r.status, 200, `GET /status answered ${r.status}: ${r.text}`);
  return r.json();
}

/** The mock UPS counters. */
export async function mockStats(env) {
  if (typeof env.mockStats === 'function') return env.mockStats();
  const r = await fetch(`${env.mock}/mock/stats`);
  assert.equal(r.status, 200);
  return r.json();
}

/** Replace the mock UPS faults (`{}` = behave normally). */
export async function mockFaults(env, faults) {
  if (typeof env.mockFaults === 'function') return env.mockFaults(faults);
  const r = await fetch(`${env.mock}/mock/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  const body = await r.text();
  assert.equal(r.status, 200, `POST /mock/faults answered ${r.status}: ${body}`);
  return JSON.parse(body);
}

/** Change a mock UPS user's password (invalidates every refresh token of that user). */
export async function passwordChange(env, user, newPassword) {
  if (typeof env.passwordChange === 'function') return env.passwordChange(user, newPassword);
  const r = await fetch(`${env.mock}/mock/password-change`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user, new_password: newPassword }),
  });
  const body = await r.text();
  assert.equal(r.status, 200, `POST /mock/password-change answered ${r.status}: ${body}`);
  return JSON.parse(body);
}

/**
 * Hold every request matching `pattern` until `release()` is called, so a transient state
 * (e.g. "Redirecting to UPS.com…") can be observed deterministically. `held` resolves when
 * the first matching request arrives.
 */
export async function holdRequests(page, pattern) {
  let release;
  const released = new Promise((r) => (release = r));
  let arrived;
  const held = new Promise((r) => (arrived = r));
  const handler = async (route) => {
    arrived(route.request().url());
    await released;
    await route.continue().catch(() => {});
  };
  await page.route(pattern, handler);
  const hold = {
    held,
    release: async () => {
      release();
      await page.unroute(pattern, handler).catch(() => {});
    },
  };
  (page.e2eHolds ??= []).push(hold);
  return hold;
}

/** Display names of the companies given to {@link companiesFlag} (a minted session names them the same). */
const COMPANY_NAMES = new Map([['demo-co', 'Demonstration Co.'], ['acme', 'Acme Corp']]);

/** The company list the test hosts use: the two demo companies plus per-test ones. */
export function companiesFlag(extra = []) {
  const all = [['demo-co', 'Demonstration Co.'], ['acme', 'Acme Corp'], ...extra];
  for (const [id, name] of all) COMPANY_NAMES.set(id, name);
  return all.map(([id, name]) => `${id}=${name}`).join(',');
}

/** Clear a company through the API (test cleanup; errors ignored). */
export async function apiClear(env, company) {
  await apiCall(env, 'POST', 'clear', company, { company }).catch(() => {});
}

/** Wait for the deepest focused element (through shadow roots) to match `name`. */
export async function focusedName(page) {
  return page.evaluate(() => {
    let el = document.activeElement;
    while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
    if (!el) return null;
    const label = el.getAttribute('aria-label');
    const text = (label ?? el.textContent ?? '').replace(/\s+/g, ' ').trim();
    return { tag: el.tagName.toLowerCase(), type: el.getAttribute('type'), id: el.id, text };
  });
}

/**
 * Press Tab until the focused element satisfies `match(focused)` (at most `max` presses):
 * how a keyboard user reaches a control.
 */
export async function tabTo(page, match, { max = 40, what = 'control' } = {}) {
  const seen = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const f = await focusedName(page);
    seen.push(f && `${f.tag}:${f.text.slice(0, 30)}`);
    if (f && match(f)) return f;
  }
  throw new Error(`Tab never reached ${what}; focus went through: ${seen.join(' | ')}`);
}

/**
 * A portal of another team, on its own origin (`http://<site>:<port>`), with the Token Manager
 * panel: a Node server that serves the npm package's `dist/` from its own origin at
 * `/assets/token-manager/` (as pkg/README.md says), renders `GET /admin/token-manager?company=…`
 * with a `<token-manager>` whose `session-token` its backend minted for its signed-in user, and
 * answers the panel's `getSessionToken` at `POST /portal/session-token`. Its backend mints with
 * the host's API key (`portal.env.mintSession`, Node side): the key never reaches the browser.
 *
 * Start it before the host (the host's `--allowed-origin` names it), then set `portal.env`.
 * Per test: `portal.ttlSecs` (of what it mints), `portal.initialToken` (`async (mint) => token |
 * null`: what the page is rendered with; `null` renders no `session-token`), `portal.backendDown`
 * (its session endpoint answers 500). `portal.minted`
 * lists every `{sessionToken, expiresAt}` it minted, `portal.sessionCalls()` how many the
 * panel fetched. In the page, `window.e2eSession` counts the `getSessionToken` calls and their
 * outcome.
 */
export async function startPortal({ site = '127.0.0.1', user = 'admin', name = 'Ada Admin', companies } = {}) {
  const portal = {
    env: null,
    ttlSecs: 3600,
    initialToken: null,
    backendDown: false,
    minted: [],
    user,
    companies: companies ?? [
      { id: 'demo-co', name: 'Demonstration Co.', role: 'admin' },
      { id: 'acme', name: 'Acme Corp', role: 'admin' },
    ],
  };
  const mint = async () => {
    if (portal.backendDown) throw new Error('the portal backend is down');
    const s = await portal.env.mintSession({ user, name, companies: portal.companies, ttlSecs: portal.ttlSecs });
    portal.minted.push(s);
    return s;
  };
  const sessionRoute = portalSessionRoute(mint);
  const server = await serveStatic(PKG_DIST, {
    host: site,
    prefix: '/assets/token-manager/',
    routes: {
      'GET /': async (req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Partner portal</title><link rel="icon" href="data:,"></head><body><main><h1>Partner portal</h1></main></body></html>');
      },
      'GET /admin/token-manager': async (req, res, url) => {
        const company = url.searchParams.get('company') ?? portal.companies[0].id;
        const token = portal.initialToken ? await portal.initialToken(mint) : (await mint()).sessionToken;
        const attr = (v) => String(v).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Partner portal — Token Manager</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports":{"token-manager-widget":"/assets/token-manager/index.js"}}</script>
<script type="module" src="/portal.js"></script>
</head>
<body>
<main>
<h1>Partner portal</h1>
<p>Signed in as ${attr(name)}.</p>
<token-manager api="${attr(`${portal.env.host}/api/optin`)}" company="${attr(company)}"${token === null ? '' : ` session-token="${attr(token)}"`}></token-manager>
</main>
</body>
</html>
`);
      },
      'GET /portal.js': async (req, res) => {
        res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`import { defineTokenManager } from "token-manager-widget";
window.e2eSession = { calls: 0, failures: 0, at: [], expiresAt: [] };
// The panel's way to a fresh session token: this portal's own backend (same origin).
const getSessionToken = async () => {
  window.e2eSession.calls += 1;
  window.e2eSession.at.push(Date.now());
  const r = await fetch("/portal/session-token", { method: "POST" });
  if (!r.ok) {
    window.e2eSession.failures += 1;
    throw new Error("session token: HTTP " + r.status);
  }
  const s = await r.json();
  window.e2eSession.expiresAt.push(s.expires_at);
  return { sessionToken: s.session_token, expiresAt: s.expires_at };
};
// Set before the element is defined (kept through the upgrade), so even the first call of a
// panel rendered without a token carries one.
for (const el of document.querySelectorAll("token-manager")) el.getSessionToken = getSessionToken;
await defineTokenManager();
`);
      },
      'POST /portal/session-token': sessionRoute,
    },
  });
  return Object.assign(portal, {
    origin: server.origin,
    port: server.port,
    close: server.close,
    sessionCalls: () => sessionRoute.calls,
    /** The portal's Token Manager page of `company`. */
    pageUrl: (company) => `${server.origin}/admin/token-manager?company=${encodeURIComponent(company)}`,
  });
}

/**
 * Every request `page` (or the context) sent to `origin`: method, URL, its headers as sent
 * (`allHeaders()`, cookies included) and the response status.
 */
export function captureRequests(target, origin) {
  const seen = [];
  target.on('requestfinished', async (r) => {
    if (!r.url().startsWith(origin)) return;
    const entry = { method: r.method(), url: r.url(), headers: null, status: null };
    seen.push(entry);
    entry.done = (async () => {
      entry.headers = await r.allHeaders().catch(() => ({}));
      entry.status = (await r.response().catch(() => null))?.status() ?? null;
    })();
  });
  target.on('requestfailed', (r) => {
    if (r.url().startsWith(origin)) seen.push({ method: r.method(), url: r.url(), headers: r.headers(), status: null, failed: r.failure()?.errorText, done: Promise.resolve() });
  });
  return {
    seen,
    /** Wait until every captured request's headers are read; returns the list. */
    async settled() {
      await Promise.all(seen.map((e) => e.done));
      return seen;
    },
  };
}

/** The bearer token of a captured request (`Authorization: Bearer …`), or null. */
export function bearerOf(entry) {
  const m = /^Bearer (\S+)$/.exec(entry.headers?.authorization ?? '');
  return m ? m[1] : null;
}
