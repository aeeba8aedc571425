// Reusable helpers of the browser tests (tests/pkg, tests/e2e): a real host-example with its
// mock UPS on ephemeral loopback ports, headless Debian Chromium through playwright-core, a
// tiny static file server, screenshots under target/e2e/.
//
// Prerequisites (scripts/test.sh does them): `cargo build -p host-example --release` and
// `bash scripts/build-widget.sh` (pkg/dist/).

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
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

/**
 * Start `target/release/host-example` on ephemeral loopback ports with a fresh database and key
 * in a temporary folder, and wait until it is listening (its `--ready-file`).
 *
 * @param {object} [o]
 * @param {string[]} [o.args] extra flags (e.g. `['--allowed-origin', origin]`)
 * @param {Record<string,string>} [o.env] extra environment variables
 * @param {string} [o.staticDir] folder served at `/assets/token-manager/` (default pkg/dist)
 * @param {number} [o.timeoutMs] how long to wait for the ready file (default 30 s)
 * @returns {Promise<{host: string, mock: string|null, dir: string, pid: number,
 *   logs: () => string, stop: () => Promise<void>, mockFaults: (faults: object) => Promise<object>,
 *   mockStats: () => Promise<object>, mockReset: () => Promise<object>,
 *   passwordChange: (user: string, newPassword: string) => Promise<object>}>}
 */
export async function startHost({ args = [], env = {}, staticDir = PKG_DIST, timeoutMs = 30_000 } = {}) {
  if (!existsSync(HOST_BINARY)) {
    throw new Error(`${HOST_BINARY} does not exist: run \`cargo build -p host-example --release\` first`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tm-host-'));
  const readyFile = join(dir, 'ready.json');
  const flags = [
    '--listen', '127.0.0.1:0',
    '--mock-listen', '127.0.0.1:0',
    '--db', join(dir, 'tm.db'),
    '--key-file', join(dir, 'key'),
    '--static-dir', staticDir,
    '--ready-file', readyFile,
    ...args,
  ];
  const log = tail();
  // The key comes from --key-file: a TOKEN_MANAGER_KEY or TM_* flag of the caller's shell must
  // not leak in.
  const childEnv = { ...process.env };
  for (const name of Object.keys(childEnv)) {
    if (name === 'TOKEN_MANAGER_KEY' || name.startsWith('TM_')) delete childEnv[name];
  }
  const child = spawn(HOST_BINARY, flags, {
    cwd: REPO_ROOT,
    env: { ...childEnv, RUST_LOG: process.env.RUST_LOG ?? 'info', ...env },
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
 * every response, e.g. a Content-Security-Policy.
 * Returns `{ origin, close() }`.
 */
export async function serveStatic(root, { headers = {} } = {}) {
  const base = resolve(root);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let path = normalize(join(base, decodeURIComponent(url.pathname)));
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
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
