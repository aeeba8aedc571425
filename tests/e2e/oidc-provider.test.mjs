// The host against a real, independent OpenID provider: npm `oidc-provider` (panva's certified
// implementation) started in this test process on plain-http loopback (`--provider generic
// --dev-allow-http-issuer`), its development login and consent screens used in Chromium. What
// the provider saw (requests, token answers, events, its models) is read from the provider
// itself, never from the host.
//
// 1. rotation on: opt in (prompt=consent → a refresh token), refresh with rotation, the grant
//    destroyed at the provider → the next refresh refused → invalidated (invalid_grant), the
//    panel asks to authorize again; authorize again (consent again), Clear → the host's RFC 7009
//    revocation is accepted (`revoked`), the provider revoked the grant, the token is dead there.
// 2. rotation off (issue 19): the same refresh token through every refresh; its times stay those
//    of when it was issued on every row; at the end of its lifetime the host ends the
//    authorization. 2a: oidc-provider as it is (it states no refresh lifetime); 2b: the provider
//    states the refresh token's remaining lifetime in `refresh_token_expires_in`.
// 3. no refresh token (scope `openid` only): active until the access token expires, then
//    invalidated (no_refresh_token), and not one refresh request.
// 4. discovery refusals: forged metadata (issuer, endpoint hosts, PKCE, size) → the host does not
//    start, says why, and sends nothing to the forged endpoints.
//
// Two known bugs are checked and reported as TODO subtests (not worked around): issue 19's
// Refresh Created with a re-sent identical refresh token (ISSUE_19), and UPS.com texts shown
// for a moment before the panel knows the provider (UPS_FLASH).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import {
  GRID_TIME,
  ISO_UTC,
  TEXT,
  apiCall,
  apiTokens,
  assertNewestFirst,
  assertRow,
  gridTime,
  launchBrowser,
  norm,
  openPanel,
  startHost,
  userPath,
  waitFor,
  waitForPanelPage,
} from './support.mjs';
import {
  OIDC_PROVIDER_VERSION,
  companyStatus,
  loopbackOnly,
  signInAtProvider,
  startForgedMetadata,
  startProviderAndHost,
  startTrap,
} from './oidc-support.mjs';

/** What an empty grid cell shows (a time the host does not know). */
const NONE = '—';

/**
 * Known host bug (reported, not worked around): a refresh answer that carries the *same*
 * refresh token again — oidc-provider with rotation off does — is taken for a new refresh
 * token, so each row's Refresh Created is that refresh's time (core's
 * `GrantTimes::after_refresh` keeps the times only when the answer leaves `refresh_token`
 * out). Its check runs and reports as TODO until the host compares the token; then remove this.
 */
const ISSUE_19 = 'host bug: a re-sent identical refresh token is taken for a new one (Refresh Created moves on every refresh)';

/** Refresher flags of every host here: refresh half-way through the access token's life. */
const REFRESHER = ['--refresh-skew-secs', '60', '--refresh-tick-ms', '200'];

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close().catch(() => {});
});

/**
 * Authorize from the panel: Authorize, the provider's screens (login when not signed in there,
 * then consent), back on the panel with "A token was generated". Returns the screens shown.
 */
async function optIn(page, panel, { op, env }) {
  await panel.authorize.click();
  const shown = await signInAtProvider(page, op);
  await waitForPanelPage(page, env.host);
  await panel.waitForState('authorized');
  await panel.waitForStatus(TEXT.generated);
  return shown;
}

/** The refresh token of the provider's last successful token answer that carried one. */
function lastRefreshToken(op) {
  const answers = op.tokenCalls().filter((c) => c.status === 200 && typeof c.answer?.refresh_token === 'string');
  assert.ok(answers.length > 0, 'the provider issued a refresh token');
  return answers.at(-1).answer.refresh_token;
}

/** The authorization requests the provider received, their parameters. */
function authorizationQueries(op) {
  return op.requests.filter((r) => r.route === 'authorization').map((r) => r.query);
}

/** Assert what the host asked at the authorization endpoint (OIDC, PKCE S256). */
function assertAuthorizationRequest(q, { op, redirectUri }, { scope, prompt }) {
  assert.equal(q.response_type, 'code');
  assert.equal(q.client_id, op.clientId);
  assert.equal(q.redirect_uri, redirectUri);
  assert.deepEqual(new Set(q.scope.split(' ')), new Set(scope.split(' ')), `scope ${q.scope}`);
  assert.equal(q.prompt, prompt, `prompt ${q.prompt}`);
  assert.equal(q.code_challenge_method, 'S256');
  assert.match(q.code_challenge ?? '', /^[A-Za-z0-9_-]{43}$/, 'an S256 code challenge');
  assert.ok((q.state ?? '').length >= 16, 'a state');
  assert.ok((q.nonce ?? '').length >= 16, 'a nonce (the scope has openid)');
}

/** A grid row's refresh columns. */
function refreshColumns(row) {
  return { created: row.cells[2], expires: row.cells[3], createdIso: row.titles[2], expiresIso: row.titles[3] };
}

/** Assert a grid cell shows the instant `iso` (mm-dd-yyyy hh:mm:ss in the viewer's zone, ISO tooltip). */
function assertTimeCell(text, iso, what) {
  assert.match(text, GRID_TIME, `${what} "${text}" is a time`);
  assert.match(iso ?? '', ISO_UTC, `${what} tooltip "${iso}" is ISO-8601 UTC`);
  assert.equal(text, gridTime(iso), `${what} shows its instant`);
}

/**
 * A grid row of a grant from oidc-provider, which states no refresh lifetime: Active, the
 * token's times and the refresh token's creation shown, its expiry unknown (—).
 */
function assertActiveRowWithoutRefreshExpiry(row) {
  assert.equal(row.status, 'Active');
  ['Token Created', 'Token Expires', 'Refresh Created'].forEach((what, i) => assertTimeCell(row.cells[i], row.titles[i], what));
  assert.equal(row.cells[3], NONE, 'Refresh Expires unknown: the provider stated no lifetime');
}

/** The host's log for a failure message: no colours, no per-poll request lines. */
function hostLog(env, lines = 80) {
  return env
    .logs()
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((l) => !/path=\/api\/v1\/(sessions|companies)|path=\/api\/optin\/tokens|path=\/(assets|static)\//.test(l))
    .slice(-lines)
    .join('\n');
}

/** Poll the company API until `status`; returns the company. */
function waitForCompany(env, company, status, timeout, message) {
  return waitFor(
    async () => {
      const c = await companyStatus(env, company);
      return c.status === status && c;
    },
    { timeout, interval: 200, message },
  );
}

/**
 * Checks whose failures are collected and reported together at the end of a test, so that one
 * wrong text or time does not hide what the rest of the path would have shown.
 */
function softChecks() {
  const failures = [];
  return {
    check(f) {
      try {
        f();
      } catch (e) {
        failures.push(e.message.split('\n')[0]);
      }
    },
    assertNone(what) {
      assert.deepEqual(failures, [], `${what}:\n${failures.join('\n')}`);
    },
  };
}

/**
 * Record, inside the page, every distinct text of the panel's alert and live region as it
 * appears (every 5 ms), so a text shown only for a moment is seen too. Read with
 * {@link panelTexts}; a reload starts a new record.
 */
async function recordPanelTexts(page) {
  await page.addInitScript(() => {
    window.e2eTexts = [];
    const seen = new Set();
    setInterval(() => {
      const root = document.querySelector('token-manager')?.shadowRoot;
      if (!root) return;
      for (const el of root.querySelectorAll('[role="alert"], [role="status"]')) {
        const text = el.textContent.replace(/\s+/g, ' ').trim();
        const key = `${el.getAttribute('role')}: ${text}`;
        if (text && !seen.has(key)) {
          seen.add(key);
          window.e2eTexts.push(key);
        }
      }
    }, 5);
  });
}

/** The texts {@link recordPanelTexts} saw since the page (re)loaded. */
function panelTexts(page) {
  return page.evaluate(() => window.e2eTexts ?? []);
}

/**
 * The panel's invalidated warning for this provider: it asks to authorize again and names the
 * provider by its host, not UPS. `flash` collects any text naming UPS.com that the panel
 * showed meanwhile, even for a moment.
 */
async function assertInvalidatedPanel(page, panel, op, flash) {
  await panel.waitForState('invalidated');
  const host = new URL(op.issuer).hostname;
  let alert = '';
  await waitFor(
    async () => {
      alert = norm(await panel.alert.first().textContent({ timeout: 1000 }));
      return alert.includes(host);
    },
    { message: `the invalidated warning to name ${host}` },
  ).catch((e) => {
    throw new Error(`${e.message}: ${alert}`);
  });
  assert.ok(alert.includes('no longer valid') && alert.includes('Authorize again'), `the warning asks to authorize again: ${alert}`);
  assert.ok(!alert.includes('UPS'), `the warning does not name UPS: ${alert}`);
  assert.equal(await panel.authorize.isEnabled(), true, 'Authorize offered again');
  assert.equal(await panel.clear.count(), 0, 'nothing to clear once invalidated');
  const ups = (await panelTexts(page)).filter((t) => t.includes('UPS'));
  flash.check(() => assert.deepEqual(ups, [], `the panel of a generic provider (${host}) showed, before its final text: ${JSON.stringify(ups)}`));
}

/**
 * Known widget bug (reported, not worked around): until `GET /config` has answered, the panel
 * renders with UPS's texts — an invalidated panel shows (and its role=alert announces) "the
 * UPS.com password may have changed" for a moment before it names the configured provider.
 * Caught by {@link recordPanelTexts} whenever the panel's first render comes before /config's
 * answer (most runs); reported as TODO until fixed.
 */
const UPS_FLASH = 'widget bug: before /config answers, an invalidated panel shows UPS.com texts for a moment';

/** No unexpected failure inside the provider. */
function assertNoProviderErrors(op) {
  assert.deepEqual(op.eventsNamed('server_error'), [], 'oidc-provider had no server error');
}

describe(`against oidc-provider ${OIDC_PROVIDER_VERSION}`, { concurrency: 2 }, () => {
  test('1. rotation on: opt in, rotated refreshes, grant revoked at the provider → invalidated (invalid_grant); authorize again, Clear → revoked at the provider', async (t) => {
    const company = 'o-rotation';
    const s = await startProviderAndHost({
      provider: { rotateRefreshToken: true, accessTtl: 15 },
      hostArgs: REFRESHER,
      companies: [[company, 'Rotation Co.']],
    });
    const { op, env } = s;
    try {
      await userPath(browser, 'oidc-01-rotation', async ({ context, page }) => {
        await loopbackOnly(context);
        await recordPanelTexts(page);
        const flash = softChecks();
        const panel = await openPanel(page, env.host, company);
        assert.deepEqual(await optIn(page, panel, s), ['login', 'consent'], 'the provider asked to sign in, then for consent');
        const [first] = await panel.waitForRows(1, '1-1 of 1');
        assertActiveRowWithoutRefreshExpiry(first);

        // What the host asked, and what the provider answered.
        const [q1] = authorizationQueries(op);
        assertAuthorizationRequest(q1, s, { scope: 'openid offline_access', prompt: 'consent' });
        const back = op.requests.find((r) => r.location?.startsWith(s.redirectUri));
        assert.ok(back, 'the provider sent the browser back to the redirect URI');
        assert.equal(new URL(back.location).searchParams.get('iss'), op.issuer, 'RFC 9207 iss in the authorization response');
        const [exchange, ...rest] = op.tokenCalls();
        assert.equal(rest.length, 0, 'one token request so far');
        assert.equal(exchange.grantType, 'authorization_code');
        assert.equal(exchange.status, 200);
        assert.equal(typeof exchange.answer.refresh_token, 'string', 'a refresh token (offline_access with prompt=consent)');
        assert.equal(typeof exchange.answer.id_token, 'string', 'an ID token');
        assert.equal(exchange.answer.expires_in, 15);
        assert.equal(exchange.answer.refresh_token_expires_in, undefined, 'oidc-provider states no refresh lifetime');
        assert.equal(exchange.answer.refresh_expires_in, undefined, 'oidc-provider states no refresh lifetime');
        const c0 = await companyStatus(env, company);
        assert.equal(c0.status, 'active');
        assert.ok(Math.abs(c0.token_expires - (exchange.at + 15_000)) < 2_000, `token_expires ${c0.token_expires} ≈ answer + 15 s (${exchange.at + 15_000})`);
        assert.equal(c0.refresh_expires, null, 'no refresh lifetime was stated');
        // The panel's row: its own refresh token, created with the answer, expiry unknown.
        const r0 = refreshColumns(first);
        assertTimeCell(r0.created, r0.createdIso, 'Refresh Created');
        assert.equal(r0.expires, NONE, 'Refresh Expires unknown');

        // The refresher renews half-way (7.5 s): rotation, a second row, token_expires moves.
        await waitFor(async () => (await apiTokens(env, company)).total >= 2, {
          timeout: 20_000,
          message: 'a refresh (second history record)',
        });
        const [refresh] = op.tokenCalls().filter((c) => c.grantType === 'refresh_token');
        assert.equal(refresh.status, 200, `refresh answered ${refresh.status}: ${JSON.stringify(refresh.answer)}`);
        assert.equal(refresh.refreshTokenSent, exchange.answer.refresh_token, 'the host refreshed with the refresh token it was given');
        assert.equal(typeof refresh.answer.refresh_token, 'string');
        assert.notEqual(refresh.answer.refresh_token, exchange.answer.refresh_token, 'the provider rotated the refresh token');
        assert.ok(op.eventsNamed('refresh_token.consumed').length >= 1, 'the provider consumed the old refresh token');
        const c1 = await companyStatus(env, company);
        assert.equal(c1.status, 'active');
        assert.ok(c1.token_expires > c0.token_expires, `token_expires moved (${c0.token_expires} → ${c1.token_expires})`);

        await page.reload();
        await panel.waitForState('authorized');
        const rows = await panel.rows();
        assert.ok(rows.length >= 2, `two rows or more after a refresh: ${JSON.stringify(rows)}`);
        assertNewestFirst(rows);
        assert.equal(rows[0].status, 'Active');
        rows.slice(1).forEach((r) => assert.equal(r.status, 'Refreshed', `older row ${r.id}`));
        assert.ok(rows.some((r) => r.id === first.id));
        const rNew = refreshColumns(rows[0]);
        assertTimeCell(rNew.created, rNew.createdIso, 'Refresh Created of the rotated token');
        assert.ok(Date.parse(rNew.createdIso) > Date.parse(r0.createdIso), 'a rotated refresh token has its own creation time');

        // The admin's consent is withdrawn at the provider: its grant is destroyed there.
        const held = lastRefreshToken(op);
        const rt = await op.provider.RefreshToken.find(held);
        assert.ok(rt, 'the provider knows the refresh token the host holds');
        const grant = await op.provider.Grant.find(rt.grantId);
        assert.ok(grant, 'the grant exists at the provider');
        const refusedFrom = op.tokenCalls().length;
        await grant.destroy();
        const invalid = await waitForCompany(env, company, 'invalidated', 20_000, 'the next refresh to be refused and the authorization invalidated');
        assert.equal(invalid.reason, 'invalid_grant');
        const afterDestroy = op.tokenCalls().slice(refusedFrom);
        const refused = afterDestroy.at(-1);
        assert.equal(refused?.grantType, 'refresh_token', `a refresh was asked after the grant went: ${JSON.stringify(afterDestroy)}`);
        assert.equal(refused.status, 400);
        assert.equal(refused.answer.error, 'invalid_grant');
        assert.equal(refused.refreshTokenSent, lastRefreshToken(op), 'the refused refresh used the refresh token the host held');
        assert.equal(refused.refreshTokenSent, held, 'of the destroyed grant');
        assert.equal(afterDestroy.filter((c) => c.status !== 200).length, 1, 'one refused refresh, not retried');

        await page.reload();
        await assertInvalidatedPanel(page, panel, op, flash);
        const invalidatedRows = await panel.rows();
        assert.equal(invalidatedRows[0].status, 'Invalidated');
        assert.ok(!invalidatedRows.some((r) => r.status === 'Active'), 'no row is Active any more');

        // Authorize again: still signed in at the provider, consent asked again (prompt=consent).
        assert.deepEqual(await optIn(page, panel, s), ['consent'], 'signed in at the provider already: consent only');
        const queries = authorizationQueries(op);
        assert.equal(queries.length, 2);
        assertAuthorizationRequest(queries[1], s, { scope: 'openid offline_access', prompt: 'consent' });
        assert.notEqual(queries[1].nonce, queries[0].nonce, 'a new nonce');
        assert.notEqual(queries[1].state, queries[0].state, 'a new state');
        const reExchange = op.tokenCalls().filter((c) => c.grantType === 'authorization_code').at(-1);
        assert.equal(reExchange.status, 200);
        assert.equal(typeof reExchange.answer.refresh_token, 'string', 'a refresh token again');
        const newGrantId = (await op.provider.RefreshToken.find(reExchange.answer.refresh_token)).grantId;
        assert.notEqual(newGrantId, rt.grantId, 'a new grant at the provider');
        assert.equal((await companyStatus(env, company)).status, 'active');
        const fresh = await panel.waitForRows(invalidatedRows.length + 1);
        assertActiveRowWithoutRefreshExpiry(fresh[0]);

        // Clear: the host revokes the refresh token it holds at the provider (RFC 7009).
        await panel.clear.click();
        await panel.dialog.waitFor();
        const clearAnswer = page.waitForResponse((r) => r.url().startsWith(`${env.host}/api/optin/clear`) && r.request().method() === 'POST');
        await panel.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
        const response = await clearAnswer;
        const cleared = await response.json();
        assert.equal(response.status(), 200, JSON.stringify(cleared));
        assert.equal(cleared.status, 'cleared');
        assert.ok(Number.isInteger(cleared.cleared_at) && Math.abs(cleared.cleared_at - Date.now()) < 60_000, `cleared_at ${cleared.cleared_at} is now, in ms`);
        assert.equal(cleared.revocation?.result, 'revoked', `Clear's answer: ${JSON.stringify(cleared)}`);
        await panel.waitForState('not_authorized');
        // The panel says what happened at the provider (the receipt of Clear's answer).
        await panel.waitForStatus(`${TEXT.cleared} ${new URL(op.issuer).hostname} confirmed the revocation: the access it granted is gone.`);

        // The provider's side: one RFC 7009 request with the refresh token the host held.
        const last = lastRefreshToken(op);
        const revocations = op.requests.filter((r) => r.route === 'revocation');
        assert.equal(revocations.length, 1, 'one revocation request');
        assert.equal(revocations[0].status, 200);
        assert.equal(revocations[0].params.token_type_hint, 'refresh_token');
        assert.equal(revocations[0].params.token, last, 'the host revoked the refresh token it held');
        const revoked = op.eventsNamed('grant.revoked');
        assert.deepEqual(
          revoked.map((e) => e.detail),
          [{ grantId: newGrantId, route: 'revocation' }],
          'the provider revoked the whole grant at the revocation endpoint',
        );
        assert.ok(
          op.eventsNamed('refresh_token.destroyed').some((e) => e.detail.grantId === newGrantId),
          'the provider destroyed the refresh token',
        );
        assert.equal(await op.provider.RefreshToken.find(last), undefined, 'the refresh token is gone from the provider');
        assert.equal(await op.provider.Grant.find(newGrantId), undefined, 'the grant is gone from the provider');
        assert.deepEqual(await op.introspect(last), { active: false }, 'introspection: not active');
        const retry = await op.refreshWith(last);
        assert.equal(retry.status, 400, 'a refresh with it fails');
        assert.equal(retry.json.error, 'invalid_grant');
        assert.equal((await companyStatus(env, company)).status, 'cleared');
        assertNoProviderErrors(op);
        await t.test('the panel never named UPS.com', () => flash.assertNone('texts naming UPS.com'));
      });
    } catch (e) {
      throw new Error(`${e.message}\n--- host log (last lines, polls left out) ---\n${hostLog(env)}`, { cause: e });
    } finally {
      await s.close();
    }
  });

  /**
   * Test 2 in one of its forms: `stated` — whether the provider states the refresh token's
   * lifetime in its token answers (oidc-provider does not; 2b adds it from the provider's own
   * RefreshToken model).
   */
  async function rotationOff(stated, t) {
    const company = stated ? 'o-static-stated' : 'o-static';
    const refreshTtl = 32;
    const s = await startProviderAndHost({
      provider: { rotateRefreshToken: false, accessTtl: 10, refreshTtl, stateRefreshLifetime: stated },
      hostArgs: REFRESHER,
      companies: [[company, 'Static Refresh Co.']],
    });
    const { op, env } = s;
    try {
      await userPath(browser, stated ? 'oidc-02b-rotation-off-stated' : 'oidc-02a-rotation-off', async ({ context, page }) => {
        await loopbackOnly(context);
        await recordPanelTexts(page);
        const panel = await openPanel(page, env.host, company);
        await optIn(page, panel, s);
        const [first] = await panel.waitForRows(1, '1-1 of 1');
        if (stated) assertRow(first, 'Active');
        else assertActiveRowWithoutRefreshExpiry(first);
        const [exchange] = op.tokenCalls();
        assert.equal(exchange.grantType, 'authorization_code');
        const refreshToken = exchange.answer.refresh_token;
        assert.equal(typeof refreshToken, 'string', 'a refresh token');
        const providerExpiry = (await op.provider.RefreshToken.find(refreshToken)).exp * 1000;
        const c0 = await companyStatus(env, company);
        if (stated) {
          const stated = exchange.answer.refresh_token_expires_in;
          assert.ok(stated === refreshTtl || stated === refreshTtl - 1, `refresh_token_expires_in ${stated}`);
          assert.ok(Math.abs(c0.refresh_expires - (exchange.at + stated * 1000)) < 2_000, `refresh_expires ${c0.refresh_expires} ≈ answer + ${stated} s`);
        } else {
          assert.equal(exchange.answer.refresh_token_expires_in, undefined, 'oidc-provider states no refresh lifetime');
          assert.equal(exchange.answer.refresh_expires_in, undefined, 'oidc-provider states no refresh lifetime');
          assert.equal(c0.refresh_expires, null, 'the host cannot know the refresh lifetime');
        }

        // Several refreshes (every 5 s): the provider keeps the refresh token.
        await waitFor(async () => (await apiTokens(env, company)).total >= 4, {
          timeout: 25_000,
          message: 'three refreshes (four history records)',
        });
        const refreshes = op.tokenCalls().filter((c) => c.grantType === 'refresh_token');
        assert.ok(refreshes.length >= 3);
        for (const r of refreshes) {
          assert.equal(r.status, 200, `refresh answered ${r.status}: ${JSON.stringify(r.answer)}`);
          assert.equal(r.refreshTokenSent, refreshToken, 'the host refreshed with the one refresh token');
          assert.equal(r.answer.refresh_token, refreshToken, 'oidc-provider answers the same refresh token (not rotated)');
        }
        assert.deepEqual(op.eventsNamed('refresh_token.consumed'), [], 'nothing consumed: no rotation');

        await page.reload();
        await panel.waitForState('authorized');
        const rows = await panel.rows();
        assert.ok(rows.length >= 4, `four rows or more: ${JSON.stringify(rows)}`);
        assertNewestFirst(rows);
        assert.equal(rows[0].status, 'Active');
        assert.equal(new Set(rows.map((r) => r.titles[0])).size, rows.length, 'each row its own access token');
        // Issue 19: one refresh token, so one creation time and one expiry on every row. Checked
        // here, reported at the end (the lifetime's end is worth seeing even when these fail).
        const cols = rows.map(refreshColumns);
        const r0 = refreshColumns(first);
        const issue19 = softChecks();
        const check = issue19.check;
        for (const [i, c] of cols.entries()) {
          check(() => assertTimeCell(c.created, c.createdIso, `row ${i} Refresh Created`));
          check(() => assert.equal(c.createdIso, r0.createdIso, `row ${i} Refresh Created ${c.createdIso} is the first row's ${r0.createdIso} (one refresh token)`));
          if (stated) {
            check(() => assertTimeCell(c.expires, c.expiresIso, `row ${i} Refresh Expires`));
            // The provider states whole seconds left: within a second of the first answer's.
            check(() => assert.ok(Math.abs(Date.parse(c.expiresIso) - c0.refresh_expires) < 1_000, `row ${i} Refresh Expires ${c.expiresIso} is the refresh token's expiry ${new Date(c0.refresh_expires).toISOString()}`));
          } else {
            check(() => assert.equal(c.expires, NONE, `row ${i}: Refresh Expires unknown, as the provider said nothing`));
          }
        }
        const c1 = await companyStatus(env, company);
        check(() => assert.ok(stated ? Math.abs(c1.refresh_expires - c0.refresh_expires) < 1_000 : c1.refresh_expires === null, `refresh_expires ${c0.refresh_expires} → ${c1.refresh_expires} after the refreshes`));
        const gridRows = cols.map((c, i) => `${rows[i].status}: Refresh Created ${c.createdIso}, Refresh Expires ${c.expiresIso ?? c.expires}`);

        // The refresh token's lifetime passes.
        const invalid = await waitForCompany(env, company, 'invalidated', 30_000, 'the authorization to end with its refresh token');
        const calls = op.tokenCalls().filter((c) => c.grantType === 'refresh_token');
        if (stated) {
          assert.equal(invalid.reason, 'refresh_expired');
          assert.deepEqual(calls.filter((c) => c.status !== 200).map((c) => [c.status, c.answer]), [], 'no refresh request was refused');
          assert.ok(calls.every((c) => c.at < providerExpiry), 'no refresh asked after the refresh token expired');
          assert.ok(invalid.since >= c0.refresh_expires, `invalidated (${invalid.since}) once refresh_expires (${c0.refresh_expires}) passed`);
        } else {
          // What the host can know: nothing until the provider refuses the expired token.
          const refused = calls.filter((c) => c.status !== 200);
          assert.equal(refused.length, 1, `one refused refresh: ${JSON.stringify(refused)}`);
          assert.equal(refused[0].status, 400);
          assert.equal(refused[0].answer.error, 'invalid_grant');
          assert.ok(refused[0].at >= providerExpiry, 'refused once the refresh token had expired at the provider');
          assert.ok(
            op.eventsNamed('grant.error').some((e) => e.detail.detail === 'refresh token is expired'),
            `the provider refused it as expired: ${JSON.stringify(op.eventsNamed('grant.error'))}`,
          );
          assert.equal(invalid.reason, 'invalid_grant');
        }
        await page.reload();
        const flash = softChecks();
        await assertInvalidatedPanel(page, panel, op, flash);
        assert.equal((await panel.rows())[0].status, 'Invalidated');
        assertNoProviderErrors(op);
        await t.test('the panel never named UPS.com', () => flash.assertNone('texts naming UPS.com'));
        await t.test('issue 19: one refresh token, one Refresh Created and one Refresh Expires on every row', () =>
          issue19.assertNone(`the rows:\n${gridRows.join('\n')}\nfailed checks`),
        );
      });
    } catch (e) {
      throw new Error(`${e.message}\n--- host log (last lines, polls left out) ---\n${hostLog(env)}`, { cause: e });
    } finally {
      await s.close();
    }
  }

  test('2a. rotation off (issue 19), oidc-provider as it is: the same refresh token on every row; refused once its lifetime passed → invalidated', (t) =>
    rotationOff(false, t));

  test('2b. rotation off (issue 19), refresh lifetime stated: the same Refresh Created and Expires on every row; refresh_expired without a refused refresh', (t) =>
    rotationOff(true, t));

  test('3. no refresh token (scope openid only): active until the access token expires, then invalidated (no_refresh_token), no refresh request', async (t) => {
    const company = 'o-no-refresh';
    const accessTtl = 12;
    const s = await startProviderAndHost({
      provider: { rotateRefreshToken: true, accessTtl },
      scope: 'openid',
      hostArgs: REFRESHER,
      companies: [[company, 'No Refresh Co.']],
    });
    const { op, env } = s;
    try {
      await userPath(browser, 'oidc-03-no-refresh-token', async ({ context, page }) => {
        await loopbackOnly(context);
        await recordPanelTexts(page);
        const panel = await openPanel(page, env.host, company);
        await optIn(page, panel, s);
        const [q] = authorizationQueries(op);
        assertAuthorizationRequest(q, s, { scope: 'openid', prompt: undefined });
        const [exchange] = op.tokenCalls();
        assert.equal(exchange.status, 200);
        assert.equal(exchange.answer.refresh_token, undefined, 'no refresh token without offline_access');
        assert.equal(exchange.answer.expires_in, accessTtl);
        const [row] = await panel.waitForRows(1, '1-1 of 1');
        assert.equal(row.status, 'Active');
        assertTimeCell(row.cells[0], row.titles[0], 'Token Created');
        assertTimeCell(row.cells[1], row.titles[1], 'Token Expires');
        assert.deepEqual(row.cells.slice(2, 4), [NONE, NONE], 'no refresh token: no refresh times');

        const c0 = await companyStatus(env, company);
        assert.equal(c0.status, 'active');
        assert.equal(c0.refresh_expires, null);
        assert.ok(Math.abs(c0.token_expires - (exchange.at + accessTtl * 1000)) < 2_000);
        const seen = [];
        const invalid = await waitFor(
          async () => {
            const c = await companyStatus(env, company);
            seen.push({ at: Date.now(), status: c.status });
            return c.status !== 'active' && c;
          },
          { timeout: 25_000, interval: 200, message: 'the authorization to end with its access token' },
        );
        assert.equal(invalid.status, 'invalidated');
        assert.equal(invalid.reason, 'no_refresh_token');
        const activeSeen = seen.filter((o) => o.status === 'active');
        assert.ok(activeSeen.at(-1).at >= c0.token_expires - 1_500, `still active in the last moments of the access token (${JSON.stringify(seen.slice(-3))}, expires ${c0.token_expires})`);
        assert.ok(invalid.since >= c0.token_expires, `invalidated at ${invalid.since}, not before the access token expired at ${c0.token_expires}`);
        assert.ok(invalid.since < c0.token_expires + 3_000, 'invalidated soon after the access token expired');
        assert.deepEqual(
          op.tokenCalls().map((c) => c.grantType),
          ['authorization_code'],
          'no refresh request reached the provider',
        );
        await page.reload();
        const flash = softChecks();
        await assertInvalidatedPanel(page, panel, op, flash);
        assert.equal((await panel.rows())[0].status, 'Invalidated');
        assertNoProviderErrors(op);
        await t.test('the panel never named UPS.com', () => flash.assertNone('texts naming UPS.com'));
      });
    } catch (e) {
      throw new Error(`${e.message}\n--- host log (last lines, polls left out) ---\n${hostLog(env)}`, { cause: e });
    } finally {
      await s.close();
    }
  });

  test('4. discovery refusals: forged metadata (issuer, endpoint hosts, PKCE, size) → the host does not start, says why, and calls no forged endpoint', async () => {
    const trap = await startTrap('127.0.0.2');
    const dir = mkdtempSync(join(tmpdir(), 'tm-forged-'));
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, 'forged-secret', { mode: 0o600 });
    /** A document the host accepts for `issuer`: every field it checks. */
    const valid = (issuer) => ({
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      revocation_endpoint: `${issuer}/token/revocation`,
      response_types_supported: ['code'],
      token_endpoint_auth_methods_supported: ['client_secret_basic'],
      code_challenge_methods_supported: ['S256'],
    });
    const without = (doc, field) => {
      const copy = { ...doc };
      delete copy[field];
      return copy;
    };
    const other = (issuer, host) => issuer.replace('127.0.0.1', host);
    const padded = (doc, size) => {
      const json = JSON.stringify(doc);
      return json + ' '.repeat(size - json.length);
    };
    const cases = [
      {
        name: 'the document names another issuer (localhost for 127.0.0.1)',
        doc: (o) => ({ ...valid(o), issuer: other(o, 'localhost') }),
        fatal: /the document's issuer "http:\/\/localhost:\d+" is not --issuer "http:\/\/127\.0\.0\.1:\d+\/"/,
      },
      {
        name: 'the document names an issuer with a path the flag lacks',
        doc: (o) => ({ ...valid(o), issuer: `${o}/tenant` }),
        fatal: /the document's issuer "http:\/\/127\.0\.0\.1:\d+\/tenant" is not --issuer/,
      },
      {
        name: 'token endpoint on localhost',
        doc: (o) => ({ ...valid(o), token_endpoint: `${other(o, 'localhost')}/token` }),
        fatal: /token_endpoint http:\/\/localhost:\d+\/token is not on the issuer's host 127\.0\.0\.1/,
      },
      {
        name: 'authorization endpoint on 127.0.0.2',
        doc: (o) => ({ ...valid(o), authorization_endpoint: `${trap.origin}/auth` }),
        fatal: /authorization_endpoint http:\/\/127\.0\.0\.2:\d+\/auth is not on the issuer's host 127\.0\.0\.1/,
      },
      {
        name: 'revocation endpoint on 127.0.0.2',
        doc: (o) => ({ ...valid(o), revocation_endpoint: `${trap.origin}/revoke` }),
        fatal: /revocation_endpoint http:\/\/127\.0\.0\.2:\d+\/revoke is not on the issuer's host 127\.0\.0\.1/,
      },
      {
        name: 'no code_challenge_methods_supported',
        doc: (o) => without(valid(o), 'code_challenge_methods_supported'),
        fatal: /does not list S256 in code_challenge_methods_supported/,
      },
      {
        name: 'PKCE plain only',
        doc: (o) => ({ ...valid(o), code_challenge_methods_supported: ['plain'] }),
        fatal: /does not list S256 in code_challenge_methods_supported/,
      },
      {
        name: 'a document of 64 KiB + 1 byte at every well-known URL',
        doc: (o) => padded(valid(o), 64 * 1024 + 1),
        fatal: /no RFC 8414 \/ OpenID metadata found for http:\/\/127\.0\.0\.1:\d+\//,
        log: /metadata document too large; skipped/,
        everyUrl: true,
      },
      {
        name: 'a document of 4 MiB at every well-known URL',
        doc: (o) => padded(valid(o), 4 * 1024 * 1024),
        fatal: /no RFC 8414 \/ OpenID metadata found for http:\/\/127\.0\.0\.1:\d+\//,
        log: /metadata fetch failed.*larger than/,
        everyUrl: true,
      },
    ];
    const wellKnown = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration'];
    const flags = (issuer) => [
      '--provider', 'generic',
      '--issuer', issuer,
      '--dev-allow-http-issuer',
      '--client-id', 'forged-client',
      '--client-secret-file', secretFile,
      '--scope', 'openid offline_access',
      '--retrieval-interval-ms', '0',
    ];
    try {
      // The control: the forged server with a document the host accepts — it starts, so each
      // refusal below is the one defect's doing.
      const control = await startForgedMetadata({ documentFor: valid });
      const host = await startHost({ args: flags(control.origin), timeoutMs: 15_000 });
      try {
        const config = await apiCall(host, 'GET', 'config?company=demo-co', 'demo-co');
        assert.equal(config.status, 200, config.text);
        assert.equal(config.json().authorize_url, `${control.origin}/auth`, 'the control host uses the document\'s authorization endpoint');
        assert.deepEqual(control.requests.map((r) => `${r.method} ${r.url}`), [`GET ${wellKnown[0]}`], 'the control read RFC 8414 metadata first');
      } finally {
        await host.stop();
        await control.close();
      }

      for (const c of cases) {
        const forged = await startForgedMetadata({ documentFor: c.doc });
        try {
          const error = await startHost({ args: flags(forged.origin), timeoutMs: 15_000 }).then(
            async (h) => {
              await h.stop();
              return null;
            },
            (e) => e,
          );
          assert.ok(error, `${c.name}: the host started`);
          const text = error.message;
          assert.match(text, /it exited \(code 1, signal null\) before it was ready/, `${c.name}: exit status\n${text}`);
          // The host's last words: `host-example: <error>` on stderr (the harness may split
          // them where the write calls did).
          const output = text.slice(text.indexOf('--- host output ---'));
          const at = output.lastIndexOf('host-example: ');
          assert.ok(at >= 0, `${c.name}: a fatal message\n${text}`);
          const fatal = output.slice(at).replace(/\n/g, '');
          assert.match(fatal, c.fatal, `${c.name}: the message names the problem\n${text}`);
          if (c.log) assert.match(text, c.log, `${c.name}: the log says why\n${text}`);
          const asked = forged.requests.map((r) => `${r.method} ${r.url}`);
          assert.ok(asked.length >= 1, `${c.name}: metadata was asked for`);
          assert.ok(
            forged.requests.every((r) => r.method === 'GET' && wellKnown.includes(r.url)),
            `${c.name}: only metadata was asked for, no endpoint: ${JSON.stringify(asked)}`,
          );
          if (c.everyUrl) assert.deepEqual(asked, wellKnown.map((u) => `GET ${u}`), `${c.name}: every well-known URL tried, once`);
          else assert.deepEqual(asked, [`GET ${wellKnown[0]}`], `${c.name}: refused on the first document`);
        } finally {
          await forged.close();
        }
      }
      assert.deepEqual(trap.requests, [], 'nothing reached 127.0.0.2');
    } finally {
      await trap.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
