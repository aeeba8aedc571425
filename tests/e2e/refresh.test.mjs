// Paths 2 and 5: the host's refresher at work with short token lifetimes — a refresh adds a
// newer Active row; a UPS.com password change makes the next refresh fail and the panel says
// the opt-in is no longer valid, and Authorize works again.
//
// Access tokens live 6 s and the refresher renews min(4 s, 6/2 s) = 3 s before expiry,
// looking for due work every 200 ms: a refresh about every 3 s.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TEXT,
  apiClear,
  apiStatus,
  apiTokens,
  assertAccessible,
  assertNewestFirst,
  assertRow,
  authorize,
  companiesFlag,
  openPanel,
  passwordChange,
  sharedHost,
  userPath,
  waitFor,
  waitForText,
} from './support.mjs';

const shared = sharedHost([
  '--companies',
  companiesFlag([
    ['r-refresh', 'Refresh Co.'],
    ['r-password', 'Password Co.'],
  ]),
  '--access-ttl-secs',
  '6',
  '--refresh-skew-secs',
  '4',
  '--refresh-tick-ms',
  '200',
]);

test('2. refresh: the refresher renews the token; after a reload the newest row is Active, the older one Refreshed', async () => {
  const { env, browser } = shared;
  await userPath(browser, '02-refresh', async ({ page }) => {
    const company = 'r-refresh';
    const panel = await openPanel(page, env.host, company);
    await authorize(page, panel, env);
    const [first] = await panel.waitForRows(1, '1-1 of 1');
    assertRow(first, 'Active');

    // The refresher runs without anyone on the page: wait until the host holds a second record.
    await waitFor(async () => (await apiTokens(env, company)).total >= 2, {
      timeout: 15_000,
      message: 'a refreshed token (second history record)',
    });

    await page.reload();
    await panel.waitForState('authorized');
    // After a plain reload there is no "A token was generated" confirmation.
    await panel.waitForStatus('');
    const rows = await panel.rows();
    assert.ok(rows.length >= 2, `at least two rows after a refresh, saw ${rows.length}`);
    assert.equal(await panel.rangeText(), `1-${rows.length} of ${rows.length}`);
    rows.forEach((r) => assertRow(r));
    assertNewestFirst(rows);
    assert.equal(rows[0].status, 'Active', 'the newest row is the Active token');
    for (const older of rows.slice(1)) {
      assert.equal(older.status, 'Refreshed', `older row ${older.id} is no longer Active`);
    }
    assert.ok(rows.some((r) => r.id === first.id), 'the first token is still in the history');
    assert.notEqual(rows[0].id, first.id, 'the Active row is a newer token than the first');
    await apiClear(env, company);
  });
});

test('5. password change at UPS.com: the next refresh invalidates the opt-in, the panel warns, Authorize works again', async () => {
  const { env, browser } = shared;
  await userPath(
    browser,
    '05-password-change',
    async ({ page }) => {
      const company = 'r-password';
      const panel = await openPanel(page, env.host, company);
      await authorize(page, panel, env);
      await panel.waitForRows(1, '1-1 of 1');

      // The UPS.com user changes their password: every refresh token of theirs is dead.
      const newPassword = 'changed-password-1';
      await passwordChange(env, 'demo', newPassword);
      await waitFor(async () => (await apiStatus(env, company)).status === 'invalidated', {
        timeout: 15_000,
        message: 'the host to mark the authorization invalidated after the next refresh',
      });

      await page.reload();
      await panel.waitForState('invalidated');
      await waitForText(panel.alert, TEXT.invalidated);
      assert.equal(await panel.authorize.isEnabled(), true, 'Authorize offered again');
      assert.equal(await panel.clear.count(), 0, 'nothing to clear once invalidated');
      const invalidatedRows = await panel.rows();
      assert.ok(invalidatedRows.length >= 1);
      assert.equal(invalidatedRows[0].status, 'Invalidated', 'the last token is shown Invalidated');
      assert.ok(!invalidatedRows.some((r) => r.status === 'Active'), 'no row is Active any more');
      await assertAccessible(page, panel, 'invalidated');

      // Authorize again, signing in with the new password.
      await authorize(page, panel, env, { password: newPassword });
      const rows = await panel.waitForRows(invalidatedRows.length + 1);
      assertRow(rows[0], 'Active');
      assert.ok(rows.slice(1).some((r) => r.status === 'Invalidated'), 'the invalidated token stays in the history');
      assert.equal((await apiStatus(env, company)).status, 'active');
      await apiClear(env, company);
    },
    { bypassCSP: true },
  );
});
