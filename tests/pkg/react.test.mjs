// A React 19 app (Vite + @vitejs/plugin-react) installs the packed tarball and renders
// `<token-manager session-token={token} getSessionToken={fetchSession} … />`: React 19 sets the
// element's known properties (company, getSessionToken) as properties and `session-token` as
// an attribute, and the panel's `token-manager:*` events reach React state through a ref and
// addEventListener. Built with `vite build`, served from its own origin with the portal's
// backend (a route of the test's server minting with the host's API key), run in Chromium.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { REPO_ROOT, screenshot } from '../harness/index.mjs';
import { buildViteApp, collectProblems, serveApp, stopAll } from './support.mjs';

const TESTS_MODULES = join(REPO_ROOT, 'tests', 'node_modules');
const WAIT = 20_000;

let tmp;
let app;
let site;
let env;
let browser;
let sessionRoute;

const MAIN = `import { StrictMode, useCallback, useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { defineTokenManager } from "token-manager-widget";

const api = new URLSearchParams(location.search).get("api");

/** The portal's backend hands out session tokens (it holds the host's API key, not us). */
async function fetchSession() {
  window.sessionFetches = (window.sessionFetches ?? 0) + 1;
  const r = await fetch("/portal/session-token", { method: "POST" });
  if (!r.ok) throw new Error("session token: HTTP " + r.status);
  const s = await r.json();
  return { sessionToken: s.session_token, expiresAt: s.expires_at };
}

function TokenManager({ company, sessionToken, onStateChange, onError }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    const state = (e) => onStateChange(e.detail);
    const error = (e) => onError(e.detail);
    el.addEventListener("token-manager:statechange", state);
    el.addEventListener("token-manager:error", error);
    return () => {
      el.removeEventListener("token-manager:statechange", state);
      el.removeEventListener("token-manager:error", error);
    };
  }, [onStateChange, onError]);
  return (
    <token-manager
      ref={ref}
      api={api}
      company={company}
      session-token={sessionToken}
      getSessionToken={fetchSession}
      page-size="25"
    />
  );
}

function App() {
  const [token, setToken] = useState(null);
  const [company, setCompany] = useState("demo-co");
  const [events, setEvents] = useState([]);
  useEffect(() => {
    fetchSession().then((s) => setToken(s.sessionToken));
  }, []);
  const onStateChange = useCallback((d) => setEvents((all) => [...all, d.company + ":" + d.state]), []);
  const onError = useCallback((d) => setEvents((all) => [...all, d.company + ":error:" + d.code]), []);
  if (!token) return <p>Loading the portal…</p>;
  return (
    <main>
      <h1>React portal</h1>
      <label>
        Company{" "}
        <select value={company} onChange={(e) => setCompany(e.target.value)}>
          <option value="demo-co">Demonstration Co.</option>
          <option value="acme">Acme Corp</option>
        </select>
      </label>
      <TokenManager company={company} sessionToken={token} onStateChange={onStateChange} onError={onError} />
      <ol aria-label="Panel events">
        {events.map((e, i) => <li key={i}>{e}</li>)}
      </ol>
    </main>
  );
}

// Define the element first, so React sees its properties when it renders it.
await defineTokenManager();
createRoot(document.getElementById("root")).render(<StrictMode><App /></StrictMode>);
`;

before(async () => {
  const { default: react } = await import('@vitejs/plugin-react');
  ({ tmp, app } = await buildViteApp('tm-react-', {
    title: 'React portal',
    body: '<div id="root"></div><script type="module" src="/main.jsx"></script>',
    files: { 'main.jsx': MAIN },
    plugins: [react()],
    target: 'es2022',
    // The app's own react and react-dom: the test project's (tests/package.json pins them).
    prepare: (dir) => {
      for (const name of ['react', 'react-dom']) {
        symlinkSync(join(TESTS_MODULES, name), join(dir, 'node_modules', name), 'dir');
      }
    },
  }));
  ({ sessionRoute, site, env, browser } = await serveApp(join(app, 'dist'), (host) =>
    host.mintSession({
      user: 'dana',
      name: 'Dana Scully',
      companies: [
        { id: 'demo-co', name: 'Demonstration Co.', role: 'admin' },
        { id: 'acme', name: 'Acme Corp', role: 'admin' },
      ],
    })));
});

after(() => stopAll({ browser, env, servers: [site], tmp }));

test('vite build of the React 19 app bundles React and emits the wasm', () => {
  const assets = readdirSync(join(app, 'dist', 'assets'));
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `a .wasm among the assets: ${assets.join(', ')}`);
  const bundles = assets.filter((f) => f.endsWith('.js'));
  assert.ok(bundles.length > 0, `a .js bundle among the assets: ${assets.join(', ')}`);
  const code = bundles.map((f) => readFileSync(join(app, 'dist', 'assets', f), 'utf8')).join('\n');
  assert.ok(code.includes('react.transitional.element'), 'React 19 (its element symbol) is in the bundle');
  assert.ok(code.includes('token-manager'), 'the package is in the bundle');
});

test('the React 19 app renders the panel, passes its props, and receives its events', async () => {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(WAIT);
  try {
    const page = await context.newPage();
    const problems = collectProblems(page);
    const hostCalls = [];
    page.on('request', (r) => {
      if (r.url().startsWith(`${env.host}/api/`) && r.method() !== 'OPTIONS') hostCalls.push(r);
    });
    await page.goto(`${site.origin}/?api=${encodeURIComponent(`${env.host}/api/optin`)}`);
    await page.getByRole('heading', { level: 1, name: 'React portal' }).waitFor();
    const panel = page.locator('token-manager');
    await panel.getByRole('button', { name: 'Authorize' }).waitFor();

    // The event reached React: it rendered it into the list.
    const events = page.getByRole('list', { name: 'Panel events' });
    await events.getByText('demo-co:not_authorized', { exact: true }).waitFor();

    // What React 19 did with the props.
    const element = await panel.evaluate((el) => ({
      company: el.company,
      companyAttr: el.getAttribute('company'),
      sessionTokenAttr: el.getAttribute('session-token'),
      getSessionToken: typeof el.getSessionToken,
      getSessionTokenAttr: el.getAttribute('getsessiontoken') ?? el.getAttribute('getSessionToken'),
      pageSize: el.pageSize,
    }));
    assert.equal(element.company, 'demo-co');
    assert.equal(element.companyAttr, 'demo-co', 'the company property mirrors to the attribute');
    assert.match(element.sessionTokenAttr ?? '', /^tms1\./, 'session-token is an attribute with the minted token');
    assert.equal(element.getSessionToken, 'function', 'getSessionToken was set as a property');
    assert.equal(element.getSessionTokenAttr, null, 'and not as an attribute');
    assert.equal(element.pageSize, 25);

    // React state → the element: another company re-renders the panel, its event arrives.
    await page.getByRole('combobox', { name: 'Company' }).selectOption('acme');
    await events.getByText('acme:not_authorized', { exact: true }).waitFor();
    assert.equal(await panel.evaluate((el) => el.getAttribute('company')), 'acme');
    await panel.getByRole('button', { name: 'Authorize' }).waitFor();

    assert.ok(sessionRoute.calls >= 1, 'the app got its session token from the portal backend');
    assert.ok(hostCalls.length > 0, 'the panel called the host');
    for (const r of hostCalls) {
      const headers = await r.allHeaders();
      assert.match(headers.authorization ?? '', /^Bearer tms1\./, `${r.url()} carries the session token`);
      assert.equal(headers.cookie, undefined, `${r.url()} carries no cookie`);
    }
    assert.equal(await page.getByText(/:error:/).count(), 0, 'no error event');
    await screenshot(page, 'pkg-react-app');
    assert.deepEqual(problems, [], 'no page or console errors');
  } finally {
    await context.close();
  }
});
