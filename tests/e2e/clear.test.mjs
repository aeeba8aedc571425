// Paths 4 and 10: Clear (confirm dialog; retrieval stops at once, proven by the mock's data
// API counters) and two companies in two tabs of one portal session.
//
// The retrieval job runs every 200 ms here, so a token that is still used shows up in the
// mock's `data_calls_by_token` within a fraction of a second.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Panel,
  TEXT,
  apiStatus,
  apiTokens,
  assertRow,
  authorize,
  companiesFlag,
  mockStats,
  norm,
  openPanel,
  screenshot,
  sharedHost,
  signInAtUps,
  userPath,
  waitFor,
  waitForPanelPage,
  waitForUps,
} from './support.mjs';

const shared = sharedHost([
  '--companies',
  companiesFlag([
    ['c-clear', 'Clear Co.'],
    ['c-witness', 'Witness Co.'],
  ]),
  '--retrieval-interval-ms',
  '200',
]);

/** Data API calls made with each token (by fingerprint). */
async function callsByToken(env) {
  return (await mockStats(env)).data_calls_by_token ?? {};
}

/** Wait for a token not in `known` to be used at least `min` times; returns its fingerprint. */
async function newTokenUsed(env, known, min, what) {
  return waitFor(
    async () => {
      const calls = await callsByToken(env);
      return Object.keys(calls).find((t) => !(t in known) && calls[t] >= min);
    },
    { message: `the retrieval job to call the data API ${min} times with ${what}'s token` },
  );
}

test('4. Clear: Cancel keeps everything; confirming clears, rows Cleared, and the data API is no longer called with that token', async () => {
  const { env, browser } = shared;
  await userPath(browser, '04-clear', async ({ context, page, setShot }) => {
    const company = 'c-clear';
    const panel = await openPanel(page, env.host, company);
    const before = await callsByToken(env);
    await authorize(page, panel, env);
    const [row] = await panel.waitForRows(1, '1-1 of 1');
    assertRow(row, 'Active');

    // Data is retrieved on the user's behalf with the new token.
    const token = await newTokenUsed(env, before, 2, company);

    // Clear → the confirm dialog; Cancel keeps everything.
    await panel.clear.click();
    await panel.dialog.waitFor();
    assert.equal(norm(await panel.dialog.getByRole('heading').textContent()), TEXT.confirmTitle);
    assert.ok(norm(await panel.dialog.textContent()).includes(TEXT.confirmQuestion), 'the dialog asks the question');
    assert.equal(await panel.dialog.getAttribute('aria-modal'), 'true');
    await panel.dialog.getByRole('button', { name: TEXT.cancel, exact: true }).click();
    await panel.dialog.waitFor({ state: 'detached' });
    await panel.waitForState('authorized');
    const kept = await panel.waitForRows(1, '1-1 of 1');
    assertRow(kept[0], 'Active');
    assert.equal((await apiStatus(env, company)).status, 'active', 'Cancel changed nothing on the host');
    const atCancel = (await callsByToken(env))[token];
    await waitFor(async () => (await callsByToken(env))[token] > atCancel, {
      message: 'retrieval to go on after Cancel',
    });

    // Clear → Clear authorization: not authorized any more, the rows stay as Cleared.
    await panel.clear.click();
    await panel.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
    await panel.waitForState('not_authorized');
    await panel.waitForStatus(TEXT.clearedUps);
    assert.equal(await panel.dialog.count(), 0, 'the dialog is closed');
    assert.equal(await panel.authorize.isEnabled(), true, 'Authorize offered again');
    assert.equal(await panel.clear.count(), 0, 'no Clear once cleared');
    const cleared = await panel.waitForRows(1, '1-1 of 1');
    assertRow(cleared[0], 'Cleared');
    assert.equal(cleared[0].id, row.id, 'the same record, kept as an audit trail');
    const stored = await apiTokens(env, company);
    assert.equal(stored.status, 'cleared');
    assert.deepEqual(stored.rows.map((r) => r.status), ['cleared']);

    // From the moment Clear returned, the cleared token is never used again. To know that
    // enough time has passed, watch another company's token being used by the same job.
    const atClear = await callsByToken(env);
    const callsAtClear = atClear[token];
    const witnessPage = await context.newPage();
    const witness = await openPanel(witnessPage, env.host, 'c-witness');
    await authorize(witnessPage, witness, env);
    await newTokenUsed(env, atClear, 5, 'c-witness');
    const later = await callsByToken(env);
    assert.equal(later[token], callsAtClear, `the cleared token was used ${later[token] - callsAtClear} more times after Clear`);

    // Open the page again (by company: the other tab chose another company since).
    await page.goto(`${env.host}/admin/token-manager?company=${company}`);
    await panel.waitForState('not_authorized');
    assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Cleared');
    setShot(page);
  });
});

test('10. two companies in two tabs: each panel shows only its own company; Clear in one leaves the other Active', async () => {
  const { env, browser } = shared;
  await userPath(browser, '10-two-tabs', async ({ context, page: tabA, setShot }) => {
    // Both tabs are open before either authorizes (one portal session, two companies).
    const tabB = await context.newPage();
    const panelA = await openPanel(tabA, env.host, 'demo-co');
    const panelB = await openPanel(tabB, env.host, 'acme');
    assert.equal(norm(await tabA.locator('p.lead strong').textContent()), 'Demonstration Co.');
    assert.equal(norm(await tabB.locator('p.lead strong').textContent()), 'Acme Corp');

    // Tab A: authorize Demonstration Co.; the return lands on Demonstration Co.'s panel.
    await panelA.authorize.click();
    await waitForUps(tabA, env.mock);
    await signInAtUps(tabA);
    await waitForPanelPage(tabA, env.host);
    await tabA.locator('token-manager').first().waitFor({ state: 'attached' });
    const shownCompanies = await tabA.locator('token-manager').evaluateAll((els) => els.map((e) => e.getAttribute('company')));
    assert.deepEqual(
      shownCompanies,
      ['demo-co'],
      `after the return from UPS, tab A (which authorized Demonstration Co.) shows the panel of ${JSON.stringify(shownCompanies)}`,
    );
    await panelA.waitForState('authorized');
    await panelA.waitForStatus(TEXT.generated);

    // Tab B: authorize Acme Corp.
    await panelB.authorize.click();
    await waitForUps(tabB, env.mock);
    await signInAtUps(tabB);
    await waitForPanelPage(tabB, env.host);
    await panelB.waitForState('authorized');
    await panelB.waitForStatus(TEXT.generated);

    // Each panel shows its own company and only its own record.
    const storedA = await apiTokens(env, 'demo-co');
    const storedB = await apiTokens(env, 'acme');
    assert.equal(storedA.total, 1);
    assert.equal(storedB.total, 1);
    await tabA.goto(`${env.host}/admin/token-manager?company=demo-co`);
    await panelA.waitForState('authorized');
    const rowsA = await panelA.waitForRows(1, '1-1 of 1');
    const rowsB = await panelB.waitForRows(1, '1-1 of 1');
    assert.equal(rowsA[0].id, String(storedA.rows[0].id), "tab A lists Demonstration Co.'s record");
    assert.equal(rowsB[0].id, String(storedB.rows[0].id), "tab B lists Acme Corp's record");
    assert.notEqual(rowsA[0].id, rowsB[0].id);
    assert.equal(norm(await tabA.locator('p.lead strong').textContent()), 'Demonstration Co.');
    assert.equal(norm(await tabB.locator('p.lead strong').textContent()), 'Acme Corp');

    // Clear in tab A: Acme Corp stays Active.
    await panelA.clear.click();
    await panelA.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
    await panelA.waitForState('not_authorized');
    assertRow((await panelA.waitForRows(1, '1-1 of 1'))[0], 'Cleared');
    await tabB.goto(`${env.host}/admin/token-manager?company=acme`);
    const panelBAfter = new Panel(tabB, 'acme');
    await panelBAfter.waitForState('authorized');
    assertRow((await panelBAfter.waitForRows(1, '1-1 of 1'))[0], 'Active');
    assert.equal((await apiStatus(env, 'acme')).status, 'active');
    assert.equal((await apiStatus(env, 'demo-co')).status, 'cleared');
    await screenshot(tabA, '10-two-tabs-tab-a-cleared');
    setShot(tabB);
  });
});
