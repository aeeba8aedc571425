// Helpers of responsive.test.mjs (issue 17): a plain page that puts panels in containers of
// given widths, layout probes run inside the page (what sticks out, what scrolls sideways,
// which layout the panel chose), axe-core on any element, and element screenshots. Not a
// test file (the runner only picks up `*.test.mjs`).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { PKG_DIST, TARGET_DIR, serveStatic } from '../harness/index.mjs';
import { require, waitFor } from './support.mjs';

/**
 * A portal team's plain page on its own origin: the package's `dist/` at
 * `/assets/token-manager/`, and `GET /` — an empty page (no `color-scheme` of its own, no CSP)
 * with an import map, where the test builds its containers and panels.
 */
export async function startPlainSite() {
  return serveStatic(PKG_DIST, {
    prefix: '/assets/token-manager/',
    routes: {
      'GET /': async (req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Plain page</title>
<link rel="icon" href="data:,">
<script type="importmap">{"imports":{"token-manager-widget":"/assets/token-manager/index.js"}}</script>
</head>
<body style="margin: 16px; font-family: sans-serif">
<main><h1>Plain page</h1><div id="slots"></div></main>
</body>
</html>
`);
      },
    },
  });
}

/**
 * Two animation frames (layout, container queries and paint have caught up), then the end of
 * every running CSS transition in the panels (a button's colours fade after a scheme change:
 * axe must not measure them half-way).
 */
export async function settle(page) {
  await page.evaluate(async () => {
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const roots = [document, ...[...document.querySelectorAll('token-manager')].map((h) => h.shadowRoot).filter(Boolean)];
    const transitions = roots.flatMap((root) => root.getAnimations()).filter((a) => a instanceof CSSTransition);
    await Promise.all(transitions.map((t) => t.finished.catch(() => {})));
  });
}

/**
 * On the plain page: replace the containers with `panels`, each `{id, width, attrs, style}`:
 * a `<div class="slot" id="slot-<id>" style="width: <width>px">` holding a `<token-manager>`
 * (id `<id>`) with the attributes `attrs` and the inline `style` (e.g. custom properties).
 * With `badReturn`, each panel is mounted on a URL carrying a return nobody waits for
 * (`?code=…&state=…`, no marker in the tab), so it shows its error; a panel strips those
 * parameters, so each is mounted after the previous one did.
 */
export async function mountPanels(page, panels, { badReturn = false } = {}) {
  await page.evaluate(
    async ({ panels, badReturn }) => {
      const { defineTokenManager } = await import('/assets/token-manager/index.js');
      await defineTokenManager();
      const slots = document.querySelector('#slots');
      slots.replaceChildren();
      for (const { id, width, attrs, style } of panels) {
        const slot = document.createElement('div');
        slot.className = 'slot';
        slot.id = `slot-${id}`;
        slot.style.cssText = `width: ${width}px; margin: 0 0 24px; outline: 1px dashed #8a8a8a`;
        const el = document.createElement('token-manager');
        el.id = String(id);
        for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, value);
        if (style) el.style.cssText = style;
        if (badReturn) history.replaceState(null, '', '/?code=e2e-forged-code&state=e2e-forged-state');
        slot.append(el);
        slots.append(slot);
        if (badReturn) {
          for (let i = 0; i < 200 && el.shadowRoot?.querySelector('section.panel')?.dataset.state !== 'error'; i++) {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    },
    { panels, badReturn },
  );
}

/**
 * Wait until every panel on the page shows `state` (not busy) and, if given, `rows` grid rows.
 */
export async function waitForPanels(page, state, { rows } = {}) {
  let seen;
  await waitFor(
    async () => {
      seen = await page.evaluate(() =>
        [...document.querySelectorAll('token-manager')].map((h) => {
          const s = h.shadowRoot?.querySelector('section.panel');
          return {
            state: s?.dataset.state,
            busy: s?.getAttribute('aria-busy'),
            rows: s?.querySelectorAll('tbody tr[data-id]').length ?? 0,
          };
        }),
      );
      return seen.length > 0 && seen.every((p) => p.state === state && p.busy === 'false' && (rows === undefined || p.rows === rows));
    },
    { message: `every panel in state ${state}${rows === undefined ? '' : ` with ${rows} rows`}` },
  ).catch((e) => {
    throw new Error(`${e.message}; panels: ${JSON.stringify(seen)}`);
  });
}

/**
 * In the page: how the panel in the shadow host `host` is laid out and what is wrong with it.
 * Every heading, text, button, select, caption, header and cell must have a box and lie inside
 * the panel — or, for the grid, inside the grid's own scroll region, where scrolling reaches it
 * — and no block may overflow its own box (clipped text); the panel's container must not
 * scroll sideways; a grid that scrolls must be a focusable, labelled region. `layout`:
 * `table` (the whole grid fits), `scroll` (the grid scrolls in its region) or `stacked`.
 */
function probePanel(host) {
  const problems = [];
  const root = host.shadowRoot;
  const name = (el) => {
    const text = (el.getAttribute('aria-label') ?? el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 40);
    return `<${el.localName}${el.classList.length ? `.${[...el.classList].join('.')}` : ''}> "${text}"`;
  };
  const px = (n) => Math.round(n * 10) / 10;
  const box = host.getBoundingClientRect();
  const wrap = root.querySelector('.table-wrap');
  const firstCell = root.querySelector('tbody td');
  const stacked = firstCell !== null && getComputedStyle(firstCell).display !== 'table-cell';
  const scrolls = wrap !== null && wrap.scrollWidth > wrap.clientWidth;
  const layout = wrap === null ? 'none' : stacked ? 'stacked' : scrolls ? 'scroll' : 'table';
  const region = wrap?.getBoundingClientRect();
  let checked = 0;
  for (const el of root.querySelectorAll('h2, h3, p, button, select, label, .range, caption, th, td, time, .badge')) {
    // The stacked layout hides the header row visually only (assistive technology reads it).
    if (stacked && el.closest('thead')) continue;
    checked++;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) {
      problems.push(`${name(el)} has no visible box`);
      continue;
    }
    if (wrap?.contains(el)) {
      // Rectangles are in the viewport's pixels, scroll offsets in the region's own (CSS zoom).
      const zoom = region.width / wrap.offsetWidth;
      const left = (r.left - region.left - wrap.clientLeft * zoom) / zoom + wrap.scrollLeft;
      const right = left + r.width / zoom;
      if (left < -1 || right > wrap.scrollWidth + 1) {
        problems.push(`${name(el)} lies outside the grid's scroll region (${px(left)}–${px(right)} of ${wrap.scrollWidth})`);
      }
    } else if (r.left < box.left - 1 || r.right > box.right + 1) {
      problems.push(`${name(el)} sticks out of the panel (${px(r.left)}–${px(r.right)}, panel ${px(box.left)}–${px(box.right)})`);
    }
    if (/^(h2|h3|p|button|caption|th|td|label)$/.test(el.localName) && el.scrollWidth > el.clientWidth + 1) {
      problems.push(`${name(el)} overflows its own box (${el.scrollWidth} > ${el.clientWidth} px)`);
    }
  }
  if (wrap) {
    const r = wrap.getBoundingClientRect();
    if (r.left < box.left - 1 || r.right > box.right + 1) problems.push('the grid region sticks out of the panel');
    if (scrolls) {
      if (stacked) problems.push(`the stacked grid scrolls sideways (${wrap.scrollWidth} > ${wrap.clientWidth})`);
      if (getComputedStyle(wrap).overflowX !== 'auto') problems.push('the grid overflows without scrolling');
      const label = root.getElementById(wrap.getAttribute('aria-labelledby') ?? '')?.textContent.trim();
      if (wrap.tabIndex !== 0 || wrap.getAttribute('role') !== 'group' || !label) {
        problems.push('the grid scrolls but is no focusable, labelled group');
      }
    }
  }
  const container = host.parentElement;
  if (container.scrollWidth > container.clientWidth) {
    problems.push(`the panel's container scrolls sideways (${container.scrollWidth} > ${container.clientWidth})`);
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth) problems.push(`the page scrolls sideways (${doc.scrollWidth} > ${doc.clientWidth})`);
  return { layout, width: px(box.width), checked, problems };
}

/** {@link probePanel} for every `<token-manager>` on the page (or those inside `scope`). */
export async function probePanels(page, scope = 'body') {
  const reports = [];
  for (const host of await page.locator(`${scope} token-manager`).elementHandles()) {
    reports.push(await host.evaluate(probePanel));
    await host.dispose();
  }
  return reports;
}

/**
 * In the demo portal: the page does not scroll sideways; everything in the top bar stays inside
 * the bar (no white text on the white page); the menu links and the page's text are in view.
 */
function probePortal() {
  const problems = [];
  const doc = document.documentElement;
  const name = (el) => `<${el.localName}> "${(el.textContent ?? '').replace(/\s+/g, ' ').trim().slice(0, 40)}"`;
  if (doc.scrollWidth > doc.clientWidth) problems.push(`the page scrolls sideways (${doc.scrollWidth} > ${doc.clientWidth})`);
  const bar = document.querySelector('header.topbar').getBoundingClientRect();
  for (const el of document.querySelectorAll('header.topbar *')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (r.left < bar.left - 0.5 || r.right > bar.right + 0.5 || r.top < bar.top - 0.5 || r.bottom > bar.bottom + 0.5) {
      problems.push(`top bar: ${name(el)} lies outside the bar`);
    }
  }
  for (const el of document.querySelectorAll('nav.menu a, main h1, main p, main token-manager')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.left < -0.5 || r.right > doc.clientWidth + 0.5) problems.push(`${name(el)} is not in view horizontally`);
  }
  const main = document.querySelector('main');
  if (main.scrollWidth > main.clientWidth) problems.push(`<main> scrolls sideways (${main.scrollWidth} > ${main.clientWidth})`);
  return problems;
}

export async function probePortalPage(page) {
  return page.evaluate(probePortal);
}

/**
 * axe-core (injected from npm `axe-core`) on the elements matching `selector` (default the
 * whole document, shadow roots included); returns the violations, described.
 */
export async function axeViolations(page, selector = null) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.addScriptTag({ path: require.resolve('axe-core') });
  }
  return page.evaluate(async (sel) => {
    const targets = sel === null ? [document] : [...document.querySelectorAll(sel)];
    const found = [];
    for (const target of targets) {
      const result = await window.axe.run(target, { resultTypes: ['violations'] });
      for (const v of result.violations) {
        found.push({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => `${JSON.stringify(n.target)}: ${n.failureSummary}`) });
      }
    }
    return found;
  }, selector);
}

export async function assertNoAxeViolations(page, selector, label) {
  const violations = await axeViolations(page, selector);
  assert.deepEqual(violations, [], `axe-core violations (${label}):\n${JSON.stringify(violations, null, 2)}`);
}

/** Save a screenshot of `locator` (an element) as `target/e2e/<name>.png`; returns its path. */
export async function elementShot(locator, name) {
  const folder = join(TARGET_DIR, 'e2e');
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await locator.screenshot({ path });
  return path;
}

/** The panel's colours (`section.panel`) of every `<token-manager>` inside `scope`. */
export async function panelColours(page, scope = 'body') {
  return page.evaluate(
    (scope) =>
      [...document.querySelector(scope).querySelectorAll('token-manager')].map((h) => {
        const panel = h.shadowRoot.querySelector('section.panel');
        const style = getComputedStyle(panel);
        const button = h.shadowRoot.querySelector('button.primary');
        return {
          id: h.id,
          background: style.backgroundColor,
          color: style.color,
          scheme: style.colorScheme,
          button: button ? getComputedStyle(button).backgroundColor : null,
        };
      }),
    scope,
  );
}
