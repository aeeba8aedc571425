// Path 3: paging through 23 history records (seeded by the host at start).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  TEXT,
  apiTokens,
  assertGridChrome,
  assertNewestFirst,
  assertRow,
  companiesFlag,
  norm,
  openPanel,
  sharedHost,
  userPath,
} from './support.mjs';

const shared = sharedHost(['--companies', companiesFlag(), '--seed-history', 'demo-co:23']);

test('3. pagination: "1-10 of 23", Next → "11-20 of 23", Items per page 25 → "1-23 of 23"', async () => {
  const { env, browser } = shared;
  await userPath(browser, '03-pagination', async ({ page }) => {
    const panel = await openPanel(page, env.host, 'demo-co');
    await assertGridChrome(panel);
    assert.equal(norm(await panel.root.getByText(TEXT.itemsPerPage, { exact: true }).textContent()), TEXT.itemsPerPage);
    assert.equal(await panel.pageSize.inputValue(), '10', 'Items per page defaults to 10');
    const options = await panel.pageSize.locator('option').allTextContents();
    assert.deepEqual(options.map(norm), ['10', '25', '50', '100']);

    // Page 1 of 3.
    const page1 = await panel.waitForRows(10, '1-10 of 23');
    page1.forEach((r) => assertRow(r, 'Refreshed'));
    assertNewestFirst(page1);
    assert.equal(await panel.previousPage.isDisabled(), true, 'no previous page on page 1');
    assert.equal(await panel.nextPage.isEnabled(), true);

    // Next → page 2.
    await panel.nextPage.click();
    const page2 = await panel.waitForRows(10, '11-20 of 23');
    page2.forEach((r) => assertRow(r, 'Refreshed'));
    assertNewestFirst([...page1, ...page2]);
    assert.equal(new Set([...page1, ...page2].map((r) => r.id)).size, 20, 'page 2 shows other records than page 1');
    assert.equal(await panel.previousPage.isEnabled(), true);

    // Next → page 3 (the last three), then back.
    await panel.nextPage.click();
    const page3 = await panel.waitForRows(3, '21-23 of 23');
    assert.equal(await panel.nextPage.isDisabled(), true, 'no next page on the last page');
    assertNewestFirst([...page2, ...page3]);
    await panel.previousPage.click();
    await panel.waitForRows(10, '11-20 of 23');

    // Items per page 25: everything on one page, from the first record.
    await panel.pageSize.selectOption('25');
    const all = await panel.waitForRows(23, '1-23 of 23');
    all.forEach((r) => assertRow(r, 'Refreshed'));
    assertNewestFirst(all);
    assert.deepEqual(
      all.map((r) => r.id),
      [...page1, ...page2, ...page3].map((r) => r.id),
      'one page of 25 shows the same records in the same order as the three pages of 10',
    );
    assert.equal(await panel.nextPage.isDisabled(), true);
    assert.equal(await panel.previousPage.isDisabled(), true);

    const stored = await apiTokens(env, 'demo-co');
    assert.equal(stored.total, 23);
  });
});
