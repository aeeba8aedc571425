// Reusable helpers of the browser tests (tests/pkg, tests/e2e): a real host-example with its
// mock UPS on ephemeral loopback ports, headless Debian Chromium through playwright-core, a
// tiny static file server, screenshots under target/e2e/.
//
// Prerequisites (scripts/test.sh does them): `cargo build -p host-example --release` and
// `bash scripts/build-widget.sh` (pkg/dist/).

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the repository. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Cargo's target folder (honours CARGO_TARGET_DIR). */
export const TARGET_DIR = resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
/** The release build of the host (`cargo build -p host-example --release`). */
export const HOST_BINARY = join(TARGET_DIR, 'release', 'host-example');
/** The built npm package (`bash scripts/build-widget.sh`). */
export const PKG_DIST = join(REPO_ROOT, 'pkg', 'dist');
/** Debian's Chromium. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Hosts still running: killed when the test process exits, whatever way it exits. */
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Keep the last lines of a child's output, to quote them when something goes wrong. */
function tail(limit = 200) {
  const lines = [];
  return {
    push(chunk) {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        lines.push(line);
        if (lines.length > limit) lines.shift();
      }
    },
    text: () => lines.join('\n'),
  };
}

/** Environment variable the host reads its portal-backend API key(s) from. */
export const API_KEY_ENV = 'TOKEN_MANAGER_API_KEY';

/** A fresh API key as the host itself would make one: `tmk_` and 32 random bytes, base64url. */
export function generateApiKey() {
  return `tmk_${randomBytes(32).toString('base64url')}`;
}

/** The companies a session minted by {@link startHost}'s `mintSession` names by default. */
export const DEFAULT_SESSION_COMPANIES = [
  { id: 'demo-co', name: 'Demonstration Co.', role: 'admin' },
  { id: 'acme', name: 'Acme Corp', role: 'admin' },
];

/**
 * `POST {host}/api/v1/sessions` with `apiKey`, as a portal's backend mints a session token for
 * one of its users. Returns `{sessionToken, expiresAt}`; throws with the host's answer unless it
 * is 201. `companies` items are `{id, role, name?}`; a string is an admin company.
 */
export async function mintSession(host, apiKey, { user = 'admin', name, companies = DEFAULT_SESSION_COMPANIES, ttlSecs = 3600 } = {}) {
  const body = {
    user: name === undefined ? { id: user } : { id: user, name },
    companies: companies.map((c) => (typeof c === 'string' ? { id: c, role: 'admin' } : c)),
    ttl_secs: ttlSecs,
  };
  const r = await fetch(`${host}/api/v1/sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`POST /api/v1/sessions answered ${r.status}: ${text}`);
  const minted = JSON.parse(text);
  if (typeof minted.session_token !== 'string' || typeof minted.expires_at !== 'number') {
    throw new Error(`POST /api/v1/sessions answered an unexpected body: ${text}`);
  }
  return { sessionToken: minted.session_token, expiresAt: minted.expires_at };
}

/**
 * Start `target/release/host-example` on ephemeral loopback ports with a fresh database, key
 * and portal-backend API key (passed as `TOKEN_MANAGER_API_KEY`) in a temporary folder, and
 * wait until it is listening (its `--ready-file`).
 *
 * The API key stays in the test process (Node): `apiKey` and `mintSession()` are what a
 * portal's backend has; never hand the key to a browser page.
 *
 * @param {object} [o]
 * @param {string[]} [o.args] extra flags (e.g. `['--allowed-origin', origin]`; with
 *   `--api-key-file PATH` no key is generated and `apiKey` is the file's first key; a
 *   `--db` / `--key-file` of the caller replaces the temporary one, e.g. to restart a host on
 *   the same database)
 * @param {Record<string,string>} [o.env] extra environment variables (a `TOKEN_MANAGER_API_KEY`
 *   here replaces the generated key; `apiKey` is then its first key)
 * @param {string} [o.staticDir] folder served at `/assets/token-manager/` (default pkg/dist)
 * @param {number} [o.timeoutMs] how long to wait for the ready file (default 30 s)
 * @returns {Promise<{host: string, mock: string|null, dir: string, pid: number, apiKey: string,
 *   mintSession: (o?: {user?: string, name?: string, companies?: Array<{id: string, role: 'admin'|'viewer', name?: string}|string>,
 *     ttlSecs?: number}) => Promise<{sessionToken: string, expiresAt: number}>,
 *   logs: () => string, stop: () => Promise<void>, kill: (signal?: string) => Promise<{code: number|null, signal: string|null}>,
 *   mockFaults: (faults: object) => Promise<object>,
 *   mockStats: () => Promise<object>, mockReset: () => Promise<object>,
 *   passwordChange: (user: string, newPassword: string) => Promise<object>}>}
 */
export async function startHost({ args = [], env = {}, staticDir = PKG_DIST, timeoutMs = 30_000 } = {}) {
  if (!existsSync(HOST_BINARY)) {
    throw new Error(`${HOST_BINARY} does not exist: run \`cargo build -p host-example --release\` first`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tm-host-'));
  const readyFile = join(dir, 'ready.json');
  // `--listen` / `--mock-listen` of the caller (e.g. a port picked by freePort() for a
  // `--public-url`) replace the ephemeral defaults.
  const flags = [
    ...(args.includes('--listen') ? [] : ['--listen', '127.0.0.1:0']),
    ...(args.includes('--mock-listen') ? [] : ['--mock-listen', '127.0.0.1:0']),
    // A caller's `--db` / `--key-file` (e.g. one database across restarts) replace the
    // temporary ones.
    ...(args.includes('--db') ? [] : ['--db', join(dir, 'tm.db')]),
    ...(args.includes('--key-file') ? [] : ['--key-file', join(dir, 'key')]),
    // Created only when a `--webhook-url` is given; never the default in the repository.
    ...(args.includes('--webhook-secret-file') ? [] : ['--webhook-secret-file', join(dir, 'webhook-secret')]),
    '--static-dir', staticDir,
    '--ready-file', readyFile,
    ...args,
  ];
  const log = tail();
  // The key comes from --key-file and the API key from this harness: a TOKEN_MANAGER_KEY,
  // TOKEN_MANAGER_API_KEY or TM_* flag of the caller's shell must not leak in.
  const childEnv = { ...process.env };
  for (const name of Object.keys(childEnv)) {
    if (name === 'TOKEN_MANAGER_KEY' || name === API_KEY_ENV || name.startsWith('TM_')) delete childEnv[name];
  }
  const keyFileFlag = args.indexOf('--api-key-file');
  const keyFile = keyFileFlag >= 0 ? args[keyFileFlag + 1] : null;
  const apiKeyEnv = {};
  if (env[API_KEY_ENV] === undefined && keyFile === null) apiKeyEnv[API_KEY_ENV] = generateApiKey();
  const child = spawn(HOST_BINARY, flags, {
    cwd: REPO_ROOT,
    env: { ...childEnv, RUST_LOG: process.env.RUST_LOG ?? 'info', ...apiKeyEnv, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const echo = process.env.TM_TEST_LOG === '1';
  child.stdout.on('data', (d) => {
    log.push(d);
    if (echo) process.stderr.write(`[host] ${d}`);
  });
  child.stderr.on('data', (d) => {
    log.push(d);
    if (echo) process.stderr.write(`[host] ${d}`);
  });
  let exited = null;
  const exit = once(child, 'exit').then(([code, signal]) => {
    exited = { code, signal };
    running.delete(child);
  });

  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  let ready;
  try {
    ready = await waitForReadyFile(readyFile, timeoutMs, () => exited);
  } catch (e) {
    child.kill('SIGKILL');
    await exit;
    cleanup();
    throw new Error(`host-example did not start: ${e.message}\n--- host output ---\n${log.text()}`);
  }

  // The key a portal backend would use: ours, the caller's, or the file's first one.
  const keys = env[API_KEY_ENV] ?? apiKeyEnv[API_KEY_ENV] ?? (keyFile ? readFileSync(resolve(REPO_ROOT, keyFile), 'utf8') : '');
  const apiKey = keys.split(/[\s,]+/).find((k) => k !== '') ?? null;

  const mockUrl = ready.mock ?? null;
  const mockCall = async (method, path, body) => {
    if (!mockUrl) throw new Error('this host runs a real provider: there is no mock UPS');
    const r = await fetch(`${mockUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path} on the mock UPS answered ${r.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  };

  let stopping = null;
  return {
    host: ready.host,
    mock: mockUrl,
    dir,
    pid: child.pid,
    /** The portal backend's API key (Node side only: never give it to a page). */
    apiKey,
    /**
     * Mint a session token as the portal's backend does (`POST /api/v1/sessions` with
     * `apiKey`): default user `admin`, admin of demo-co and acme, 1 hour.
     */
    mintSession: (o = {}) => {
      if (!apiKey) throw new Error('this host was started without an API key the harness knows');
      return mintSession(ready.host, apiKey, o);
    },
    logs: () => log.text(),
    /** Stop the host (SIGTERM, then SIGKILL after 5 s) and remove its folder. Idempotent. */
    stop() {
      stopping ??= (async () => {
        if (!exited) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exit;
          clearTimeout(timer);
        }
        cleanup();
      })();
      return stopping;
    },
    /**
     * Send `signal` (default SIGKILL: no shutdown at all, as a crash or `kill -9`), wait for
     * the process to end and remove its folder; resolves to `{code, signal}`. A database or
     * key the caller passed with `--db` / `--key-file` is left alone.
     */
    kill(signal = 'SIGKILL') {
      stopping ??= (async () => {
        if (!exited) {
          child.kill(signal);
          await exit;
        }
        cleanup();
      })();
      return stopping.then(() => exited);
    },
    /** Replace the mock UPS faults (`{}` = behave normally). */
    mockFaults: (faults) => mockCall('POST', '/mock/faults', faults),
    /** The mock UPS counters. */
    mockStats: () => mockCall('GET', '/mock/stats'),
    /** Forget the mock's codes, tokens, faults and counters. */
    mockReset: () => mockCall('POST', '/mock/reset', {}),
    /** Change a mock UPS user's password (invalidates every refresh token of that user). */
    passwordChange: (user, newPassword) =>
      mockCall('POST', '/mock/password-change', { user, new_password: newPassword }),
  };
}

/** A TCP port free on 127.0.0.1 right now (for a host whose `--public-url` must name its port). */
export async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function waitForReadyFile(path, timeoutMs, exited) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = exited();
    if (status) {
      throw new Error(`it exited (code ${status.code}, signal ${status.signal}) before it was ready`);
    }
    if (existsSync(path)) {
      try {
        const ready = JSON.parse(readFileSync(path, 'utf8'));
        if (typeof ready.host === 'string') return ready;
      } catch {
        // written but not complete yet
      }
    }
    if (Date.now() > deadline) throw new Error(`no ready file after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Flags of Debian's Chromium for tests: headless, no network of its own, no sandbox (root). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launch headless Debian Chromium through playwright-core (no downloaded browser builds). */
export async function launchBrowser(options = {}) {
  const { chromium } = await import('playwright-core');
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: run \`bash scripts/setup.sh\` (apt package chromium)`);
  }
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, ...options });
}

/**
 * Launch headless Debian Chromium with its own persistent profile whose cookie setting is
 * `thirdPartyCookies` — `'block'` (chrome://settings/cookies "Block third-party cookies": the
 * profile preference `profile.cookie_controls_mode` = 1) or `'allow'` (0) — and return its one
 * browser context (`close()` also ends the browser and removes the profile). Chromium 148's
 * `--test-third-party-cookie-phaseout` switch no longer changes anything (an `'allow'` profile
 * launched with it still sends third-party cookies); a Playwright `newContext()` and a fresh
 * profile block them too, but only as Chromium's current default: the preference pins it.
 * `contextOptions` are `launchPersistentContext`'s (viewport, locale, bypassCSP…).
 */
export async function launchProfile({ thirdPartyCookies = 'block', contextOptions = {}, args = [] } = {}) {
  const { chromium } = await import('playwright-core');
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} does not exist: run \`bash scripts/setup.sh\` (apt package chromium)`);
  }
  const mode = { block: 1, allow: 0 }[thirdPartyCookies];
  if (mode === undefined) throw new Error(`thirdPartyCookies must be 'block' or 'allow', not ${thirdPartyCookies}`);
  const profile = mkdtempSync(join(tmpdir(), 'tm-profile-'));
  mkdirSync(join(profile, 'Default'));
  writeFileSync(join(profile, 'Default', 'Preferences'), JSON.stringify({ profile: { cookie_controls_mode: mode } }));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: [...CHROMIUM_ARGS, ...args],
      ...contextOptions,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  const close = context.close.bind(context);
  context.close = async () => {
    await close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return context;
}

/** Save a full-page screenshot as `target/e2e/<name>.png`; returns its path. */
export async function screenshot(page, name) {
  const folder = join(TARGET_DIR, 'e2e');
  mkdirSync(folder, { recursive: true });
  const path = join(folder, `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
  '.ts': 'text/plain; charset=utf-8',
};

/**
 * Serve `root` over HTTP on 127.0.0.1 (ephemeral port): the stand-in for a portal team's own
 * web server. `headers` (an object, or a function of the request returning one) are added to
 * every file response, e.g. a Content-Security-Policy. `routes` are the portal's own dynamic
 * answers (its backend), keyed by `"METHOD /path"`: `async (req, res, url) => void`; they win
 * over files (see {@link portalSessionRoute}). `host` is the host name the origin names
 * (`127.0.0.1`, or `localhost` for a portal on another site than a 127.0.0.1 host); the server
 * listens on 127.0.0.1 either way. Files are served under `prefix` (e.g. `/assets/token-manager/`,
 * ending in `/`); `root` may be `null` (routes only).
 * Returns `{ origin, port, close() }`.
 */
export async function serveStatic(root, { headers = {}, routes = {}, host = '127.0.0.1', prefix = '/' } = {}) {
  const base = root === null ? null : resolve(root);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const route = routes[`${req.method} ${url.pathname}`];
    if (route) {
      Promise.resolve()
        .then(() => route(req, res, url))
        .catch((e) => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`portal error: ${e.message}`);
        });
      return;
    }
    if (base === null || !url.pathname.startsWith(prefix)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url.pathname}`);
      return;
    }
    let path = normalize(join(base, decodeURIComponent(url.pathname.slice(prefix.length - 1))));
    if (path !== base && !path.startsWith(base + sep)) {
      res.writeHead(403).end('forbidden');
      return;
    }
    try {
      if (statSync(path).isDirectory()) path = join(path, 'index.html');
      const body = readFileSync(path);
      res.writeHead(200, {
        'content-type': MIME[extname(path)] ?? 'application/octet-stream',
        'cache-control': 'no-store',
        ...(typeof headers === 'function' ? headers(req) : headers),
      });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${url.pathname}`);
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    origin: `http://${host}:${port}`,
    port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * The portal backend's session endpoint, as a `serveStatic` route (`'POST /portal/session-token'`):
 * a same-origin POST (the page's `getSessionToken`) gets `{session_token, expires_at}` from
 * `mint()` — typically `() => env.mintSession({...})`, which calls the host's
 * `/api/v1/sessions` with the API key, so the key never leaves the server. A cross-origin
 * request (its `Origin` is not the portal's) is refused with 403. `calls` counts the tokens
 * handed out.
 */
export function portalSessionRoute(mint) {
  const route = async (req, res) => {
    const origin = req.headers.origin;
    const own = `http://${req.headers.host}`;
    if (origin !== undefined && origin !== own) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('same-origin requests only');
      return;
    }
    for await (const _ of req); // drain the body
    const { sessionToken, expiresAt } = await mint();
    route.calls += 1;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify({ session_token: sessionToken, expires_at: expiresAt }));
  };
  route.calls = 0;
  return route;
}
