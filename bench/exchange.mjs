// `POST /exchange` end to end against the mock UPS: the host validates the body, calls the
// mock's token endpoint (HTTP on loopback), maps the answer with core, seals both tokens with
// AES-256-GCM and commits the grant to SQLite. Each exchange needs a fresh code, so the driver
// first mints codes (`POST /start`, which stores the host's state and verifier, then the mock's
// sign-in screens; not timed), then fires the exchanges `{company, code, state}` with a fixed
// number in flight and reports requests/s (first send → last answer), latency and peak RSS.
// Requests carry session tokens minted with the host's API key (one per 100 companies).
// `--engine postgres`: the grant committed to a throw-away PostgreSQL cluster (bench/lib/postgres.mjs,
// fsync on) instead of the SQLite file; saved as exchange-pg unless --label says otherwise.
// Usage: node bench/exchange.mjs [--codes N] [--concurrency C] [--companies K] [--runs R] [--engine sqlite|postgres] [--label L] [--quick]


import { cpuSecondsOf, median, memoryOf, options, percentile, round, saveResult, sessions, startHost } from './lib/common.mjs';
import { exchange, mintCode, pool } from './lib/oauth.mjs';
import { startPostgres } from './lib/postgres.mjs';

const opt = options({ codes: 3000, concurrency: 32, companies: 256, runs: 3, engine: 'sqlite', label: '' });
if (!['sqlite', 'postgres'].includes(opt.engine)) throw new Error(`--engine: sqlite or postgres, not ${opt.engine}`);
const label = opt.label || (opt.engine === 'postgres' ? 'exchange-pg' : 'exchange');
const codes = opt.quick ? 1000 : Number(opt.codes);
const runs = opt.quick ? 1 : Number(opt.runs);
const concurrency = Number(opt.concurrency);
const companies = Array.from({ length: Number(opt.companies) }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
const TARGET = 1000;

const pg = opt.engine === 'postgres' ? await startPostgres() : null;
const host = await startHost(
  ['--companies', companies.join(','), '--exchange-per-minute', '100000000', '--retrieval-interval-ms', '3600000'],
  { name: label, db: pg?.createDatabase('tm_bench') },
);
try {
  const auth = await sessions(host, companies);
  const results = [];
  for (let run = 1; run <= runs; run++) {
    // Start + sign in (the code lives 60 s at the mock: mint just before use). Not timed.
    await auth.renew(10 * 60_000);
    const m0 = performance.now();
    const bodies = await pool(codes, 16, (i) => {
      const company = companies[i % companies.length];
      return mintCode(host.host, auth.token(company), company);
    });
    const mintSeconds = (performance.now() - m0) / 1000;
    const tokens = bodies.map((b) => auth.token(b.company));
    // Fire.
    const cpu0 = cpuSecondsOf(host.pid);
    const t0 = performance.now();
    const answers = await pool(codes, concurrency, (i) => exchange(host.host, tokens[i], bodies[i]));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSecondsOf(host.pid) - cpu0;
    const ok = answers.filter((a) => a.status === 201);
    const failed = answers.filter((a) => a.status !== 201);
    if (failed.length) console.log(`  ${failed.length} failed, first: HTTP ${failed[0].status} ${failed[0].body.slice(0, 200)}`);
    const ms = ok.map((a) => a.ms);
    const r = {
      rps: round(ok.length / seconds, 0),
      p50_ms: round(percentile(ms, 50), 2),
      p99_ms: round(percentile(ms, 99), 2),
      errors: failed.length,
      mint_per_s: round(codes / mintSeconds, 0),
      host_cpu_ms_per_exchange: round((cpu / codes) * 1000, 3),
    };
    results.push(r);
    console.log(`  run ${run}: ${r.rps} exchanges/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, ${r.errors} errors (started and signed in ${codes} at ${r.mint_per_s}/s; host CPU ${r.host_cpu_ms_per_exchange} ms/exchange)`);
  }
  const mem = memoryOf(host.pid);
  const rps = median(results.map((r) => r.rps));
  saveResult(label, {
    engine: opt.engine,
    postgres: pg ? { version: pg.version, settings: pg.settings } : undefined,
    exchanges: codes,
    concurrency,
    companies: companies.length,
    runs,
    rps,
    p50_ms: median(results.map((r) => r.p50_ms)),
    p99_ms: median(results.map((r) => r.p99_ms)),
    errors: results.reduce((a, r) => a + r.errors, 0),
    host_cpu_ms_per_exchange: median(results.map((r) => r.host_cpu_ms_per_exchange)),
    mint_per_s: median(results.map((r) => r.mint_per_s)),
    per_run: results,
    target_rps: TARGET,
    met: rps >= TARGET,
    memory: { ...mem, target_mib: 60, met: mem.peak_rss_mib < 60 },
    notes:
      `Driver: Node (bench/lib/oauth.mjs) first gets each code as the widget and a browser do (\`POST /start\`, where the host stores state and verifier, then the mock's sign-in screens; not timed), then fires ${codes.toLocaleString('en')} exchanges \`{company, code, state}\` over ${companies.length} companies with ${concurrency} in flight on keep-alive connections, each with a session token (\`Authorization: Bearer\`, minted with the host's API key, one per 100 companies). ` +
      (pg ? `The grant is committed to PostgreSQL ${pg.version} (throw-away cluster on loopback, ${pg.settings.join(', ')}), not SQLite. ` : '') +
      'Each exchange is one host request (session token check, the pending authorization taken by its state, then the code redeemed with the kept verifier) plus one host → mock token call; the driver, the host and the mock share the 2 cores. `--exchange-per-minute` is raised for the run (the default limit of 20/min per user and company on `/start` and `/exchange` is a protection, not a capacity).',
  });
  console.log(`  POST /exchange (${opt.engine}): ${rps} /s (median of ${runs}); peak RSS ${mem.peak_rss_mib} MiB`);
} finally {
  await host.stop();
  await pg?.stop();
}
