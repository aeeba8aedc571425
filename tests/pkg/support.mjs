// Helpers of the npm package tests: pack pkg/ as a tarball and install it into a throwaway
// project, exactly as a portal team would (`npm install token-manager-widget-0.1.0.tgz`).
// Not a test file (the runner picks up `*.test.mjs` only).

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { PKG_DIST, REPO_ROOT } from '../harness/index.mjs';

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
