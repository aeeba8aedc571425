// Issue 17: the panel fits the portal it drops into — any container width, the portal's colour
// scheme, phones and 200 % zoom.
//
// One host (seeded history, a long company name, the plain page's origin allowed) and one
// browser for the file. Before the tests, the states that need the mock UPS are reached once:
// `r-inv` authorized, then the UPS.com password changed and a use of its token through the
// proxy refused (the renewal fails: invalidated); `demo-co` (22 seeded rows) authorized with
// the new password: 23 rows. Each test then loops over widths inside one page, resizing the
// window (demo portal) or rebuilding the containers (plain page): the page never scrolls
// sideways, every text, button and cell is in the panel or in the grid's own scroll region,
// axe-core finds nothing; a screenshot per width and state under target/e2e/.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  DEMO_USER,
  Panel,
  TEXT,
  apiStatus,
  authorize,
  companiesFlag,
  focusedName,
  launchBrowser,
  newPage,
  openPanel,
  passwordChange,
  screenshot,
  startHost,
  tabTo,
  waitFor,
} from './support.mjs';
import {
  assertNoAxeViolations,
  elementShot,
  mountPanels,
  panelColours,
  probePanels,
  probePortalPage,
  settle,
  startPlainSite,
  waitForPanels,
} from './responsive-support.mjs';

/** Container widths of the plain page and window widths of the demo portal (px). */
const CONTAINER_WIDTHS = [280, 360, 560, 800, 1200];
const WINDOW_WIDTHS = [320, 390, 768, 1024, 1280];
/** Below 40em of the panel's font size (560 px at the default 14 px) rows are stacked. */
const STACKED_BELOW_EM = 40;

const LONG_NAME = 'Vereinigte Überseeische Speditions- und Logistikgesellschaft Norddeutschland mbH & Co. KG';
const NEW_PASSWORD = 'responsive-password-2';
const GRANTS = [
  { id: 'demo-co', name: 'Demonstration Co.', role: 'admin' },
  { id: 'acme', name: 'Acme Corp', role: 'admin' },
  { id: 'r-inv', name: 'Invalidated Co.', role: 'admin' },
];

/** Light and dark panel backgrounds (the default --tm-bg of each scheme). */
const LIGHT = 'rgb(255, 255, 255)';
const DARK = 'rgb(22, 27, 34)';

/** Replacement texts far longer than the English ones, with a word no line can hold. */
const LONG_LOCALE = {
  title: 'Verwaltung der Autorisierungstoken des Unternehmens — Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen',
  explanation:
    'Mit der Autorisierung erlauben Sie diesem Portal, die Daten Ihres Unternehmens in Ihrem Namen von UPS.com abzurufen. Sie melden sich bei UPS.com an und stimmen dort zu; Ihr Passwort wird niemals an das Portal weitergegeben.',
  authorize: 'Dieses Portal jetzt zum Abrufen der Unternehmensdaten autorisieren',
  clear: 'Autorisierung und alle gespeicherten Zugriffstoken sofort entfernen',
  password_warning:
    'Wenn Sie die Opt-In-Methode verwenden, macht eine Änderung des Passworts des UPS.com-Benutzers, der zugestimmt hat, jede frühere Zustimmung ungültig. Unternehmensadministratoren müssen daher nach jeder Passwortänderung erneut zustimmen.',
  clear_note:
    'Hinweis: Klicken Sie auf „Entfernen“, um die erteilte Autorisierung aufzulösen. Das Portal stellt den Abruf von Daten im Namen des Benutzers dann sofort ein.',
  token_history: 'Verlauf der Zugriffstoken und Aktualisierungstoken',
  token_created: 'Erstellungszeitpunkt des Zugriffstokens',
  token_expires: 'Ablaufzeitpunkt des Zugriffstokens',
  refresh_created: 'Erstellungszeitpunkt des Aktualisierungstokens',
  refresh_expires: 'Ablaufzeitpunkt des Aktualisierungstokens',
  status: 'Aktueller Status',
  items_per_page: 'Anzahl der Einträge pro Seite',
  previous_page: 'Vorherige Seite',
  next_page: 'Nächste Seite',
  clear_confirm_question:
    'Möchten Sie die Autorisierung wirklich entfernen? Das Portal ruft danach keine Daten mehr im Namen des Benutzers ab.',
  clear_confirm: 'Autorisierung endgültig entfernen',
  cancel: 'Abbrechen und zurück',
};
const LONG_HELP = 'Tipp: Wenn Sie Unterstützung benötigen, wenden Sie sich an Ihre Kundenbetreuerin oder Ihren Kundenbetreuer.';

let site;
let env;
let browser;
let sessionToken;

before(async () => {
  site = await startPlainSite();
  env = await startHost({
    args: [
      '--companies', companiesFlag([['r-inv', 'Invalidated Co.'], ['r-long', LONG_NAME]]),
      '--seed-history', 'demo-co:22',
      '--retrieval-interval-ms', '0',
      '--allowed-origin', site.origin,
      '--exchange-per-minute', '1000',
    ],
  });
  browser = await launchBrowser();
  const { context, page } = await newPage(browser);
  try {
    // Invalidated: an opt-in, then the UPS.com password changes (the mock revokes the user's
    // tokens) and the portal backend uses the token through the proxy: UPS refuses it, the
    // host's one renewal is refused too, and the authorization ends.
    const invalidated = await openPanel(page, env.host, 'r-inv');
    await authorize(page, invalidated, env);
    await passwordChange(env, DEMO_USER, NEW_PASSWORD);
    const used = await fetch(`${env.host}/api/v1/companies/r-inv/proxy/mock/echo/responsive`, {
      headers: { authorization: `Bearer ${env.apiKey}` },
    });
    await used.arrayBuffer();
    await waitFor(async () => (await apiStatus(env, 'r-inv')).status === 'invalidated', {
      message: 'r-inv invalidated after the password change',
    });
    // Authorized with 23 rows: 22 seeded, and this opt-in.
    const demo = await openPanel(page, env.host, 'demo-co');
    await authorize(page, demo, env, { password: NEW_PASSWORD });
    await demo.waitForRows(10, '1-10 of 23');
  } finally {
    await context.close();
  }
  ({ sessionToken } = await env.mintSession({ user: 'dana', name: 'Dana Scully', companies: GRANTS }));
});

after(async () => {
  await browser?.close().catch(() => {});
  await env?.stop();
  await site?.close();
});

/** Fail with every problem a probe found, naming where. */
function assertClean(problems, where) {
  assert.deepEqual(problems, [], `${where}:\n  ${problems.join('\n  ')}`);
}

/** The layout a panel `width` px wide must have at `fontSize` px: stacked below 40em. */
function stackedAt(width, fontSize = 14) {
  return width < STACKED_BELOW_EM * fontSize;
}

test('demo portal at 320, 390, 768, 1024 and 1280 px, in every panel state: no sideways page scroll, the top bar holds its contents, every text, button and cell reachable, axe-core clean', async () => {
  const { context, page } = await newPage(browser, { bypassCSP: true });
  try {
    // The seed's screen, for the README: the authorized panel at 1280 × 900.
    const readme = await openPanel(page, env.host, 'demo-co', 'authorized');
    await readme.waitForRows(10, '1-10 of 23');
    await screenshot(page, 'responsive-readme-panel');

    const states = [
      {
        name: 'not-authorized',
        reach: async () => openPanel(page, env.host, 'acme'),
      },
      {
        name: 'authorized-23',
        reach: async () => {
          const panel = await openPanel(page, env.host, 'demo-co', 'authorized');
          await panel.pageSize.selectOption('25');
          await panel.waitForRows(23, '1-23 of 23');
          return panel;
        },
      },
      {
        // Continues from the authorized page: Clear opens the dialog over it.
        name: 'confirm-dialog',
        reach: async (panel) => {
          await panel.clear.click();
          await panel.dialog.waitFor();
          return panel;
        },
      },
      {
        name: 'invalidated',
        reach: async () => openPanel(page, env.host, 'r-inv', 'invalidated'),
      },
      {
        // A return nobody in this tab waits for: the specific error, Authorize, the notes.
        name: 'error',
        reach: async () => {
          await page.goto(`${env.host}/admin/token-manager?company=acme&code=e2e-forged-code&state=e2e-forged-state`);
          const panel = new Panel(page, 'acme');
          await panel.waitForState('error');
          return panel;
        },
      },
    ];
    let panel = null;
    for (const state of states) {
      panel = await state.reach(panel);
      for (const width of WINDOW_WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        await settle(page);
        const where = `portal ${width} px, ${state.name}`;
        assertClean(await probePortalPage(page), where);
        const [report] = await probePanels(page, 'main');
        assertClean(report.problems, where);
        assert.equal(report.layout === 'stacked', stackedAt(report.width), `${where}: layout ${report.layout} at a ${report.width} px panel`);
        if (state.name === 'authorized-23') {
          // The three layouts all occur: the whole grid, the grid scrolling in its region, stacked rows.
          const expected = { 320: 'stacked', 390: 'stacked', 768: 'scroll', 1024: 'scroll', 1280: 'table' }[width];
          assert.equal(report.layout, expected, `${where}: layout`);
        }
        await assertNoAxeViolations(page, null, where);
        await screenshot(page, `responsive-portal-${width}-${state.name}`);
      }
      if (state.name === 'confirm-dialog') {
        await page.keyboard.press('Escape');
        await panel.dialog.waitFor({ state: 'detached' });
      }
    }
    assert.deepEqual(page.e2eErrors, [], 'no uncaught script errors');
  } finally {
    await context.close();
  }
});

test('the grid scrolling in its own region (demo portal, 1024 px): reached with Tab, scrolled with the arrow keys, its first column stays; stacked rows keep the same table for assistive technology', async () => {
  const { context, page } = await newPage(browser, { viewport: { width: 1024, height: 900 } });
  try {
    const panel = await openPanel(page, env.host, 'demo-co', 'authorized');
    await panel.waitForRows(10, '1-10 of 23');
    const region = panel.root.locator('.table-wrap');
    assert.equal(await region.getAttribute('role'), 'group');
    const scroll = () => region.evaluate((el) => ({ left: el.scrollLeft, max: el.scrollWidth - el.clientWidth }));
    assert.ok((await scroll()).max > 0, 'at 1024 px the grid is wider than its region');
    // Its accessible name is the caption.
    assert.match(await panel.root.getByRole('group', { name: TEXT.caption }).ariaSnapshot(), /table "Token History"/);

    // Where the first two columns of the first row are, from the region's inner left edge.
    const columns = () =>
      region.evaluate((el) => {
        const edge = el.getBoundingClientRect().left + el.clientLeft;
        const [first, second] = el.querySelectorAll('tbody tr:first-child td');
        return { first: first.getBoundingClientRect().left - edge, second: second.getBoundingClientRect().left - edge };
      });
    const before = await columns();

    // Tab reaches the region (the grid comes before Clear); the arrow keys scroll it (smoothly:
    // wait until it stops).
    await tabTo(page, (f) => f.tag === 'div', { what: 'the grid region' });
    for (let i = 0; i < 20; i++) await page.keyboard.press('ArrowRight');
    let last = -1;
    const scrolled = await waitFor(async () => {
      const now = await scroll();
      const still = now.left === last;
      last = now.left;
      return still && now;
    }, { interval: 150, message: 'the grid to stop scrolling' });
    assert.ok(scrolled.left > 0, `ArrowRight scrolled the grid (scrollLeft ${scrolled.left})`);
    const after = await columns();
    assert.ok(Math.abs(after.first - before.first) < 1, `the first column stays (${before.first} → ${after.first} px)`);
    assert.ok(Math.abs(after.second - (before.second - scrolled.left)) < 1, `the others scroll (${before.second} → ${after.second} px)`);
    assert.equal((await focusedName(page)).tag, 'div', 'focus stayed on the region');

    // The same table, row for row and cell for cell, once the rows are stacked (390 px).
    const wide = await panel.table.ariaSnapshot();
    await page.setViewportSize({ width: 390, height: 900 });
    await settle(page);
    assert.equal((await probePanels(page, 'main'))[0].layout, 'stacked');
    assert.equal(await panel.table.ariaSnapshot(), wide, 'the accessibility tree of the stacked table is the same as the wide one');
    assert.match(wide, /columnheader "Token Created"/);
    assert.match(wide, /cell "\d{2}-\d{2}-\d{4} \d{2}:\d{2}:\d{2} (AM|PM)"/, 'cells are named by their value only, not by the visual label');
    assert.deepEqual(page.e2eErrors, [], 'no uncaught script errors');
  } finally {
    await context.close();
  }
});

test('plain page: the panel in containers of 280, 360, 560, 800 and 1,200 px, every state, long translated texts at 200 % text size: no sideways scroll, everything reachable, axe-core clean', async () => {
  const { context, page } = await newPage(browser, { viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(`${site.origin}/`);
    const attrs = (company, extra = {}) => ({ api: `${env.host}/api/optin`, company, 'session-token': sessionToken, ...extra });
    const long = { locale: JSON.stringify(LONG_LOCALE), 'help-text': LONG_HELP };
    const big = '--tm-font-size: 28px';
    const openDialogs = async () => {
      for (const width of CONTAINER_WIDTHS) await page.locator(`#slot-${width} [part~="clear-button"]`).click();
      await waitFor(async () => (await page.locator('token-manager [role="dialog"]').count()) === CONTAINER_WIDTHS.length, {
        message: 'a dialog in every panel',
      });
    };
    const states = [
      { name: 'not-authorized', attrs: attrs('acme'), state: 'not_authorized' },
      { name: 'authorized-23', attrs: attrs('demo-co', { 'page-size': '25' }), state: 'authorized', rows: 23 },
      { name: 'confirm-dialog', attrs: attrs('demo-co', { 'page-size': '25' }), state: 'authorized', rows: 23, then: openDialogs },
      { name: 'invalidated', attrs: attrs('r-inv'), state: 'invalidated' },
      { name: 'error', attrs: attrs('acme'), state: 'error', badReturn: true },
      { name: 'long-200pct-not-authorized', attrs: attrs('acme', long), style: big, fontSize: 28, state: 'not_authorized' },
      {
        name: 'long-200pct-confirm-dialog',
        attrs: attrs('demo-co', { ...long, 'page-size': '25' }),
        style: big,
        fontSize: 28,
        state: 'authorized',
        rows: 23,
        then: openDialogs,
      },
    ];
    for (const state of states) {
      const panels = CONTAINER_WIDTHS.map((width) => ({ id: width, width, attrs: state.attrs, style: state.style }));
      await mountPanels(page, panels, { badReturn: state.badReturn });
      await waitForPanels(page, state.state, { rows: state.rows });
      await state.then?.();
      await settle(page);
      const reports = await probePanels(page, '#slots');
      reports.forEach((report, i) => {
        const where = `plain page, ${CONTAINER_WIDTHS[i]} px container, ${state.name}`;
        assertClean(report.problems, where);
        assert.equal(report.width, CONTAINER_WIDTHS[i], `${where}: the panel takes its container's width`);
        assert.equal(report.layout === 'stacked', stackedAt(report.width, state.fontSize), `${where}: layout ${report.layout}`);
      });
      await assertNoAxeViolations(page, '#slots token-manager', `plain page, ${state.name}`);
      for (const width of CONTAINER_WIDTHS) {
        await elementShot(page.locator(`#slot-${width}`), `responsive-plain-${width}-${state.name}`);
      }
    }
    assert.deepEqual(page.e2eErrors, [], 'no uncaught script errors');
  } finally {
    await context.close();
  }
});

test('colour scheme: the page\'s declared color-scheme, light when it declares none, never the OS\'s — unless theme="system"; theme="light"/"dark" win; attribute, option and --tm-* properties; axe-core contrast clean in both', async () => {
  const { context, page } = await newPage(browser, { colorScheme: 'dark', viewport: { width: 1280, height: 900 } });
  try {
    await page.goto(`${site.origin}/`);
    const attrs = (company, extra = {}) => ({ api: `${env.host}/api/optin`, company, 'session-token': sessionToken, ...extra });
    const brand = '--tm-accent: #351c15; --tm-accent-fg: #ffffff; --tm-accent-hover: #4a2a20';
    const both = '--tm-accent: light-dark(#351c15, #e0b8a8)';
    await mountPanels(page, [
      { id: 'default', width: 600, attrs: attrs('acme') },
      { id: 'light', width: 600, attrs: attrs('acme', { theme: 'light' }) },
      { id: 'dark', width: 600, attrs: attrs('acme', { theme: 'dark' }) },
      { id: 'system', width: 600, attrs: attrs('acme', { theme: 'system' }) },
      { id: 'default-grid', width: 900, attrs: attrs('demo-co') },
      { id: 'dark-grid', width: 900, attrs: attrs('demo-co', { theme: 'dark' }) },
      { id: 'brand-light', width: 600, attrs: attrs('acme', { theme: 'light' }), style: brand },
      { id: 'brand-dark', width: 600, attrs: attrs('acme', { theme: 'dark' }), style: brand },
      { id: 'both-light', width: 600, attrs: attrs('acme', { theme: 'light' }), style: both },
      { id: 'both-dark', width: 600, attrs: attrs('acme', { theme: 'dark' }), style: both },
    ]);
    await waitFor(
      async () =>
        (await page.evaluate(() =>
          [...document.querySelectorAll('token-manager')].every((h) => ['not_authorized', 'authorized'].includes(h.shadowRoot?.querySelector('section.panel')?.dataset.state)),
        )),
      { message: 'every panel loaded' },
    );
    const backgrounds = async () => Object.fromEntries((await panelColours(page, '#slots')).map((c) => [c.id, c.background]));
    const expect = async (label, wanted) => {
      let seen;
      await waitFor(async () => {
        seen = await backgrounds();
        return Object.entries(wanted).every(([id, bg]) => seen[id] === bg);
      }, { message: label }).catch((e) => {
        throw new Error(`${e.message}; backgrounds: ${JSON.stringify(seen)}`);
      });
    };
    const scheme = (value) => page.evaluate((v) => (document.documentElement.style.colorScheme = v), value);

    // The OS is dark. A page that declares nothing, or `light`: light panels (the default
    // follows the page), theme="light" light, theme="dark" and theme="system" dark.
    const fixed = { light: LIGHT, dark: DARK, system: DARK, 'dark-grid': DARK };
    await expect('OS dark, page declares nothing', { default: LIGHT, 'default-grid': LIGHT, ...fixed });
    await scheme('light');
    await expect('OS dark, page color-scheme: light', { default: LIGHT, 'default-grid': LIGHT, ...fixed });
    await settle(page);
    await assertNoAxeViolations(page, '#slots token-manager', 'OS dark, light page: light and dark panels');
    await screenshot(page, 'responsive-scheme-os-dark-page-light');

    // A dark page: the default is dark; `light dark` (the page follows the OS): dark too.
    await scheme('dark');
    await expect('OS dark, page color-scheme: dark', { default: DARK, 'default-grid': DARK, light: LIGHT });
    await scheme('light dark');
    await expect('OS dark, page color-scheme: light dark', { default: DARK, light: LIGHT });
    await settle(page);
    await assertNoAxeViolations(page, '#slots token-manager', 'OS dark, page light dark');

    // The OS turns light: only the panels that follow it change.
    await page.emulateMedia({ colorScheme: 'light' });
    await expect('OS light, page color-scheme: light dark', { default: LIGHT, system: LIGHT, dark: DARK, light: LIGHT });
    await scheme('light');
    await expect('OS light, page light', { default: LIGHT, system: LIGHT, dark: DARK });
    await page.emulateMedia({ colorScheme: 'dark' });
    await expect('OS dark again', { default: LIGHT, system: DARK });

    // The attribute changes at run time; removing it gives the page's scheme back.
    const setTheme = (id, value) =>
      page.evaluate(([id, value]) => {
        const el = document.getElementById(id);
        if (value === null) el.removeAttribute('theme');
        else el.setAttribute('theme', value);
      }, [id, value]);
    await setTheme('default', 'dark');
    await expect('theme attribute set to dark', { default: DARK });
    await setTheme('default', null);
    await expect('theme attribute removed', { default: LIGHT });
    // An unknown value is an invalid option, reported like any other.
    const error = page.evaluate(
      () => new Promise((resolve) => document.addEventListener('token-manager:error', (e) => resolve(e.detail), { once: true })),
    );
    await setTheme('system', 'sepia');
    const detail = await error;
    assert.equal(detail.code, 'invalid_options');
    assert.match(detail.message, /sepia|variant/, 'the message names the bad theme');
    await setTheme('system', 'system');

    // --tm-* custom properties apply in both schemes.
    const colours = Object.fromEntries((await panelColours(page, '#slots')).map((c) => [c.id, c]));
    assert.equal(colours['brand-light'].button, 'rgb(53, 28, 21)', 'a portal accent in the light scheme');
    assert.equal(colours['brand-dark'].button, 'rgb(53, 28, 21)', 'a portal accent in the dark scheme');
    assert.equal(colours['brand-dark'].background, DARK, 'the other colours stay dark');
    assert.equal(colours['both-light'].button, 'rgb(53, 28, 21)', 'light-dark() in a portal value: its light half');
    assert.equal(colours['both-dark'].button, 'rgb(224, 184, 168)', 'light-dark() in a portal value: its dark half');

    // mountTokenManager(): the `theme` option, changed by update().
    const mounted = await page.evaluate(
      async ({ api, token }) => {
        const { mountTokenManager } = await import('/assets/token-manager/index.js');
        const div = document.createElement('div');
        div.id = 'mounted';
        div.style.width = '600px';
        document.querySelector('#slots').append(div);
        const bg = () => getComputedStyle(div.shadowRoot.querySelector('section.panel')).backgroundColor;
        const until = async (want) => {
          for (let i = 0; i < 100 && bg() !== want; i++) await new Promise((r) => setTimeout(r, 20));
          return bg();
        };
        const handle = await mountTokenManager(div, { api, company: 'acme', sessionToken: token, theme: 'dark' });
        const seen = { dark: await until('rgb(22, 27, 34)') };
        handle.update({ theme: 'light' });
        seen.light = await until('rgb(255, 255, 255)');
        handle.update({ theme: 'system' });
        seen.system = await until('rgb(22, 27, 34)');
        handle.update({ theme: undefined });
        seen.page = await until('rgb(255, 255, 255)');
        handle.destroy();
        div.remove();
        return seen;
      },
      { api: `${env.host}/api/optin`, token: sessionToken },
    );
    assert.deepEqual(mounted, { dark: DARK, light: LIGHT, system: DARK, page: LIGHT }, 'mountTokenManager theme, then update()');
    assert.deepEqual(page.e2eErrors, [], 'no uncaught script errors');
  } finally {
    await context.close();
  }
});

test('200 % zoom at 1,280 px (the browser\'s zoom: a 640 px layout at device scale 2; and CSS zoom: 2 on the page): no sideways scroll, nothing clipped', async () => {
  const check = async (page, where) => {
    await settle(page);
    assertClean(await probePortalPage(page), where);
    const [report] = await probePanels(page, 'main');
    assertClean(report.problems, where);
    return report;
  };
  // Browser zoom 200 % of a 1280 × 900 window: a 640 × 450 CSS-pixel viewport, 2 device pixels each.
  {
    const { context, page } = await newPage(browser, { viewport: { width: 640, height: 450 }, deviceScaleFactor: 2 });
    try {
      const panel = await openPanel(page, env.host, 'demo-co', 'authorized');
      await panel.waitForRows(10, '1-10 of 23');
      // The collapsed menu leaves the panel 608 px: the grid scrolls in its region.
      assert.equal((await check(page, 'browser zoom 200 %, authorized')).layout, 'scroll');
      await screenshot(page, 'responsive-zoom-200-authorized');
      await panel.clear.click();
      await panel.dialog.waitFor();
      await check(page, 'browser zoom 200 %, confirm dialog');
      await screenshot(page, 'responsive-zoom-200-confirm-dialog');
      await openPanel(page, env.host, 'acme');
      await check(page, 'browser zoom 200 %, not authorized');
      assert.deepEqual(page.e2eErrors, [], 'no uncaught script errors');
    } finally {
      await context.close();
    }
  }
  // CSS zoom: 2 on the root element of a 1280 px window.
  {
    const { context, page } = await newPage(browser, { viewport: { width: 1280, height: 900 } });
    try {
      const panel = await openPanel(page, env.host, 'demo-co', 'authorized');
      await panel.waitForRows(10, '1-10 of 23');
      await page.evaluate(() => (document.documentElement.style.zoom = '2'));
      await check(page, 'CSS zoom 2, authorized');
      await screenshot(page, 'responsive-css-zoom-2-authorized');
      assert.deepEqual(page.e2eErrors, [], 'no uncaught script errors');
    } finally {
      await context.close();
    }
  }
});
