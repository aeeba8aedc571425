// Path 13: a partner portal on another site, third-party cookies blocked. The portal is a
// Node server on http://127.0.0.1:P1 (its backend mints session tokens with the host's API
// key and serves the npm package from its own origin); the host is http://localhost:P2
// (`--public-url`, `--allowed-origin` the portal). The browser's profile blocks third-party
// cookies (chrome://settings/cookies "Block third-party cookies"), proven first against a
// profile that allows them. Every call the panel makes to the host carries its session token
// and no cookie.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  CONTEXT_OPTIONS,
  Panel,
  TEXT,
  apiStatus,
  apiTokens,
  assertAccessible,
  assertRow,
  authorize,
  bearerOf,
  captureRequests,
  companiesFlag,
  freePort,
  launchProfile,
  norm,
  openPanel,
  profilePath,
  signInAtUps,
  startHost,
  startPortal,
  waitFor,
  waitForUps,
} from './support.mjs';
import { serveStatic } from '../harness/index.mjs';

let portal;
let env;
/** A server on the host's site (localhost) that sets and reads SameSite=None cookies. */
let probe;
const probeSeen = [];

before(async () => {
  portal = await startPortal({
    site: '127.0.0.1',
    companies: [
      { id: 'x-site', name: 'Cross-Site Co.', role: 'admin' },
      { id: 'x-portal', name: 'Portal Return Co.', role: 'admin' },
    ],
  });
  const port = await freePort();
  env = await startHost({
    args: [
      '--listen', `127.0.0.1:${port}`,
      '--public-url', `http://localhost:${port}`,
      '--allowed-origin', portal.origin,
      // UPS sends the browser back to the partner portal's page (its first company's panel).
      '--redirect-uri', `${portal.origin}/admin/token-manager`,
      '--companies', companiesFlag([['x-site', 'Cross-Site Co.'], ['x-portal', 'Portal Return Co.']]),
      '--exchange-per-minute', '1000',
    ],
  });
  assert.equal(env.host, `http://localhost:${port}`, 'the host names itself by its public URL');
  portal.env = env;
  const cookie = (name) => `${name}=1; SameSite=None; Secure; Path=/; Max-Age=600`;
  const answer = (cookies) => async (req, res, url) => {
    probeSeen.push({ path: url.pathname, cookie: req.headers.cookie ?? null });
    const headers = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
    if (cookies.length) headers['set-cookie'] = cookies.map(cookie);
    if (req.headers.origin) {
      headers['access-control-allow-origin'] = req.headers.origin;
      headers['access-control-allow-credentials'] = 'true';
    }
    res.writeHead(200, headers).end('<!doctype html><title>probe</title><p>probe</p>');
  };
  probe = await serveStatic(null, {
    host: 'localhost',
    routes: {
      'GET /set-in-iframe': answer(['probe_iframe']),
      'GET /set-in-fetch': answer(['probe_fetch']),
      'GET /set-first-party': answer(['probe_first']),
      'GET /echo-iframe': answer([]),
      'GET /echo-fetch': answer([]),
    },
  });
});

after(async () => {
  await env?.stop();
  await portal?.close();
  await probe?.close();
});

/**
 * On the portal's site (127.0.0.1), let the probe on the host's site (localhost) set cookies in
 * an iframe and a credentialed fetch, set one first-party (a top-level visit), then send an
 * iframe and a fetch to it again. Returns what was stored and what was sent back.
 */
async function cookieProbe(context) {
  probeSeen.length = 0;
  const page = await context.newPage();
  try {
    await page.goto(`${portal.origin}/`);
    const frame = (path) =>
      page.evaluate(
        (src) =>
          new Promise((resolve, reject) => {
            const f = document.createElement('iframe');
            f.src = src;
            f.onload = resolve;
            f.onerror = reject;
            document.body.append(f);
          }),
        `${probe.origin}${path}`,
      );
    const fetchIt = (path) =>
      page.evaluate((url) => fetch(url, { credentials: 'include' }).then((r) => r.status), `${probe.origin}${path}`);
    await frame('/set-in-iframe');
    await fetchIt('/set-in-fetch');
    const top = await context.newPage();
    await top.goto(`${probe.origin}/set-first-party`);
    await top.close();
    await frame('/echo-iframe');
    await fetchIt('/echo-fetch');
  } finally {
    await page.close();
  }
  const stored = (await context.cookies(probe.origin)).map((c) => c.name).filter((n) => n.startsWith('probe_')).sort();
  const sent = Object.fromEntries(probeSeen.filter((s) => s.path.startsWith('/echo')).map((s) => [s.path, s.cookie]));
  return { stored, sent };
}

test('13a. the test browser blocks third-party cookies (a profile that allows them stores and sends the same probe cookies)', async () => {
  // Control: with third-party cookies allowed, the probe sees its cookies cross-site.
  const allowing = await launchProfile({ thirdPartyCookies: 'allow', contextOptions: CONTEXT_OPTIONS });
  try {
    const allowed = await cookieProbe(allowing);
    assert.deepEqual(allowed.stored, ['probe_fetch', 'probe_first', 'probe_iframe'], 'allowed: the cross-site Set-Cookie is stored');
    for (const path of ['/echo-iframe', '/echo-fetch']) {
      assert.match(allowed.sent[path] ?? '', /probe_first=1/, `allowed: ${path} carries the cookie cross-site`);
    }
  } finally {
    await allowing.close();
  }
  // The profile of the cross-site paths: only the first-party cookie exists, none is sent.
  const blocking = await launchProfile({ thirdPartyCookies: 'block', contextOptions: CONTEXT_OPTIONS });
  try {
    const blocked = await cookieProbe(blocking);
    assert.deepEqual(blocked.stored, ['probe_first'], 'blocked: a cookie set in a cross-site iframe or fetch is not stored');
    assert.deepEqual(blocked.sent, { '/echo-iframe': null, '/echo-fetch': null }, 'blocked: no cookie goes along cross-site');
  } finally {
    await blocking.close();
  }
});

/** The panel's calls to the host: each with a bearer token, none with a cookie. */
async function assertBearerNoCookie(capture) {
  const seen = await capture.settled();
  const api = seen.filter((e) => e.url.startsWith(`${env.host}/api/optin/`) && e.method !== 'OPTIONS');
  assert.ok(api.length >= 3, `the panel called the host (${api.length} calls)`);
  const withCookie = seen.filter((e) => e.headers?.cookie !== undefined);
  assert.deepEqual(withCookie.map((e) => `${e.method} ${e.url}: ${e.headers.cookie}`), [], 'no request to the host carried a Cookie header');
  for (const e of api) {
    assert.ok(bearerOf(e), `${e.method} ${e.url} carries Authorization: Bearer`);
    assert.ok(portal.minted.some((m) => m.sessionToken === bearerOf(e)), `${e.method} ${e.url}: a token the portal minted`);
  }
  assert.ok(!seen.some((e) => JSON.stringify(e.headers ?? {}).includes(env.apiKey)), 'the API key never reaches the browser');
}

test('13b. cross-site, third-party cookies blocked: the admin authorizes in the partner portal on another site, comes back to it with "A token was generated", sees the row and Clears it, sending no cookie', async () => {
  const company = 'x-site';
  const context = await launchProfile({ thirdPartyCookies: 'block', contextOptions: { ...CONTEXT_OPTIONS, bypassCSP: true } });
  await profilePath(context, '13-cross-site-third-party-cookies-blocked', async ({ page }) => {
    // The partner portal on 127.0.0.1 (another site): the panel, with its session token only.
    const capture = captureRequests(context, env.host);
    await page.goto(`${portal.origin}/admin/token-manager`);
    await page.getByRole('heading', { level: 1, name: 'Partner portal' }).waitFor();
    const panel = new Panel(page, company);
    await panel.waitForState('not_authorized');
    await panel.authorize.click();
    await waitForUps(page, env.mock);
    await signInAtUps(page);
    // Back on the partner portal (the registered redirect URI), not on the host.
    await page.waitForURL((u) => u.href.startsWith(`${portal.origin}/admin/token-manager`), { waitUntil: 'domcontentloaded' });
    await panel.waitForState('authorized');
    await panel.waitForStatus(TEXT.generated);
    assert.ok(!page.url().includes('code='), 'the code is stripped from the address bar');
    assert.equal(norm(await page.getByRole('heading', { level: 1 }).textContent()), 'Partner portal');
    const [row] = await panel.waitForRows(1, '1-1 of 1');
    assertRow(row, 'Active');
    assert.equal(await panel.clear.isVisible(), true, 'Clear offered');
    await assertAccessible(page, panel, 'authorized (partner portal, cross-site)');

    // Clear → confirm: cleared on the host, the row kept as Cleared.
    await panel.clear.click();
    await panel.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
    await panel.waitForState('not_authorized');
    await panel.waitForStatus(TEXT.clearedUps);
    const [cleared] = await panel.waitForRows(1, '1-1 of 1');
    assertRow(cleared, 'Cleared');
    assert.equal(cleared.id, row.id);
    assert.equal((await apiStatus(env, company)).status, 'cleared', 'the host cleared it');
    await assertAccessible(page, panel, 'cleared (partner portal, cross-site)');

    const seen = await capture.settled();
    assert.ok(seen.some((e) => e.method === 'POST' && e.url === `${env.host}/api/optin/clear` && e.status === 200), 'Clear went to the host');
    await assertBearerNoCookie(capture);
  });
});
