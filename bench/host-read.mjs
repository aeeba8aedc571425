// Host reads: `GET /api/optin/tokens` at scale. Seeds N history rows for one company
// (default 100,000), then measures with wrk on loopback:
//   - unloaded latency (one connection, back to back) of page 1 and the last page, 10 and 100
//     rows per page: p50 / p99;
//   - throughput (requests/s and p99) with concurrent connections, median of repeated runs;
//   - the host's peak RSS.
// Every request carries `Authorization: Bearer <session token>` (minted once with the host's API
// key, for demo-co), as the widget sends it: the figures include the host's check of the token.
// `--engine postgres`: the same against a throw-away PostgreSQL cluster (bench/lib/postgres.mjs,
// fsync on) instead of the SQLite file; saved as host-read-pg unless --label says otherwise.
// Usage: node bench/host-read.mjs [--rows N] [--runs R] [--seconds S] [--connections C] [--engine sqlite|postgres] [--label L] [--quick]


import { cpuSecondsOf, fetchFresh, median, memoryOf, mintSession, options, round, saveResult, startHost, wrk } from './lib/common.mjs';
import { startPostgres } from './lib/postgres.mjs';

const opt = options({ rows: 100000, runs: 3, seconds: 8, connections: 32, engine: 'sqlite', label: '' });
if (!['sqlite', 'postgres'].includes(opt.engine)) throw new Error(`--engine: sqlite or postgres, not ${opt.engine}`);
const label = opt.label || (opt.engine === 'postgres' ? 'host-read-pg' : 'host-read');
const rows = Number(opt.rows);
const runs = opt.quick ? 1 : Number(opt.runs);
const seconds = opt.quick ? 3 : Number(opt.seconds);
const connections = Number(opt.connections);
const COMPANY = 'demo-co';
const TARGET_RPS = 5000;
const TARGET_RSS_MIB = 60;

const pg = opt.engine === 'postgres' ? await startPostgres() : null;
const t0 = performance.now();
const host = await startHost(['--seed-history', `${COMPANY}:${rows}`], { name: label, db: pg?.createDatabase('tm_bench') });
const startup_ms = round(performance.now() - t0, 0);
try {
  // One token for the whole run (an hour; the run takes a few minutes).
  const session = await mintSession(host, [COMPANY]);
  const headers = { Authorization: `Bearer ${session.token}` };
  const url = (page, per) => `${host.host}/api/optin/tokens?company=${COMPANY}&page=${page}&per_page=${per}`;

  // Sanity: the answer has the rows we seeded.
  const first = await (await fetchFresh(url(1, 10), { headers })).json();
  if (first.total !== rows) throw new Error(`expected ${rows} rows, host reports ${JSON.stringify(first).slice(0, 300)}`);

  const latency = [];
  for (const per of [10, 100]) {
    const last = Math.max(1, Math.ceil(rows / per));
    const middle = Math.max(1, Math.ceil(last / 2));
    for (const [name, page] of [['page 1', 1], ['middle page', middle], ['last page', last]]) {
      const check = await (await fetchFresh(url(page, per), { headers })).json();
      if (check.page !== page || check.rows.length === 0) throw new Error(`page ${page}: ${JSON.stringify(check).slice(0, 200)}`);
      wrk(url(page, per), { seconds: 1, headers }); // warm up
      const samples = [];
      for (let i = 0; i < runs; i++) samples.push(wrk(url(page, per), { connections: 1, seconds: Math.min(seconds, 4), headers }));
      const r = {
        page: name,
        page_number: page,
        per_page: per,
        p50_ms: median(samples.map((s) => s.p50_ms)),
        p99_ms: median(samples.map((s) => s.p99_ms)),
        sequential_rps: median(samples.map((s) => s.rps)),
        errors: samples.reduce((a, s) => a + s.errors, 0),
      };
      latency.push(r);
      console.log(`  latency ${name.padEnd(9)} (${per}/page): p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.sequential_rps} req/s on one connection`);
    }
  }

  const cpu0 = cpuSecondsOf(host.pid);
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const s = wrk(url(1, 10), { threads: 1, connections, seconds, headers });
    samples.push(s);
    console.log(`  throughput run ${i + 1}: ${s.rps} req/s, p99 ${s.p99_ms} ms, errors ${s.errors}`);
  }
  const cpu = cpuSecondsOf(host.pid) - cpu0;
  const lastPer = Math.ceil(rows / 10);
  const deep = wrk(url(lastPer, 10), { threads: 1, connections, seconds, headers });
  console.log(`  throughput last page: ${deep.rps} req/s, p99 ${deep.p99_ms} ms`);
  const mem = memoryOf(host.pid);
  const throughput = {
    url: '/api/optin/tokens?company=demo-co&page=1&per_page=10',
    auth: 'Authorization: Bearer <session token>',
    connections,
    wrk_threads: 1,
    runs,
    seconds,
    rps: median(samples.map((s) => s.rps)),
    p50_ms: median(samples.map((s) => s.p50_ms)),
    p99_ms: median(samples.map((s) => s.p99_ms)),
    errors: samples.reduce((a, s) => a + s.errors, 0),
    host_cpu_seconds_per_1k_requests: round((cpu / samples.reduce((a, s) => a + s.requests, 0)) * 1000, 3),
    last_page_rps: deep.rps,
    last_page_p99_ms: deep.p99_ms,
    target_rps: TARGET_RPS,
    met: median(samples.map((s) => s.rps)) >= TARGET_RPS,
  };
  console.log(`  GET /tokens (${opt.engine}): ${throughput.rps} req/s (median of ${runs}), p99 ${throughput.p99_ms} ms; peak RSS ${mem.peak_rss_mib} MiB`);
  saveResult(label, {
    engine: opt.engine,
    postgres: pg ? { version: pg.version, settings: pg.settings } : undefined,
    rows,
    startup_with_seed_ms: startup_ms,
    latency,
    throughput,
    memory: { ...mem, target_mib: TARGET_RSS_MIB, met: mem.peak_rss_mib < TARGET_RSS_MIB },
  });
} finally {
  await host.stop();
  await pg?.stop();
}
