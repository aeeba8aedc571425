// Path 12: popup mode — the UPS sign-in runs in a popup that hands the return to the page;
// the portal page itself never reloads.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  Panel,
  TEXT,
  apiTokens,
  assertAccessible,
  assertRow,
  companiesFlag,
  sharedHost,
  signInAtUps,
  userPath,
  waitFor,
  waitForUps,
} from './support.mjs';

const shared = sharedHost(['--companies', companiesFlag([['p-popup', 'Popup Co.']])]);

test('12. popup mode: the flow completes in a popup and the portal page never reloads', async () => {
  const { env, browser } = shared;
  await userPath(
    browser,
    '12-popup',
    async ({ context, page }) => {
    const company = 'p-popup';
    const url = `${env.host}/admin/token-manager?company=${company}&mode=popup`;
    // The portal page with the panel in popup mode (`<token-manager mode="popup">`).
    await page.route(url, async (route) => {
      const response = await route.fetch();
      let html = await response.text();
      if (!/<token-manager[^>]*\smode=/.test(html)) {
        html = html.replace(/<token-manager(\s)/, '<token-manager mode="popup"$1');
      }
      await route.fulfill({ response, body: html });
    });
    const configLoaded = page.waitForResponse((r) => r.url().startsWith(`${env.host}/api/optin/config`));
    await page.goto(url);
    const panel = new Panel(page, company);
    assert.equal(await panel.root.getAttribute('mode'), 'popup');
    await panel.waitForState('not_authorized');
    // Authorize opens the popup straight from the click once the provider config is known.
    await configLoaded;

    // A marker that only survives if the page is never reloaded, and a navigation counter.
    await page.evaluate(() => {
      window.__marker = 'still-the-same-page';
    });
    let mainNavigations = 0;
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) mainNavigations += 1;
    });

    const [popup] = await Promise.all([context.waitForEvent('page'), panel.authorize.click()]);
    await panel.waitForState('redirecting');
    await panel.waitForStatus(TEXT.redirecting);

    await assertAccessible(page, panel, 'redirecting (popup open)');

    await waitForUps(popup, env.mock);
    let popupClosed = false;
    popup.once('close', () => (popupClosed = true));
    await signInAtUps(popup);
    // The popup hands the return to this page and closes itself. (If it instead finishes the
    // flow on its own, its panel settles; say what it shows.)
    const popupPanel = new Panel(popup);
    await waitFor(
      async () => popupClosed || ['authorized', 'error', 'not_authorized'].includes(await popupPanel.state()),
      { message: 'the popup to hand the return over and close' },
    );
    if (!popupClosed) {
      const shown = await popupPanel.describe();
      assert.fail(
        `the popup did not hand the return to the portal page and close; it shows ${JSON.stringify(shown)} ` +
          `while the portal page shows ${JSON.stringify(await panel.describe())}`,
      );
    }

    await panel.waitForState('authorized');
    await panel.waitForStatus(TEXT.generated);
    assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
    assert.equal(await page.evaluate(() => window.__marker), 'still-the-same-page', 'the portal page was not reloaded');
    assert.equal(mainNavigations, 0, 'the portal page never navigated');
    assert.equal(page.url(), url, 'the address bar is unchanged');
    assert.equal((await apiTokens(env, company)).total, 1);
    },
    { bypassCSP: true },
  );
});
