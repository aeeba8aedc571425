// Core paging over 100,000 records: runs core's criterion bench
// (`cargo bench -p token-manager-core --bench history`) and reads the medians criterion wrote
// to target/criterion/history_100k/<bench>/new/estimates.json.
// Usage: node bench/history.mjs [--quick]

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { ROOT, TARGET, round, saveResult } from './lib/common.mjs';

const { values: opt } = parseArgs({ options: { quick: { type: 'boolean', default: false } } });
const GROUP = 'history_100k';
const BENCHES = [
  ['sort_newest_first', 'sort 100k (newest first)', true],
  ['sort_then_page_1', 'sort + page 1 + format', true],
  ['page_1_of_10', 'page 1 of 10 + format', true],
  ['last_page_of_10', 'last page of 10 + format', true],
  ['last_page_of_100', 'last page of 100 + format', true],
  ['window_only', 'page window arithmetic', false],
];

const criterionArgs = ['--noplot', ...(opt.quick ? ['--warm-up-time', '1', '--measurement-time', '2', '--sample-size', '20'] : [])];
const cargo = spawnSync('cargo', ['bench', '-p', 'token-manager-core', '--bench', 'history', '--', ...criterionArgs], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (cargo.status !== 0) throw new Error(`cargo bench failed (exit ${cargo.status})`);

const show = (ns) => (ns >= 1e6 ? `${round(ns / 1e6, 2)} ms` : ns >= 1e3 ? `${round(ns / 1e3, 2)} µs` : `${round(ns, 1)} ns`);
const benches = BENCHES.map(([id, short, chart]) => {
  const file = join(TARGET, 'criterion', GROUP, id, 'new', 'estimates.json');
  if (!existsSync(file)) throw new Error(`${file} is missing: did the bench ids change in core/benches/history.rs?`);
  const est = JSON.parse(readFileSync(file, 'utf8'));
  const ns = est.median.point_estimate;
  console.log(`  ${GROUP}/${id}: median ${show(ns)}`);
  return { id: `${GROUP}/${id}`, short, chart, median_ns: ns, display: show(ns) };
});
saveResult('history', { records: 100_000, benches, quick: opt.quick });
