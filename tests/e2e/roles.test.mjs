// Path 14: a viewer. The admin authorizes a company; Vera Viewer, signed in through the demo
// portal's login page, sees its Token History but no Authorize and no Clear — and the host
// refuses a viewer's start and clear (403 forbidden), whatever a page would try.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TEXT,
  apiCall,
  apiStatus,
  assertAccessible,
  assertGridChrome,
  assertRow,
  authorize,
  companiesFlag,
  norm,
  openPanel,
  sharedHost,
  userPath,
} from './support.mjs';

const shared = sharedHost(['--companies', companiesFlag([['r-view', 'Viewed Co.'], ['r-empty', 'Unauthorized Co.']])]);

/** Sign in as a demo user on the login page, as a person does: pick the user, Sign in. */
async function signInOnLoginPage(page, host, name) {
  await page.goto(`${host}/login`);
  await page.getByRole('heading', { level: 1, name: 'Sign in', exact: true }).waitFor();
  await page.getByRole('radio', { name: new RegExp(name) }).check();
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => u.pathname !== '/login' || !u.search.includes('user'), { waitUntil: 'domcontentloaded' });
  const body = norm(await page.locator('body').textContent());
  assert.equal(new URL(page.url()).pathname, '/', `the login page's Sign in leads Home (it shows ${JSON.stringify(body.slice(0, 80))})`);
  assert.equal(norm(await page.locator('.user strong').textContent()), name, `signed in as ${name}`);
}

test('14. viewer: after the admin authorized, Vera Viewer sees the grid but no Authorize and no Clear; the host refuses a viewer\'s start and clear', async () => {
  const { env, browser } = shared;
  const company = 'r-view';

  // The admin (signed in automatically) authorizes the company.
  await userPath(browser, '14-viewer-admin-authorized', async ({ page }) => {
    const panel = await openPanel(page, env.host, company);
    await authorize(page, panel, env);
    assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
  });

  await userPath(
    browser,
    '14-viewer',
    async ({ page }) => {
      // The first visit signs Ada Admin in; the login page switches to Vera Viewer.
      await page.goto(`${env.host}/`);
      await signInOnLoginPage(page, env.host, 'Vera Viewer');

      // A company nobody authorized: no Authorize for a viewer either.
      const empty = await openPanel(page, env.host, 'r-empty');
      assert.equal(await empty.authorize.count(), 0, 'no Authorize for a viewer');
      assert.equal(await empty.clear.count(), 0, 'no Clear for a viewer');
      assert.equal(await empty.rangeText(), '0 of 0');
      await assertAccessible(page, empty, 'not authorized (viewer)');

      // The authorized company: the grid with the admin's token, still no button to act.
      const panel = await openPanel(page, env.host, company, 'authorized');
      const rows = await panel.waitForRows(1, '1-1 of 1');
      await assertGridChrome(panel);
      assertRow(rows[0], 'Active');
      assert.equal(await panel.authorize.count(), 0, 'no Authorize for a viewer');
      assert.equal(await panel.clear.count(), 0, 'no Clear for a viewer');
      assert.equal(await panel.alert.count(), 0, 'no error shown');
      assert.equal(await panel.root.getByRole('heading', { level: 2, name: TEXT.title }).count(), 1, 'the panel is there');
      await assertAccessible(page, panel, 'authorized (viewer)');
      // Paging still works for a viewer.
      await panel.pageSize.selectOption('25');
      await panel.waitForRows(1, '1-1 of 1');
      assert.equal(await panel.clear.count(), 0);
    },
    { bypassCSP: true },
  );

  // The host enforces the role, not only the panel: a viewer's session may read, not act.
  const viewer = await env.mintSession({ user: 'viewer', name: 'Vera Viewer', companies: [{ id: company, role: 'viewer' }] });
  const asViewer = (method, path, body) =>
    fetch(`${env.host}/api/optin/${path}`, {
      method,
      headers: {
        authorization: `Bearer ${viewer.sessionToken}`,
        ...(body ? { 'content-type': 'application/json', 'x-token-manager': '1' } : {}),
      },
      body: body && JSON.stringify(body),
    });
  const tokens = await asViewer('GET', `tokens?company=${company}&page=1&per_page=10`);
  assert.equal(tokens.status, 200);
  const listed = await tokens.json();
  assert.equal(listed.can_manage, false, 'GET /tokens tells the panel a viewer cannot manage');
  assert.equal(listed.total, 1);
  for (const [path, body] of [
    ['clear', { company }],
    ['start', { company, return_to: '/admin/token-manager' }],
  ]) {
    const r = await asViewer('POST', path, body);
    assert.equal(r.status, 403, `a viewer's POST /${path} is refused`);
    assert.equal((await r.json()).error.code, 'forbidden');
  }
  // A company outside the session is refused the same way, even for an admin session.
  const outside = await apiCall(env, 'GET', `tokens?company=r-empty&page=1&per_page=10`, company);
  assert.equal(outside.status, 403);
  assert.equal(outside.json().error.code, 'forbidden');
  assert.equal((await apiStatus(env, company)).status, 'active', 'nothing the viewer did changed the authorization');
});

// The demo portal's login page and its Log out in a browser. Pages are served with
// `Referrer-Policy: no-referrer`, under which Chromium posts the form with `Origin: null`; the
// host judges the post by `Sec-Fetch-Site: same-origin` (host-example/src/pages/mod.rs).
test('14b. the demo portal\'s login page signs Vera Viewer in (pick the user, Sign in), and Log out signs her out', async () => {
  const { env, browser } = shared;
  await userPath(browser, '14b-login-page', async ({ page }) => {
    await page.goto(`${env.host}/`);
    await signInOnLoginPage(page, env.host, 'Vera Viewer');
    await page.getByRole('button', { name: 'Log out', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/login', { waitUntil: 'domcontentloaded' });
    await page.getByRole('heading', { level: 1, name: 'Sign in', exact: true }).waitFor();
    await page.goto(`${env.host}/`);
    assert.equal(new URL(page.url()).pathname, '/login', 'signed out: the portal asks who you are');
  });
});
