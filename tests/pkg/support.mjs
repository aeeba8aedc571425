// Helpers of the npm package tests: pack pkg/ as a tarball and install it into a throwaway
// project, exactly as a portal team would (`npm install token-manager-widget-0.1.0.tgz`).
// Not a test file (the runner picks up `*.test.mjs` only).

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { PKG_DIST, REPO_ROOT, launchBrowser, portalSessionRoute, serveStatic, startHost } from '../harness/index.mjs';

const run = promisify(execFile);
export const PKG_DIR = join(REPO_ROOT, 'pkg');

/** Run a command; on failure the error carries its output. */
export async function sh(command, args, options = {}) {
  try {
    return await run(command, args, { maxBuffer: 64 << 20, ...options });
  } catch (e) {
    throw new Error(`${command} ${args.join(' ')} failed (${e.code}):\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

/** A temporary folder, removed by `remove()`. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * `npm pack` pkg/ into `dir`; returns the tarball's path and npm's file list.
 * Needs pkg/dist (scripts/build-widget.sh).
 */
export async function packPackage(dir) {
  if (!existsSync(join(PKG_DIST, 'index.js'))) {
    throw new Error('pkg/dist/index.js is missing: run `bash scripts/build-widget.sh` first');
  }
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', dir], { cwd: PKG_DIR });
  const [info] = JSON.parse(stdout.slice(stdout.indexOf('[')));
  return { tarball: join(dir, info.filename), files: info.files.map((f) => f.path), info };
}

/**
 * A throwaway project in `dir` with the packed tarball installed (offline: the package has no
 * runtime dependency). `files` maps relative paths to contents to write first.
 */
export async function installTarball(dir, tarball, files = {}) {
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'portal-under-test', private: true, type: 'module' }, null, 2),
  );
  for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
  await sh('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', tarball], { cwd: dir });
  return join(dir, 'node_modules', 'token-manager-widget');
}

/** Collect uncaught page errors and console errors of `page`. */
export function collectProblems(page) {
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()} (${m.location().url})`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} for ${r.request().method()} ${r.url()}`);
  });
  return problems;
}

/**
 * A built app run as a portal runs it: `dist` served from its own origin with the portal
 * backend's `POST /portal/session-token` (minting with `mint(env)`), a host that allows that
 * origin, and Chromium.
 */
export async function serveApp(dist, mint) {
  const served = {};
  served.sessionRoute = portalSessionRoute(() => mint(served.env));
  served.site = await serveStatic(dist, { routes: { 'POST /portal/session-token': served.sessionRoute } });
  served.env = await startHost({ args: ['--allowed-origin', served.site.origin] });
  served.browser = await launchBrowser();
  return served;
}

/** Close the browser, stop the host and the servers, remove the temporary directory. */
export async function stopAll({ browser, env, servers = [], tmp }) {
  await browser?.close().catch(() => {});
  await env?.stop();
  for (const server of servers) await server?.close();
  tmp?.remove();
}

/**
 * A Vite app around the packed package, as a portal team builds one: `index.html` (titled
 * `title`, with `body`) and `files` in a fresh directory with the tarball installed,
 * `prepare(app)` run, then `vite build` (with `plugins`, for `target`) into `app/dist`.
 */
export async function buildViteApp(prefix, { title, body, files, plugins = [], target, prepare }) {
  const tmp = tempDir(prefix);
  const { tarball } = await packPackage(tmp.dir);
  const app = join(tmp.dir, 'app');
  mkdirSync(app);
  await installTarball(app, tarball, {
    'index.html': `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,"></head>
<body>${body}</body>
</html>
`,
    ...files,
  });
  await prepare?.(app);
  // Vite from tests/node_modules, the app's dependencies from its own node_modules.
  const { build } = await import('vite');
  await build({
    root: app,
    configFile: false,
    logLevel: 'warn',
    plugins,
    build: { outDir: join(app, 'dist'), emptyOutDir: true, ...(target ? { target } : {}) },
  });
  return { tmp, app };
}
