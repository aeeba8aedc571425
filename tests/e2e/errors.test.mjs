// Paths 6, 7 and 8: what the admin sees when the opt-in does not complete — consent declined
// at UPS, a tampered return (wrong state, replayed code, stale attempt), the provider's token
// endpoint down (503 or no answer). Each ends with a clear message, no record, and a way to
// try again that works.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import {
  ERROR_TEXT,
  apiTokens,
  assertRow,
  authorize,
  cancelAtUps,
  companiesFlag,
  mockFaults,
  mockStats,
  norm,
  openPanel,
  sharedHost,
  signInAtUps,
  userPath,
  waitFor,
  waitForPanelPage,
  waitForUps,
} from './support.mjs';

// Provider calls give up after 1.5 s, so the "timeout" fault is seen quickly.
const shared = sharedHost([
  '--companies',
  companiesFlag([
    ['e-consent', 'Consent Co.'],
    ['e-state', 'State Co.'],
    ['e-replay', 'Replay Co.'],
    ['e-stale', 'Stale Co.'],
    ['e-503', 'Outage Co.'],
    ['e-timeout', 'Timeout Co.'],
  ]),
  '--http-timeout-ms',
  '1500',
  '--http-connect-timeout-ms',
  '1000',
]);

// Every path starts and ends with a well-behaved UPS (subtests reset it themselves too).
beforeEach(async () => {
  if (shared.env) await mockFaults(shared.env, {});
});
afterEach(async () => {
  if (shared.env) await mockFaults(shared.env, {});
});

/**
 * Wait for the panel's error: the exact message for `code`, an Authorize button to start
 * over, not busy.
 */
async function expectError(panel, code) {
  await panel.waitForState('error');
  const alert = panel.alert.first();
  assert.equal(await alert.getAttribute('data-code'), code);
  const text = norm(await alert.locator('p.text').textContent());
  assert.equal(text, ERROR_TEXT[code]);
  assert.equal(await panel.authorize.isEnabled(), true, 'Authorize offered to start over');
  return alert;
}

/** The host holds no record for `company` and reports it not authorized. */
async function expectNoRecord(page, env, company, total = 0) {
  const stored = await apiTokens(env, company);
  assert.equal(stored.total, total, `the host holds ${stored.total} records for ${company}`);
  return stored;
}

test('6. consent declined at UPS: a clear message on return, no record, Authorize still works', async () => {
  const { env, browser } = shared;
  await userPath(browser, '06-consent-declined', async ({ page }) => {
    const company = 'e-consent';
    const panel = await openPanel(page, env.host, company);
    await panel.authorize.click();
    await waitForUps(page, env.mock);
    await cancelAtUps(page);
    await waitForPanelPage(page, env.host);
    const alert = await expectError(panel, 'consent_declined');
    assert.ok(!/[?&](error|state)=/.test(page.url()), `the error parameters are stripped (${page.url()})`);
    const stored = await expectNoRecord(page, env, company);
    assert.equal(stored.status, 'not_authorized');
    assert.ok(norm(await alert.textContent()).startsWith(ERROR_TEXT.consent_declined));

    // Authorize again, this time consenting.
    await authorize(page, panel, env);
    assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
  });
});

test('7. tampered returns: wrong state, replayed code, stale attempt → a clear error and no record', async (t) => {
  const { env, browser } = shared;

  await t.test('wrong state echoed by the provider', async () => {
    await userPath(browser, '07a-tampered-wrong-state', async ({ page }) => {
      const company = 'e-state';
      const panel = await openPanel(page, env.host, company);
      await mockFaults(env, { wrong_state: true });
      const issuedBefore = (await mockStats(env)).tokens_issued;
      await panel.authorize.click();
      await waitForUps(page, env.mock);
      await signInAtUps(page);
      await waitForPanelPage(page, env.host);
      await mockFaults(env, {});
      await expectError(panel, 'state_mismatch');
      await expectNoRecord(page, env, company);
      assert.equal((await mockStats(env)).tokens_issued, issuedBefore, 'the code was never exchanged');
    });
  });

  await t.test('replayed code (the same return loaded again)', async () => {
    await mockFaults(env, {});
    await userPath(browser, '07b-tampered-replayed-code', async ({ page }) => {
      const company = 'e-replay';
      // Keep a copy of what the tab stores for the pending authorization and of the return
      // URL, as an attacker who recorded them would.
      await page.addInitScript(() => {
        const setItem = Storage.prototype.setItem;
        Storage.prototype.setItem = function (key, value) {
          if (this === window.sessionStorage && String(key).startsWith('token-manager:pending:')) {
            window.localStorage.setItem(`e2e-copy:${key}`, value);
          }
          return setItem.call(this, key, value);
        };
      });
      let returnUrl = null;
      page.on('request', (r) => {
        if (r.isNavigationRequest() && r.url().startsWith(`${env.host}/admin/token-manager?`) && r.url().includes('code=')) {
          returnUrl = r.url();
        }
      });
      const panel = await openPanel(page, env.host, company);
      await authorize(page, panel, env);
      await panel.waitForRows(1, '1-1 of 1');
      assert.ok(returnUrl, 'the return URL was seen');

      // Replay 1: the same return URL, loaded again in the tab (no marker left).
      await page.goto(returnUrl);
      await expectError(panel, 'no_pending_authorization');
      await expectNoRecord(page, env, company, 1);

      // What the tab kept while at UPS: only the return marker (company, state, time,
      // return_to) — no PKCE verifier, which stays on the host.
      const kept = await page.evaluate(
        (key) => JSON.parse(localStorage.getItem(`e2e-copy:${key}`) ?? 'null'),
        `token-manager:pending:${company}`,
      );
      assert.ok(kept, 'the tab stored a return marker for the company');
      assert.equal(kept.company, company);
      assert.equal(typeof kept.state, 'string');
      assert.ok(!('code_verifier' in kept) && !('verifier' in kept), `no verifier in sessionStorage: ${JSON.stringify(Object.keys(kept))}`);
      assert.deepEqual(Object.keys(kept).sort(), ['company', 'created_at', 'return_to', 'state'], 'the marker holds nothing else');
      assert.ok(!/verifier/i.test(JSON.stringify(kept)), 'nothing verifier-like in the marker');

      // Replay 2: with the recorded marker put back, the tab sends the code again; the host
      // refuses it (its state and verifier were single use) and UPS never sees it again.
      const before = await mockStats(env);
      const exchanges = [];
      page.on('request', (r) => {
        if (r.url().startsWith(`${env.host}/api/optin/exchange`)) exchanges.push(r.url());
      });
      await page.evaluate((key) => {
        sessionStorage.setItem(key, localStorage.getItem(`e2e-copy:${key}`));
      }, `token-manager:pending:${company}`);
      await page.goto(returnUrl);
      await expectError(panel, 'no_pending_authorization');
      await expectNoRecord(page, env, company, 1);
      assert.equal(exchanges.length, 1, 'the replayed code reached the host, which refused it');
      const after = await mockStats(env);
      assert.equal(after.codes_replayed, before.codes_replayed, 'UPS never saw the replayed code');
      assert.equal(after.token_requests, before.token_requests, 'no token request for a replay');
    });
  });

  await t.test('stale attempt (started more than 10 minutes ago)', async () => {
    await mockFaults(env, {});
    await userPath(browser, '07c-tampered-stale-attempt', async ({ page }) => {
      const company = 'e-stale';
      // When the provider sends the browser back, age the pending authorization by 11 minutes
      // before the panel reads it.
      await page.addInitScript(() => {
        if (!/[?&]code=/.test(location.search)) return;
        for (let i = 0; i < sessionStorage.length; i++) {
          const key = sessionStorage.key(i);
          if (!key.startsWith('token-manager:pending:')) continue;
          const pending = JSON.parse(sessionStorage.getItem(key));
          pending.created_at -= 11 * 60 * 1000;
          sessionStorage.setItem(key, JSON.stringify(pending));
        }
      });
      const panel = await openPanel(page, env.host, company);
      const tokenRequestsBefore = (await mockStats(env)).token_requests;
      await panel.authorize.click();
      await waitForUps(page, env.mock);
      await signInAtUps(page);
      await waitForPanelPage(page, env.host);
      await expectError(panel, 'expired_attempt');
      await expectNoRecord(page, env, company);
      assert.equal((await mockStats(env)).token_requests, tokenRequestsBefore, 'a stale attempt is not exchanged');
    });
  });
});

test('8. provider down (token endpoint 503, then no answer): a clear error, no record; the next attempt succeeds', async (t) => {
  const { env, browser } = shared;
  for (const [name, company, fault] of [
    ['503', 'e-503', { kind: 'status_503' }],
    ['timeout', 'e-timeout', { kind: 'timeout' }],
  ]) {
    await t.test(`token endpoint ${name}`, async () => {
      await mockFaults(env, {});
      await userPath(browser, `08-provider-down-${name}`, async ({ page }) => {
        const panel = await openPanel(page, env.host, company);
        await mockFaults(env, { token: fault });
        const faultsBefore = (await mockStats(env)).faults_applied;
        await panel.authorize.click();
        await waitForUps(page, env.mock);
        await signInAtUps(page);
        await waitForPanelPage(page, env.host);
        await expectError(panel, 'provider_unavailable');
        await expectNoRecord(page, env, company);
        await waitFor(async () => (await mockStats(env)).faults_applied > faultsBefore, {
          message: 'the token endpoint fault to have been hit',
        });

        // UPS is back: the next attempt succeeds.
        await mockFaults(env, {});
        await authorize(page, panel, env);
        assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
        assert.equal((await apiTokens(env, company)).total, 1);
      });
    });
  }
});

