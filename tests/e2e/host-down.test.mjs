// Path 9: the host goes down under an open panel. The panel must say so and offer a retry —
// never a blank panel or a spinner that runs forever.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  ERROR_TEXT,
  TEXT,
  assertRow,
  authorize,
  companiesFlag,
  launchBrowser,
  norm,
  openPanel,
  startHost,
  userPath,
} from './support.mjs';

let env;
let browser;

before(async () => {
  env = await startHost({ args: ['--companies', companiesFlag([['h-down', 'Down Co.']])] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await env?.stop();
});

/** The panel shows the "could not be reached" error with "Try again", and is not busy. */
async function expectHostUnreachable(panel) {
  await panel.waitForState('error');
  const alert = panel.alert.first();
  assert.equal(await alert.getAttribute('data-code'), 'host_unreachable');
  assert.equal(norm(await alert.locator('p.text').textContent()), ERROR_TEXT.host_unreachable);
  assert.equal(await panel.retry.isEnabled(), true, '"Try again" offered');
  assert.equal(await panel.root.locator('.spinner').count(), 0, 'no spinner left running');
  assert.equal(norm(await panel.root.getByRole('heading', { level: 2 }).textContent()), TEXT.title, 'the panel is not blank');
}

test('9. host down: the panel says the service could not be reached and offers Try again (which recovers once the host can be reached again), never a blank panel or an endless spinner', async () => {
  await userPath(browser, '09-host-down', async ({ page }) => {
    const company = 'h-down';
    const panel = await openPanel(page, env.host, company);
    await authorize(page, panel, env);
    await panel.waitForRows(1, '1-1 of 1');

    // 1. The host is unreachable for a while (connections refused at the network level):
    //    paging fails with the message and Try again; once it is back, Try again recovers.
    const refuse = (route) => route.abort('connectionrefused');
    const api = `${env.host}/api/optin/**`;
    await page.route(api, refuse);
    await panel.pageSize.selectOption('25');
    await expectHostUnreachable(panel);
    await page.unroute(api, refuse);
    await panel.retry.click();
    await panel.waitForState('authorized');
    assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');

    // 2. The host process (and its mock UPS) really stops under the open panel.
    await env.stop();

    // Clear → confirm: the host cannot be reached, the panel says so.
    await panel.clear.click();
    await panel.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
    await expectHostUnreachable(panel);

    // Try again: it tries (loading), fails again, and settles on the same error.
    await panel.retry.click();
    await expectHostUnreachable(panel);
  });
});
