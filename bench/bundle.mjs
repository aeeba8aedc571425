// Bundle size: the bytes a portal downloads for the panel (wasm + wasm-bindgen glue + the
// wrapper, as built by scripts/build-widget.sh into pkg/dist/), raw, gzip -9 and brotli -q 11,
// beside the browser bundles of two npm OAuth client libraries compressed the same way, and
// the floor of the customer's stack (the smallest Yew panel, bench/yew-floor).

import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, dirname } from 'node:path';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

import { ROOT, TARGET, saveResult } from './lib/common.mjs';

const require = createRequire(import.meta.url);
// (`--quick` is accepted and ignored: sizes are exact.)
const TARGET_BROTLI = 100 * 1024;

function sizes(file) {
  const bytes = readFileSync(file);
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes, { level: 9 }).length,
    brotli: brotliCompressSync(bytes, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
      },
    }).length,
  };
}

function sum(parts) {
  return parts.reduce((a, p) => ({ raw: a.raw + p.raw, gzip: a.gzip + p.gzip, brotli: a.brotli + p.brotli }), {
    raw: 0,
    gzip: 0,
    brotli: 0,
  });
}

/** The file of an installed package, by its path inside the package. */
function pkgFile(pkg, rel) {
  const dir = dirname(require.resolve(`${pkg}/package.json`));
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version;
  return { file: join(dir, rel), version };
}

const dist = join(ROOT, 'pkg', 'dist');
const ours = ['token_manager_widget_bg.wasm', 'token_manager_widget.js', 'index.js'].map((f) => {
  const file = join(dist, f);
  if (!existsSync(file) || statSync(file).size === 0) {
    throw new Error(`${file} is missing or empty: run bash scripts/build-widget.sh`);
  }
  return { file: `pkg/dist/${f}`, ...sizes(file) };
});
const total = sum(ours);

const others = [
  ['oidc-client-ts', 'dist/browser/oidc-client-ts.min.js', 'browser IIFE bundle, minified, dependencies included; no UI'],
  ['@auth0/auth0-spa-js', 'dist/auth0-spa-js.production.js', 'UMD production bundle, minified, dependencies included; no UI'],
].map(([pkg, rel, note]) => {
  const { file, version } = pkgFile(pkg, rel);
  return { package: pkg, version, file: rel, note, ...sizes(file) };
});

// The floor of the stack: bench/yew-floor (the smallest Yew panel) through the widget's own
// pipeline — same profile, wasm-bindgen --target web, the same wasm-opt passes (kept only if
// smaller after brotli), esbuild-minified glue. No panel on Yew can be smaller than this.
function yewFloor() {
  const dir = join(ROOT, 'bench', 'yew-floor');
  const target = join(TARGET, 'yew-floor');
  const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], ...opts });
  run('cargo', ['build', '--release', '--target', 'wasm32-unknown-unknown', '--locked'], {
    cwd: dir,
    env: { ...process.env, CARGO_TARGET_DIR: target },
  });
  const out = mkdtempSync(join(tmpdir(), 'yew-floor-'));
  try {
    run('wasm-bindgen', ['--target', 'web', '--out-dir', out, '--out-name', 'floor', join(target, 'wasm32-unknown-unknown', 'release', 'yew_floor.wasm')]);
    const wasm = join(out, 'floor_bg.wasm');
    // The widget's own wasm-opt and minify steps (scripts/lib.sh), not copies of their flags.
    run('bash', ['-c', 'source scripts/lib.sh && optimize_wasm "$1"', 'optimize_wasm', wasm], { cwd: ROOT });
    const glue = join(out, 'floor.min.js');
    run('bash', ['-c', 'source scripts/lib.sh && minify_js "$1" "$2"', 'minify_js', join(out, 'floor.js'), glue], { cwd: ROOT });
    const files = [{ file: 'yew-floor wasm', ...sizes(wasm) }, { file: 'yew-floor glue', ...sizes(glue) }];
    return { crate: 'bench/yew-floor', what: 'function component + state + button + keyed list, Yew 0.23 csr', files, total: sum(files) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
const floor = yewFloor();

const result = {
  ours: { files: ours, total, target_brotli: TARGET_BROTLI, met: total.brotli < TARGET_BROTLI },
  yew_floor: floor,
  others,
};
saveResult('bundle', result);

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
for (const f of ours) console.log(`  ${f.file.padEnd(40)} raw ${kib(f.raw).padStart(10)}  gzip ${kib(f.gzip).padStart(10)}  brotli ${kib(f.brotli).padStart(10)}`);
console.log(`  ${'token manager panel (total)'.padEnd(40)} raw ${kib(total.raw).padStart(10)}  gzip ${kib(total.gzip).padStart(10)}  brotli ${kib(total.brotli).padStart(10)}  (target < 100 KiB brotli: ${result.ours.met ? 'met' : 'MISSED'})`);
console.log(`  ${'yew floor (bench/yew-floor)'.padEnd(40)} raw ${kib(floor.total.raw).padStart(10)}  gzip ${kib(floor.total.gzip).padStart(10)}  brotli ${kib(floor.total.brotli).padStart(10)}  (the least any Yew panel downloads)`);
for (const o of others) console.log(`  ${(o.package + ' ' + o.version).padEnd(40)} raw ${kib(o.raw).padStart(10)}  gzip ${kib(o.gzip).padStart(10)}  brotli ${kib(o.brotli).padStart(10)}`);
