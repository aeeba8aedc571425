// The bundler path (issue 5): a minimal Vite 7 app installs the packed tarball, `vite build`
// bundles it (the wasm must be emitted as an asset through `new URL(…, import.meta.url)`), and
// the built app, served from its own origin, renders the panel in Chromium against a real host.
// The app has no session token at first: its getSessionToken asks the portal's backend (a
// route of the test's server, which mints with the host's API key) before the panel's first
// call.

import assert from 'node:assert/strict';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { launchBrowser, portalSessionRoute, screenshot, serveStatic, startHost } from '../harness/index.mjs';
import { collectProblems, installTarball, packPackage, tempDir } from './support.mjs';

let tmp;
let app;
let site;
let env;
let browser;
let sessionRoute;

before(async () => {
  tmp = tempDir('tm-vite-');
  const { tarball } = await packPackage(tmp.dir);
  app = join(tmp.dir, 'app');
  mkdirSync(app);
  await installTarball(app, tarball, {
    'index.html': `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Vite portal</title><link rel="icon" href="data:,"></head>
<body><main id="app"></main><script type="module" src="/main.js"></script></body>
</html>
`,
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
  });
  // Vite from tests/node_modules, the app's dependencies from its own node_modules.
  const { build } = await import('vite');
  await build({
    root: app,
    configFile: false,
    logLevel: 'warn',
    build: { outDir: join(app, 'dist'), emptyOutDir: true },
  });
  sessionRoute = portalSessionRoute(() => env.mintSession({ user: 'dana', companies: [{ id: 'demo-co', role: 'admin' }] }));
  site = await serveStatic(join(app, 'dist'), { routes: { 'POST /portal/session-token': sessionRoute } });
  env = await startHost({ args: ['--allowed-origin', site.origin] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close().catch(() => {});
  await env?.stop();
  await site?.close();
  tmp?.remove();
});

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
