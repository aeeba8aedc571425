// Budget of issue 5: what a portal downloads — the wasm, wasm-bindgen's JS glue and the
// wrapper, each brotli-compressed (quality 11) as a server would send them — stays within
// 160 KiB. Prints the figure.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { brotliCompressSync, constants } from 'node:zlib';

import { PKG_DIST } from '../harness/index.mjs';

const BUDGET = 160 * 1024;
const FILES = ['token_manager_widget_bg.wasm', 'token_manager_widget.js', 'index.js'];

test('wasm + JS glue + wrapper, brotli 11, fit in 160 KiB', () => {
  let raw = 0;
  let compressed = 0;
  const rows = [];
  for (const file of FILES) {
    let bytes;
    try {
      bytes = readFileSync(join(PKG_DIST, file));
    } catch {
      assert.fail(`pkg/dist/${file} is missing: run \`bash scripts/build-widget.sh\` first`);
    }
    const br = brotliCompressSync(bytes, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
    }).length;
    raw += bytes.length;
    compressed += br;
    rows.push(`  ${file.padEnd(30)} ${String(bytes.length).padStart(8)} B  brotli ${String(br).padStart(7)} B`);
  }
  const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
  console.log(
    `bundle size (pkg/dist):\n${rows.join('\n')}\n  total ${raw} B (${kib(raw)}), brotli ${compressed} B (${kib(compressed)}) of ${kib(BUDGET)} budget`,
  );
  assert.ok(
    compressed <= BUDGET,
    `brotli size ${compressed} B (${kib(compressed)}) exceeds the ${kib(BUDGET)} budget`,
  );
});
