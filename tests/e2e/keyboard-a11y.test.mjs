// Path 11: the happy path and Clear with the keyboard alone (Tab, Shift+Tab, Enter, Space,
// typing into fields), and axe-core finding no violation in any state of the panel.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  DEMO_PASSWORD,
  DEMO_USER,
  Panel,
  TEXT,
  assertAccessible,
  assertRow,
  companiesFlag,
  focusedName,
  holdRequests,
  recordPanelStates,
  recordedPanelStates,
  sharedHost,
  slowWayToUps,
  tabTo,
  userPath,
  waitFor,
  waitForPanelPage,
  waitForUps,
} from './support.mjs';

const shared = sharedHost(['--companies', companiesFlag()]);

/** The focused element is the control named `text` (a button, link or field). */
const named = (text) => (f) => f.text === text || f.text.startsWith(`${text} `);

test('11. keyboard only: Authorize, sign in and Clear with Tab/Enter/Space; axe-core finds no violations in each panel state (not authorized, generating, authorized, confirm dialog, cleared, error)', async () => {
  const { env, browser } = shared;
  await userPath(
    browser,
    '11-keyboard-a11y',
    async ({ page }) => {
      await recordPanelStates(page);
      // Home → Admin with the keyboard.
      await page.goto(`${env.host}/`);
      await page.getByRole('heading', { name: 'Welcome', exact: true }).waitFor();
      await tabTo(page, (f) => f.tag === 'a' && f.text === 'Admin', { what: 'the Admin menu link' });
      await page.keyboard.press('Enter');
      await page.waitForURL((u) => u.pathname === '/admin/token-manager');
      const panel = new Panel(page, 'demo-co');
      await panel.waitForState('not_authorized');
      await assertAccessible(page, panel, 'not authorized');

      // Tab into the panel's shadow root to Authorize; Enter. (The redirecting state is checked
      // with axe in the popup test, where it lasts; here it is recorded.)
      await slowWayToUps(page, env.mock);
      await tabTo(page, named(TEXT.authorize), { what: 'Authorize' });
      await page.keyboard.press('Enter');

      // UPS Log In: the username field has focus; type, Tab to the agreement, Space, Tab to
      // Continue, Enter.
      await waitForUps(page, env.mock);
      await page.getByRole('heading', { name: 'Log In', exact: true }).waitFor();
      await waitFor(async () => (await focusedName(page))?.id === 'username', { message: 'focus on Email or Username' });
      await page.keyboard.type(DEMO_USER);
      await tabTo(page, (f) => f.type === 'checkbox', { max: 3, what: 'the agreement checkbox' });
      await page.keyboard.press('Space');
      assert.equal(await page.getByRole('checkbox').isChecked(), true, 'Space checked the agreement');
      await tabTo(page, named('Continue'), { max: 3, what: 'Continue' });
      await page.keyboard.press('Enter');

      // Welcome back: Password has focus; type, Tab to Login, Enter. Hold the exchange to
      // check the generating state.
      await page.getByRole('heading', { name: `Welcome back, ${DEMO_USER}`, exact: true }).waitFor();
      await waitFor(async () => (await focusedName(page))?.id === 'password', { message: 'focus on Password' });
      await page.keyboard.type(DEMO_PASSWORD);
      const exchange = await holdRequests(page, '**/api/optin/exchange');
      await tabTo(page, named('Login'), { max: 3, what: 'Login' });
      await page.keyboard.press('Enter');
      await waitForPanelPage(page, env.host);
      assert.ok(
        (await recordedPanelStates(page)).some((r) => r.state === 'redirecting' && r.status === TEXT.redirecting),
        'Enter on Authorize started the redirect',
      );
      await exchange.held;
      await panel.waitForState('generating');
      await panel.waitForStatus(TEXT.generating);
      await assertAccessible(page, panel, 'generating');
      await exchange.release();

      await panel.waitForState('authorized');
      await panel.waitForStatus(TEXT.generated);
      assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Active');
      await assertAccessible(page, panel, 'authorized');

      // Clear with Space; the dialog takes focus (Cancel first) and keeps it.
      await tabTo(page, named(TEXT.clear), { what: 'Clear' });
      await page.keyboard.press('Space');
      await panel.dialog.waitFor();
      await waitFor(async () => named(TEXT.cancel)(await focusedName(page)), { message: 'focus on Cancel in the dialog' });
      await assertAccessible(page, panel, 'confirm dialog');
      await page.keyboard.press('Tab');
      assert.ok(named(TEXT.confirmTitle)(await focusedName(page)), 'Tab moves to "Clear authorization"');
      await page.keyboard.press('Tab');
      assert.ok(named(TEXT.cancel)(await focusedName(page)), 'Tab wraps back to Cancel (focus trapped)');
      await page.keyboard.press('Shift+Tab');
      assert.ok(named(TEXT.confirmTitle)(await focusedName(page)), 'Shift+Tab wraps to "Clear authorization"');

      // Escape cancels and gives focus back to Clear.
      await page.keyboard.press('Escape');
      await panel.dialog.waitFor({ state: 'detached' });
      await waitFor(async () => named(TEXT.clear)(await focusedName(page)), { message: 'focus back on Clear' });
      await panel.waitForState('authorized');

      // Clear again, Tab to the confirm button, Enter.
      await page.keyboard.press('Enter');
      await panel.dialog.waitFor();
      await page.keyboard.press('Tab');
      assert.ok(named(TEXT.confirmTitle)(await focusedName(page)));
      await page.keyboard.press('Enter');
      await panel.waitForState('not_authorized');
      await panel.waitForStatus(TEXT.clearedUps);
      assertRow((await panel.waitForRows(1, '1-1 of 1'))[0], 'Cleared');
      await waitFor(async () => named(TEXT.authorize)(await focusedName(page)), {
        message: 'focus on Authorize after the Clear',
      });
      await assertAccessible(page, panel, 'cleared');

      // An error state, reached by keyboard too: Authorize, then Cancel at UPS.
      await page.keyboard.press('Enter');
      await waitForUps(page, env.mock);
      await page.getByRole('heading', { name: 'Log In', exact: true }).waitFor();
      await tabTo(page, named('Cancel'), { what: 'Cancel at UPS' });
      await page.keyboard.press('Enter');
      await waitForPanelPage(page, env.host);
      await panel.waitForState('error');
      await assertAccessible(page, panel, 'error');
    },
    { bypassCSP: true },
  );
});
