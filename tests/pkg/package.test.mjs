// The npm package as a portal team uses it (issue 5): `npm pack` pkg/, install the tarball into
// a throwaway project, serve a plain HTML page from that project's own origin (with a strict
// CSP, as the package README recommends) and load the package with a bare import through an
// import map. Two <token-manager> elements for two companies render against a real
// host-example on another origin (CORS through --allowed-origin). The portal's backend (routes
// of the test's static server) renders the page with a session token it minted with the host's
// API key (`POST /api/v1/sessions`, Node side: the key never reaches the browser) and answers
// the panels' `getSessionToken` at `POST /portal/session-token`; every call to the host carries
// the token as `Authorization: Bearer` and no cookie.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, portalSessionRoute, screenshot, serveStatic, startHost } from '../harness/index.mjs';
import { collectProblems, installTarball, packPackage, stopAll, tempDir } from './support.mjs';

const WAIT = 20_000;

let tmp;
let packed;
let installed;
let portal;
let env;
let browser;
/** The portal backend's `POST /portal/session-token` (counts the tokens it handed out). */
let sessionRoute;
/** The portal page, `{{SESSION_TOKEN}}` standing for the token minted for each request. */
let pageTemplate;

/** The signed-in portal user's grants: admin of the three companies the page shows. */
const GRANTS = [
  { id: 'demo-co', name: 'Demonstration Co.', role: 'admin' },
  { id: 'acme', name: 'Acme Corp', role: 'admin' },
  { id: 'globex', name: 'Globex Inc.', role: 'admin' },
];
const mint = () => env.mintSession({ user: 'dana', name: 'Dana Scully', companies: GRANTS });

/**
 * The portal's page: an import map (allowed by its hash in the CSP) and one module script.
 * Returns the page template (rendered per request with a fresh session token) and the CSP.
 */
function writePortal(dir, host, entry) {
  const importMap = JSON.stringify({ imports: { 'token-manager-widget': entry } });
  const api = `${host}/api/optin`;
  const template = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Portal</title>
<link rel="icon" href="data:,">
<script type="importmap">${importMap}</script>
<script type="module" src="/app.js"></script>
</head>
<body>
<main>
  <h1>Portal</h1>
  <token-manager id="a" api="${api}" company="demo-co" session-token="{{SESSION_TOKEN}}"></token-manager>
  <token-manager id="b" api="${api}" company="acme" page-size="25" mode="popup"
    time-zone="Europe/Paris" help-text="Questions? Call Dana at extension 42."
    locale='{"authorize":"Authorize","token_history":"Token History"}'
    session-token="{{SESSION_TOKEN}}"></token-manager>
  <div id="plain"></div>
</main>
</body>
</html>
`;
  writeFileSync(
    join(dir, 'app.js'),
    `window.tmEvents = [];
for (const name of ["authorized", "cleared", "error", "statechange"]) {
  document.addEventListener("token-manager:" + name, (e) => {
    window.tmEvents.push({ type: e.type, target: e.target.id || e.target.localName,
      bubbles: e.bubbles, composed: e.composed, detail: e.detail });
  });
}
// The portal's own backend hands out fresh session tokens (same origin, its cookie would
// identify the user): what the panels ask for on a refusal and before expiry.
window.getSessionToken = async () => {
  const r = await fetch("/portal/session-token", { method: "POST" });
  if (!r.ok) throw new Error("session token: HTTP " + r.status);
  const s = await r.json();
  return { sessionToken: s.session_token, expiresAt: s.expires_at };
};
const tm = await import("token-manager-widget");
window.tm = tm;
window.definedClass = await tm.defineTokenManager();
for (const el of document.querySelectorAll("token-manager")) el.getSessionToken = window.getSessionToken;
window.defined = true;
`,
  );
  const hash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'wasm-unsafe-eval' 'sha256-${hash}'`,
    // No 'unsafe-inline': the panel styles its shadow root with a constructable stylesheet.
    "style-src 'self'",
    `connect-src 'self' ${host}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "object-src 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { template, csp };
}

before(async () => {
  tmp = tempDir('tm-pkg-');
  packed = await packPackage(tmp.dir);
  const project = join(tmp.dir, 'portal');
  mkdirSync(project);
  installed = await installTarball(project, packed.tarball);
  // The portal's origin must be known before the host starts (its CORS allow-list).
  let csp = "default-src 'none'";
  sessionRoute = portalSessionRoute(mint);
  portal = await serveStatic(project, {
    headers: () => ({ 'content-security-policy': csp }),
    routes: {
      // The page, rendered by the portal's backend with a session token minted for its user.
      'GET /': async (req, res) => {
        const { sessionToken } = await mint();
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'content-security-policy': csp,
        });
        res.end(pageTemplate.replaceAll('{{SESSION_TOKEN}}', sessionToken));
      },
      'POST /portal/session-token': sessionRoute,
    },
  });
  env = await startHost({
    args: [
      '--allowed-origin', portal.origin,
      '--companies', 'demo-co=Demonstration Co.,acme=Acme Corp,globex=Globex Inc.',
    ],
  });
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  const entry = `/node_modules/token-manager-widget/${manifest.exports['.'].import.replace(/^\.\//, '')}`;
  ({ template: pageTemplate, csp } = writePortal(project, env.host, entry));
  browser = await launchBrowser();
});

after(() => stopAll({ browser, env, servers: [portal], tmp }));

/** A page of the portal (no visit to the host first: the page carries its session token). */
async function openPortal() {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const problems = collectProblems(page);
  const wasmRequests = [];
  const hostRequests = [];
  page.on('request', (r) => {
    if (r.url().endsWith('.wasm')) wasmRequests.push(r.url());
    if (r.url().startsWith(`${env.host}/api/`)) hostRequests.push(r);
  });
  await page.goto(`${portal.origin}/`);
  await page.waitForFunction(() => window.defined === true, null, { timeout: WAIT });
  return { context, page, problems, wasmRequests, hostRequests };
}

/**
 * Every API request to the host carried a bearer session token and no cookie (preflights carry
 * neither); the API key appears in none of them, nor in the page.
 */
async function assertBearerOnly(page, hostRequests) {
  const calls = hostRequests.filter((r) => r.method() !== 'OPTIONS');
  assert.ok(calls.length > 0, 'the panels called the host');
  for (const r of calls) {
    const headers = await r.allHeaders();
    assert.match(headers.authorization ?? '', /^Bearer \S+$/, `${r.method()} ${r.url()} carries a bearer token`);
    assert.equal(headers.cookie, undefined, `${r.method()} ${r.url()} carries no cookie`);
    assert.ok(!JSON.stringify(headers).includes(env.apiKey), 'the API key never leaves the server');
  }
  assert.ok(!(await page.content()).includes(env.apiKey), 'the API key is not in the page');
}

/**
 * Open a portal page and run `body` with it; then every host call must have been bearer-only
 * and nothing logged.
 */
async function inPortal(body) {
  const portal = await openPortal();
  try {
    await body(portal);
    await assertBearerOnly(portal.page, portal.hostRequests);
    assert.deepEqual(portal.problems, [], 'no page or console errors');
  } finally {
    await portal.context.close();
  }
}

const authorize = (page, selector) => page.locator(selector).getByRole('button', { name: 'Authorize' });

async function events(page) {
  return page.evaluate(() => window.tmEvents);
}

async function waitForEvent(page, predicate, what) {
  const deadline = Date.now() + WAIT;
  for (;;) {
    const all = await events(page);
    const hit = all.find(predicate);
    if (hit) return hit;
    if (Date.now() > deadline) {
      throw new Error(`no ${what} event; events seen: ${JSON.stringify(all, null, 1)}`);
    }
    await page.waitForTimeout(50);
  }
}

test('the tarball holds the built package and nothing else', () => {
  const expected = [
    'README.md',
    'dist/index.d.ts',
    'dist/index.js',
    'dist/openapi.json',
    'dist/token_manager_widget.d.ts',
    'dist/token_manager_widget.js',
    'dist/token_manager_widget_bg.wasm',
    'dist/token_manager_widget_bg.wasm.d.ts',
    'package.json',
  ];
  const files = [...packed.files].sort();
  for (const f of expected) assert.ok(files.includes(f), `${f} is in the tarball (files: ${files.join(', ')})`);
  const extra = files.filter((f) => !expected.includes(f) && !/^LICENSE/.test(f));
  assert.deepEqual(extra, [], 'no other file is packed');
  // The host contract ships with the package, the same document the example host serves.
  const contract = JSON.parse(readFileSync(join(installed, 'dist', 'openapi.json'), 'utf8'));
  assert.match(contract.openapi, /^3\.1\./);
  for (const path of ['/config', '/start', '/exchange', '/tokens', '/clear', '/status']) {
    assert.ok(contract.paths[path], `the contract documents ${path}`);
  }
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'));
  assert.equal(manifest.name, 'token-manager-widget');
  assert.equal(manifest.type, 'module');
  assert.equal(manifest.sideEffects, false);
  assert.equal(manifest.license, 'MIT OR Apache-2.0');
  assert.deepEqual(manifest.exports['.'], { types: './dist/index.d.ts', import: './dist/index.js' });
  const cargo = readFileSync(new URL('../../Cargo.toml', import.meta.url), 'utf8');
  const crateVersion = /\[workspace\.package\][^[]*?version\s*=\s*"([^"]+)"/.exec(cargo)?.[1];
  assert.equal(manifest.version, crateVersion, 'the package version is the crates\' version');
});

test('two <token-manager> elements render from the installed tarball, sharing one wasm load', async () => {
  await inPortal(async ({ page, wasmRequests }) => {
    await authorize(page, '#a').waitFor();
    await authorize(page, '#b').waitFor();
    // Attributes reached the panel: help text of #b, default tip of #a.
    await page.locator('#b').getByText('Questions? Call Dana at extension 42.').waitFor();
    assert.equal(await page.locator('#a').getByText('Questions? Call Dana').count(), 0);
    assert.equal(wasmRequests.length, 1, `the wasm is fetched once: ${wasmRequests.join(', ')}`);

    for (const [id, company] of [['a', 'demo-co'], ['b', 'acme']]) {
      const e = await waitForEvent(
        page,
        (e) => e.type === 'token-manager:statechange' && e.target === id && e.detail.state === 'not_authorized',
        `statechange(not_authorized) from #${id}`,
      );
      assert.equal(e.detail.company, company);
      assert.equal(e.bubbles, true, 'events bubble');
      assert.equal(e.composed, true, 'events are composed');
    }

    // Idempotent definition; the element class is the exported one.
    const same = await page.evaluate(async () => {
      const again = await window.tm.defineTokenManager();
      return again === window.definedClass
        && document.querySelector('#a') instanceof window.tm.TokenManagerElement;
    });
    assert.ok(same, 'defineTokenManager() again resolves to the same class');
    // The stylesheet applies under that CSP (a refused one would leave the default font and
    // log a violation, which `problems` would hold).
    const styled = await page.evaluate(() => {
      const panel = document.querySelector('#a').shadowRoot.querySelector('[part~=panel]');
      const css = getComputedStyle(panel);
      return { font: css.fontFamily, size: css.fontSize, sheets: panel.getRootNode().adoptedStyleSheets.length };
    });
    assert.match(styled.font, /system-ui/, 'the panel font comes from the stylesheet');
    assert.equal(styled.size, '14px');
    assert.equal(styled.sheets, 1);
    await screenshot(page, 'pkg-two-panels');
  });
});

test('changing company re-renders; removing the element unmounts it', async () => {
  const { context, page, problems } = await openPortal();
  try {
    await authorize(page, '#b').waitFor();
    await page.evaluate(() => {
      window.tmEvents.length = 0;
      document.querySelector('#b').setAttribute('company', 'globex');
    });
    await waitForEvent(
      page,
      (e) => e.type === 'token-manager:statechange' && e.target === 'b' && e.detail.company === 'globex'
        && e.detail.state === 'not_authorized',
      'statechange for the new company',
    );
    await authorize(page, '#b').waitFor();

    // Property ↔ attribute mirror.
    const mirrored = await page.evaluate(() => {
      const el = document.querySelector('#b');
      el.pageSize = 50;
      el.locale = { authorize: 'Authorize' };
      return [el.getAttribute('page-size'), el.pageSize, el.getAttribute('locale'), el.company];
    });
    assert.deepEqual(mirrored, ['50', 50, '{"authorize":"Authorize"}', 'globex']);

    // Removal: the shadow root is emptied, no event follows.
    const left = await page.evaluate(async () => {
      const el = document.querySelector('#a');
      window.removed = el;
      el.remove();
      await new Promise((r) => setTimeout(r, 50));
      window.tmEvents.length = 0;
      return el.shadowRoot.childNodes.length;
    });
    assert.equal(left, 0, 'the removed element has no panel left');
    // Moving an element (disconnect + connect in one task) keeps its panel.
    await page.evaluate(() => document.querySelector('main').prepend(document.querySelector('#b')));
    await authorize(page, '#b').waitFor();
    await page.waitForTimeout(300);
    const after = await events(page);
    assert.ok(after.every((e) => e.target !== 'a'), `no events from the removed element: ${JSON.stringify(after)}`);
    assert.deepEqual(problems, [], 'no page or console errors');
  } finally {
    await context.close();
  }
});

test('mountTokenManager(): render, update, destroy', async () => {
  await inPortal(async ({ page }) => {
    const asked = sessionRoute.calls;
    // No initial token: the panel asks the portal's backend for one before its first call.
    await page.evaluate(async (api) => {
      window.seen = [];
      window.handle = await window.tm.mountTokenManager(document.querySelector('#plain'), {
        api,
        company: 'demo-co',
        getSessionToken: window.getSessionToken,
        helpText: 'First tip.',
        onEvent: (name, detail) => window.seen.push([name, detail.company, detail.state ?? null]),
      });
    }, `${env.host}/api/optin`);
    await authorize(page, '#plain').waitFor();
    assert.ok(sessionRoute.calls > asked, 'getSessionToken fetched a token from the portal backend');
    await page.locator('#plain').getByText('First tip.').waitFor();
    await page.evaluate(() => window.handle.update({ helpText: 'Second tip.' }));
    await page.locator('#plain').getByText('Second tip.').waitFor();
    const seen = await page.evaluate(() => window.seen);
    assert.ok(
      seen.some(([name, company, state]) => name === 'statechange' && company === 'demo-co' && state === 'not_authorized'),
      `onEvent got statechange: ${JSON.stringify(seen)}`,
    );
    const dom = await waitForEvent(page, (e) => e.target === 'plain', 'DOM event from the mounted div');
    assert.equal(dom.type, 'token-manager:statechange');

    const result = await page.evaluate(() => {
      window.handle.destroy();
      window.handle.destroy(); // idempotent
      let updateError = null;
      try {
        window.handle.update({ company: 'acme' });
      } catch (e) {
        updateError = e.message;
      }
      return { children: document.querySelector('#plain').shadowRoot.childNodes.length, updateError };
    });
    assert.equal(result.children, 0, 'destroy() leaves no panel');
    assert.match(result.updateError, /after destroy/);

    const bad = await page.evaluate(async (api) => {
      try {
        await window.tm.mountTokenManager(document.createElement('div'), { api, company: 'acme', pageSize: 7 });
        return null;
      } catch (e) {
        return `${e.name}: ${e.message}`;
      }
    }, `${env.host}/api/optin`);
    assert.match(bad, /TypeError: .*pageSize/, 'invalid options are rejected with a TypeError naming the option');
  });
});

// A page that defines the element and then, a few microtasks later (`await
// defineTokenManager(); el.getSessionToken = …`), hands it its token source: the panel waits
// for it instead of calling the host with no token first.
test('a getSessionToken set just after the element connects is used from the first call', async () => {
  await inPortal(async ({ page }) => {
    await page.evaluate(async (api) => {
      const el = document.createElement('token-manager');
      el.id = 'late';
      el.setAttribute('api', api);
      el.setAttribute('company', 'globex');
      document.body.append(el);
      for (let i = 0; i < 5; i += 1) await Promise.resolve();
      el.getSessionToken = window.getSessionToken;
    }, `${env.host}/api/optin`);
    await authorize(page, '#late').waitFor();
  });
});

test('bad attributes are reported as token-manager:error and on the console', async () => {
  const { context, page, problems } = await openPortal();
  try {
    const reported = await page.evaluate(async (api) => {
      window.tmEvents.length = 0;
      const el = document.createElement('token-manager');
      el.id = 'bad';
      el.setAttribute('api', api);
      el.setAttribute('company', 'acme');
      el.setAttribute('locale', '{not json');
      el.getSessionToken = window.getSessionToken;
      document.body.append(el);
      await new Promise((r) => setTimeout(r, 100));
      return window.tmEvents.filter((e) => e.target === 'bad');
    }, `${env.host}/api/optin`);
    assert.equal(reported.length, 1, JSON.stringify(reported));
    assert.equal(reported[0].type, 'token-manager:error');
    assert.equal(reported[0].detail.code, 'invalid_options');
    assert.match(reported[0].detail.message, /locale attribute is not valid JSON/);
    assert.ok(problems.some((p) => /locale attribute is not valid JSON/.test(p)), 'logged on the console');

    // Fixing the attribute renders the panel (its getSessionToken fetches a token).
    await page.evaluate(() => document.querySelector('#bad').setAttribute('locale', '{"authorize":"Authorize"}'));
    await authorize(page, '#bad').waitFor();

    // A session token that is not visible ASCII is refused without being quoted.
    const secret = 'tms1.not a token';
    const refused = await page.evaluate(async (value) => {
      window.tmEvents.length = 0;
      const el = document.createElement('token-manager');
      el.id = 'bad-token';
      el.setAttribute('api', document.querySelector('#a').getAttribute('api'));
      el.setAttribute('company', 'acme');
      el.setAttribute('session-token', value);
      document.body.append(el);
      await new Promise((r) => setTimeout(r, 100));
      return window.tmEvents.filter((e) => e.target === 'bad-token');
    }, secret);
    assert.equal(refused.length, 1, JSON.stringify(refused));
    assert.equal(refused[0].type, 'token-manager:error');
    assert.equal(refused[0].detail.code, 'invalid_options');
    assert.ok(!refused[0].detail.message.includes(secret), `the message does not quote the token: ${refused[0].detail.message}`);
    assert.ok(problems.every((p) => !p.includes(secret)), 'the console does not quote the token');

    const custom = await page.evaluate(async () => {
      const C = await window.tm.defineTokenManager('acme-token-manager');
      let clash = null;
      customElements.define('other-widget', class extends HTMLElement {});
      try {
        await window.tm.defineTokenManager('other-widget');
      } catch (e) {
        clash = e.message;
      }
      return { sub: C.prototype instanceof window.tm.TokenManagerElement, clash };
    });
    assert.ok(custom.sub, 'a custom tag name gets a subclass of TokenManagerElement');
    assert.match(custom.clash, /already defined by another element/);
  } finally {
    await context.close();
  }
});
