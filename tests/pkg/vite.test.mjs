// The bundler path (issue 5): a minimal Vite 7 app installs the packed tarball, `vite build`
// bundles it (the wasm must be emitted as an asset through `new URL(…, import.meta.url)`), and
// the built app, served from its own origin, renders the panel in Chromium against a real host.
// The app has no session token at first: its getSessionToken asks the portal's backend (a
// route of the test's server, which mints with the host's API key) before the panel's first
// call.

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { screenshot } from '../harness/index.mjs';
import { buildViteApp, collectProblems, serveApp, stopAll } from './support.mjs';

let tmp;
let app;
let site;
let env;
let browser;
let sessionRoute;

before(async () => {
  ({ tmp, app } = await buildViteApp('tm-vite-', {
    title: 'Vite portal',
    body: '<main id="app"></main><script type="module" src="/main.js"></script>',
    files: {
      'main.js': `import { defineTokenManager } from "token-manager-widget";

const api = new URLSearchParams(location.search).get("api");
const panel = document.createElement("token-manager");
panel.setAttribute("api", api);
panel.setAttribute("company", "demo-co");
panel.getSessionToken = async () => {
  const r = await fetch("/portal/session-token", { method: "POST" });
  if (!r.ok) throw new Error("session token: HTTP " + r.status);
  const s = await r.json();
  return { sessionToken: s.session_token, expiresAt: s.expires_at };
};
panel.addEventListener("token-manager:statechange", (e) => {
  document.body.dataset.state = e.detail.state;
});
document.querySelector("#app").append(panel);
await defineTokenManager();
`,
    },
  }));
  ({ sessionRoute, site, env, browser } = await serveApp(join(app, 'dist'), (host) =>
    host.mintSession({ user: 'dana', companies: [{ id: 'demo-co', role: 'admin' }] })));
});

after(() => stopAll({ browser, env, servers: [site], tmp }));

test('vite build emits the wasm as an asset', () => {
  const assets = readdirSync(join(app, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `a .wasm among the assets: ${assets.join(', ')}`);
  assert.ok(assets.some((f) => f.endsWith('.js')), `a .js bundle among the assets: ${assets.join(', ')}`);
});

test('the Vite-built app renders the panel in Chromium', async () => {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(20_000);
  try {
    const page = await context.newPage();
    const problems = collectProblems(page);
    await page.goto(`${site.origin}/?api=${encodeURIComponent(`${env.host}/api/optin`)}`);
    await page.locator('token-manager').getByRole('button', { name: 'Authorize' }).waitFor();
    await page.waitForFunction(() => document.body.dataset.state === 'not_authorized');
    assert.ok(sessionRoute.calls >= 1, 'the panel asked the portal backend for a session token');
    await screenshot(page, 'pkg-vite-app');
    assert.deepEqual(problems, [], 'no page or console errors');
  } finally {
    await context.close();
  }
});
