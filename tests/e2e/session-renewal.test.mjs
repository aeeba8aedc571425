// Path 15: the session token runs out under an open panel, and the admin never notices. A
// portal of its own (a Node server on its own origin: its backend mints with the host's API
// key and answers the panel's getSessionToken) shows the panel of a company the admin
// authorized:
//   a. with a token the host refuses (401): one getSessionToken, the refused call retried,
//      the grid shows, no error on screen;
//   b. with 62-second tokens (the API's minimum TTL is 60 s): the panel asks for the next one
//      a minute before each expires (so every ~2 s), never meets a 401, Clear works;
//   c. with a refused token while the portal's backend is down: "Your portal session has
//      ended…" with Try again, which works once the backend is back.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  Panel,
  TEXT,
  apiStatus,
  assertAccessible,
  assertRow,
  authorize,
  bearerOf,
  captureRequests,
  companiesFlag,
  launchBrowser,
  norm,
  openPanel,
  recordPanelStates,
  recordedPanelStates,
  startHost,
  startPortal,
  userPath,
  waitFor,
} from './support.mjs';

const COMPANIES = [
  ['s-refused', 'Refused Token Co.'],
  ['s-expiring', 'Expiring Token Co.'],
  ['s-down', 'Backend Down Co.'],
];

let portal;
let env;
let browser;

before(async () => {
  portal = await startPortal({ companies: COMPANIES.map(([id, name]) => ({ id, name, role: 'admin' })) });
  env = await startHost({
    args: ['--allowed-origin', portal.origin, '--companies', companiesFlag(COMPANIES), '--exchange-per-minute', '1000'],
  });
  portal.env = env;
  browser = await launchBrowser();
  // The admin authorized each company in the Token Manager console beforehand.
  await userPath(browser, '15-session-renewal-setup', async ({ page }) => {
    for (const [company] of COMPANIES) {
      const panel = await openPanel(page, env.host, company);
      await authorize(page, panel, env);
      await panel.waitForRows(1, '1-1 of 1');
    }
  });
});

after(async () => {
  await browser?.close().catch(() => {});
  await env?.stop();
  await portal?.close();
});

/** A token of the right shape whose signature the host refuses (one character changed). */
function tampered(token) {
  const i = token.length - 10;
  return token.slice(0, i) + (token[i] === 'x' ? 'y' : 'x') + token.slice(i + 1);
}

/** The host answers 401 to `token`. */
async function assertRefused(token, company) {
  const r = await fetch(`${env.host}/api/optin/status?company=${company}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(r.status, 401, `the host refuses the token (answered ${r.status})`);
}

/** API calls (no preflights) among the captured requests. */
const apiCalls = (seen) => seen.filter((e) => e.url.startsWith(`${env.host}/api/optin/`) && e.method !== 'OPTIONS');

/** What the page's getSessionToken did so far. */
const sessionLog = (page) => page.evaluate(() => window.e2eSession);

/**
 * A user path on the partner portal (CSP bypassed for axe): the panels' states are recorded
 * and the calls to the host captured (`capture`).
 */
const portalPath = (name, body) =>
  userPath(
    browser,
    name,
    async ({ page, ...rest }) => {
      await recordPanelStates(page);
      const capture = captureRequests(page, env.host);
      await body({ page, capture, ...rest });
    },
    { bypassCSP: true },
  );

test('15a. a session token the host refuses: the panel fetches a fresh one once, retries, and shows the grid with no error', async () => {
  const company = 's-refused';
  let refused;
  portal.ttlSecs = 3600;
  portal.initialToken = async (mint) => (refused = tampered((await mint()).sessionToken));
  await portalPath(
    '15a-session-refused-renewed',
    async ({ page, capture }) => {
      await page.goto(portal.pageUrl(company));
      await assertRefused(refused, company);
      const panel = new Panel(page, company);
      await panel.waitForState('authorized');
      assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
      assert.equal(await panel.alert.count(), 0, 'no error shown');

      const calls = apiCalls(await capture.settled());
      const first = calls[0];
      assert.equal(bearerOf(first), refused, 'the first call carried the page\'s token');
      assert.equal(first.status, 401, 'and the host refused it');
      assert.equal((await sessionLog(page)).calls, 1, 'one getSessionToken for the refusal');
      assert.equal(portal.sessionCalls() >= 1, true);
      const fresh = portal.minted.at(-1).sessionToken;
      const after = calls.slice(calls.findIndex((e) => e.status === 401) + 1);
      assert.ok(after.length > 0, 'calls followed the renewal');
      for (const e of after.filter((c) => c.status !== 401)) {
        assert.equal(bearerOf(e), fresh, `${e.method} ${e.url} carries the fresh token`);
        assert.equal(e.status, 200, `${e.method} ${e.url} succeeded`);
      }
      assert.deepEqual(calls.filter((e) => !bearerOf(e)).map((e) => e.url), [], 'every call carried a session token');
      const refusals = calls.filter((e) => e.status === 401);
      assert.ok(refusals.every((e) => bearerOf(e) === refused), 'only the refused token was refused');
      const states = await recordedPanelStates(page);
      assert.deepEqual(states.filter((s) => s.state === 'error'), [], `the panel never showed an error: ${JSON.stringify(states)}`);
      await assertAccessible(page, panel, 'authorized after a renewal');
    },
  );
});

test('15b. 62-second session tokens: the panel asks for the next one a minute before each expires, never meets a 401, and Clear works', async () => {
  const company = 's-expiring';
  // 62 s: what reaches the panel has a little less than 61 s left, which it renews 60 s before
  // expiry (a token with less than 61 s left is renewed at half its life instead: ~30 s).
  portal.ttlSecs = 62;
  portal.initialToken = async () => null; // no token in the page: the panel asks first
  await portalPath(
    '15b-session-expiring-renewed',
    async ({ page, capture }) => {
      const openedAt = Date.now();
      await page.goto(portal.pageUrl(company));
      const panel = new Panel(page, company);
      await panel.waitForState('authorized');
      assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');

      // Each token lives 62 s and is renewed a minute before expiresAt: within seconds the
      // panel has asked again, twice, while the admin just looks at the grid.
      const log = await waitFor(async () => {
        const l = await sessionLog(page);
        return l.calls >= 3 && l;
      }, { message: 'getSessionToken to be called again before the tokens expire' });
      assert.equal(log.failures, 0);
      assert.ok(log.at[0] - openedAt < 10_000, 'the first token was asked for at once (the page had none)');
      for (let i = 1; i < 3; i++) {
        const left = log.expiresAt[i - 1] - log.at[i];
        assert.ok(left > 55_000 && left < 62_000, `renewal ${i} came about a minute before the previous token expired (${left} ms left)`);
      }
      assert.equal(await panel.alert.count(), 0, 'no error shown');
      assert.equal(await panel.state(), 'authorized');

      // The admin clears: the call carries a token that is still valid.
      await panel.clear.click();
      await panel.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
      await panel.waitForState('not_authorized');
      await panel.waitForStatus(TEXT.clearedUps);
      assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Cleared');
      assert.equal((await apiStatus(env, company)).status, 'cleared');

      const calls = apiCalls(await capture.settled());
      assert.deepEqual(calls.filter((e) => e.status !== 200).map((e) => `${e.method} ${e.url} ${e.status} (bearer: ${bearerOf(e) ? 'yes' : 'none'})`), [], 'no call was refused');
      assert.deepEqual(calls.filter((e) => !bearerOf(e)).map((e) => e.url), [], 'every call carried a session token');
      const clear = calls.find((e) => e.method === 'POST' && e.url.endsWith('/clear'));
      const used = portal.minted.find((m) => m.sessionToken === bearerOf(clear));
      assert.ok(used, 'Clear carried a token the portal minted');
      assert.ok(used.expiresAt > Date.now(), 'and it had not expired');
      const states = await recordedPanelStates(page);
      const shown = [...new Set(states.map((s) => s.state))];
      assert.ok(!shown.includes('error'), `the panel never showed an error: ${shown.join(', ')}`);
      // After the first load the panel never went back to "Loading…" for a renewal.
      const firstAuthorized = states.findIndex((s) => s.state === 'authorized');
      const clearedAt = states.findIndex((s, i) => i > firstAuthorized && s.state !== 'authorized');
      const between = states.slice(firstAuthorized, clearedAt === -1 ? undefined : clearedAt);
      assert.ok(between.every((s) => s.state === 'authorized' && s.busy === 'false'), `renewals went unnoticed: ${JSON.stringify(between)}`);
    },
  );
  portal.ttlSecs = 3600;
});

test('15c. a refused token while the portal backend is down: "Your portal session has ended…" with Try again, which works once the backend is back', async () => {
  const company = 's-down';
  portal.ttlSecs = 3600;
  const refused = tampered((await env.mintSession({ user: portal.user, companies: portal.companies })).sessionToken);
  await assertRefused(refused, company);
  portal.initialToken = async () => refused;
  await portalPath(
    '15c-session-backend-down',
    async ({ page }) => {
      portal.backendDown = true;
      await page.goto(portal.pageUrl(company));
      const panel = new Panel(page, company);
      await panel.waitForState('error');
      const alert = panel.alert.first();
      assert.equal(await alert.getAttribute('data-code'), 'unauthenticated');
      assert.equal(norm(await alert.locator('p.text').textContent()), 'Your portal session has ended. Sign in again, then retry.');
      assert.equal(await panel.retry.isEnabled(), true, 'Try again offered');
      assert.ok((await sessionLog(page)).failures >= 1, 'the panel asked the portal backend, which failed');
      await assertAccessible(page, panel, 'unauthenticated');

      portal.backendDown = false;
      await panel.retry.click();
      await panel.waitForState('authorized');
      assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
      assert.equal(await panel.alert.count(), 0, 'the error is gone');
    },
  );
  portal.backendDown = false;
  portal.initialToken = null;
});
