// Path 1: the happy path from the portal, as the seed document walks it.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Panel,
  TEXT,
  apiTokens,
  assertGridChrome,
  assertRow,
  companiesFlag,
  holdRequests,
  norm,
  recordPanelStates,
  recordedPanelStates,
  sharedHost,
  signInAtUps,
  slowWayToUps,
  userPath,
  waitForPanelPage,
  waitForUps,
} from './support.mjs';

const shared = sharedHost(['--companies', companiesFlag()]);

test('1. happy path: Home → Admin → Token Manager → Authorize → UPS Log In → Password → "A token was generated", one Active row', async () => {
  const { env, browser } = shared;
  await userPath(browser, '01-happy-path', async ({ page }) => {
    await recordPanelStates(page);
    // Home of the portal, then Admin in the left menu.
    await page.goto(`${env.host}/`);
    await page.getByRole('heading', { name: 'Welcome', exact: true }).waitFor();
    const menu = page.getByRole('navigation', { name: 'Main menu' });
    for (const item of ['Home', 'Exports', 'Users', 'Groups', 'Admin']) {
      assert.equal(await menu.getByRole('link', { name: item, exact: true }).count(), 1, `menu item ${item}`);
    }
    assert.equal(norm(await page.locator('#company option:checked').textContent()), 'Demonstration Co.');
    await menu.getByRole('link', { name: 'Admin', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/admin/token-manager');
    await page.getByRole('heading', { level: 1, name: 'Token Manager', exact: true }).waitFor();

    // The panel, not authorized: explanation, Authorize, the password-change warning, empty grid.
    const panel = new Panel(page, 'demo-co');
    await panel.waitForState('not_authorized');
    assert.equal(await panel.authorize.isEnabled(), true);
    assert.equal(await panel.root.getByText(TEXT.passwordWarning, { exact: true }).isVisible(), true, 'password-change warning shown');
    assert.equal(await panel.clear.count(), 0, 'no Clear before an authorization');
    assert.equal(await panel.root.getByRole('cell', { name: TEXT.empty }).isVisible(), true, 'the empty grid says so');
    assert.equal(await panel.rangeText(), '0 of 0');

    // Authorize: the button is disabled and the panel says it is redirecting until the tab
    // has left for UPS (recorded in the page; the way to UPS is slowed a little).
    await slowWayToUps(page, env.mock);
    await panel.authorize.click();
    // UPS.com (the mock): Log In → Welcome back → Login.
    await waitForUps(page, env.mock);
    const exchange = await holdRequests(page, '**/api/optin/exchange');
    await signInAtUps(page);

    // Back on the panel: "Generating token…" while the host exchanges the code.
    await waitForPanelPage(page, env.host);
    const beforeReturn = await recordedPanelStates(page);
    assert.ok(
      beforeReturn.some((r) => r.state === 'redirecting' && r.busy === 'true' && r.status === TEXT.redirecting && r.authorizeDisabled === true),
      `the panel showed "${TEXT.redirecting}" with Authorize disabled before leaving; recorded: ${JSON.stringify(beforeReturn)}`,
    );
    await exchange.held;
    await panel.waitForState('generating');
    await panel.waitForStatus(TEXT.generating);
    await exchange.release();

    await panel.waitForState('authorized');
    await panel.waitForStatus(TEXT.generated);
    assert.ok(!/[?&](code|state)=/.test(page.url()), `the code and state are stripped from the address bar (${page.url()})`);

    // The grid: one row, four timestamps in mm-dd-yyyy hh:mm:ss AM/PM, Active, "1-1 of 1".
    const rows = await panel.waitForRows(1, '1-1 of 1');
    await assertGridChrome(panel);
    assertRow(rows[0], 'Active');
    assert.equal(await panel.clear.isVisible(), true, 'Clear offered once authorized');
    assert.equal(await panel.authorize.count(), 0, 'no Authorize while authorized');

    // What the host stored agrees: one record, status active.
    const stored = await apiTokens(env, 'demo-co');
    assert.equal(stored.total, 1);
    assert.equal(stored.status, 'active');
  });
});
