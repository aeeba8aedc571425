// Refresher at scale on PostgreSQL with several host instances (issue 16): N companies
// (default 100,000) opted in through real exchanges, spread round-robin over 1, 2 or 3 host
// processes sharing one PostgreSQL database (and 1 process over SQLite to compare), all against
// ONE shared mock UPS (the `mock-ups` binary) that answers every refresh after a fixed delay
// (--latency-ms, default 300: a provider's round trip). Time is compressed: the mock's access
// tokens live --ttl seconds (default 900 instead of UPS's 3,599 or 14,399), so with the host's
// default 300 s skew and 50 % jitter each token comes due 300–450 s before it expires and one
// whole refresh round fits in about ten minutes.
//
// Each config runs on a fresh database (a new throw-away PostgreSQL cluster, bench/lib/postgres.mjs,
// or a new SQLite file) and a fresh mock, one after another:
//   1. the hosts start (same TOKEN_MANAGER_KEY and TOKEN_MANAGER_API_KEY, --provider ups at the
//      mock, one --redirect-uri registered at the mock), their migrations running at once;
//   2. the opt-ins, as fast as the hosts allow (--optin-concurrency in flight), company i on
//      instance i mod n, with session tokens minted with the API key (one per 100 companies);
//   3. the refresh phase, from the first due time until every company has been refreshed once
//      (one whole round) or the last first token has expired;
//   4. the verdict from the history table (bench/lib/refresh.mjs): per replaced token its due
//      time recomputed from (token_created, token_expires), the successor's lag after it, the
//      slack left before expiry, late (renewed after the predecessor expired), the backlog;
//      refreshes/s (mean and busiest 30 s), CPU seconds per instance (and of PostgreSQL and the
//      mock), database rows written per refresh (PostgreSQL statistics: pg_stat_database and
//      pg_stat_user_tables deltas, commits, WAL bytes), peak RSS per instance.
// The retrieval job is off (--retrieval-interval-ms 0): this measures the refresher.
//
// Usage: node bench/refresher-scale.mjs [--configs pg1,pg2,pg3,sqlite1] [--companies N] [--ttl S]
//   [--latency-ms MS] [--concurrency C] [--jitter P] [--tick MS] [--skew S]
//   [--optin-concurrency K] [--pg-durable on|off] [--label NAME] [--quick]
// --quick: 5,000 companies, tokens living 180 s (due 90–135 s before expiry, i.e. 45–90 s after
// creation); a run of all four configs takes ≈ 13 minutes; with 100,000, pg2 took ≈ 18 minutes.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { HOST_BIN, cpuSecondsOf, hasFlag, machine, memoryOf, options, round, saveResult, sessions, sleep, startHost, startMock } from './lib/common.mjs';
import { request } from './lib/oauth.mjs';
import { startPostgres, writeCounters, writeDelta } from './lib/postgres.mjs';
import { analyseHistory, historyCounts, hostJitterPercent, optIns, postgresReader, sqliteReader } from './lib/refresh.mjs';

const opt = options({
  configs: 'pg1,pg2,pg3,sqlite1',
  companies: 100000,
  ttl: 900,
  'latency-ms': 300,
  concurrency: 32,
  jitter: 50,
  tick: 1000,
  skew: 300,
  'optin-concurrency': 48,
  'pg-durable': 'on',
  label: 'refresher-scale',
});
const N = opt.quick ? 5000 : opt.companies;
const ttl = opt.quick ? 180 : opt.ttl;
const latencyMs = opt['latency-ms'];
const concurrency = opt.concurrency;
const jitter = opt.jitter;
const tick = opt.tick;
const skew = opt.skew;
const optinConcurrency = opt['optin-concurrency'];
const durable = opt['pg-durable'] !== 'off';
const configs = opt.configs.split(',').map((c) => {
  const m = c.trim().match(/^(pg|sqlite)(\d+)$/);
  if (!m) throw new Error(`--configs: '${c}' is not pgN or sqliteN`);
  return { name: c.trim(), engine: m[1] === 'pg' ? 'postgres' : 'sqlite', instances: Number(m[2]) };
});
if (configs.some((c) => c.engine === 'sqlite' && c.instances !== 1)) throw new Error('SQLite configs run one instance (sqlite1)');

// The schedule: lead = min(skew, ttl/2), each token due lead … lead × (1 + jitter/100) before it
// expires (bench/lib/refresh.mjs refreshDueAt has the exact formula).
const lead = Math.min(skew, ttl / 2);
const supports = {
  concurrency: hasFlag(HOST_BIN, '--refresh-concurrency'),
  jitter: hasFlag(HOST_BIN, '--refresh-jitter-percent'),
};
// A build without the jitter flag runs core's default (bench/lib/refresh.mjs hostJitterPercent);
// the verdict's `early` count (refreshes more than 1 s before the due time assumed here) shows a
// wrong guess.
const jitterPercent = hostJitterPercent(HOST_BIN, jitter);
const schedule = { skewMs: skew * 1000, jitterPercent };
const companies = Array.from({ length: N }, (_, i) => `sc-${String(i).padStart(6, '0')}`);
// The page the provider sends the browser back to: registered at the mock, the same for every
// host (its origin is allowed on each); the driver reads the code from the mock's redirect, so
// nothing serves it (loopback, where the host allows plain http; port 9, where nothing listens).
const REDIRECT = 'http://127.0.0.1:9/admin/token-manager';

console.log(
  `  ${N.toLocaleString('en')} companies; access tokens live ${ttl} s, due ${lead}–${round(lead * (1 + jitterPercent / 100), 0)} s before expiry ` +
    `(skew ${skew} s, jitter ${jitterPercent} %); mock refresh latency ${latencyMs} ms; refresh concurrency ${concurrency} per instance` +
    `${supports.concurrency ? '' : ' (NOT supported by this host build: it runs its built-in refresher)'}; tick ${tick} ms; ` +
    `PostgreSQL ${durable ? 'durable (fsync on, synchronous_commit on)' : 'fsync off'}; configs ${configs.map((c) => c.name).join(', ')}`,
);

const mockStats = async (mock) => JSON.parse((await request(`${mock.mock}/mock/stats`)).body);
const ioWritten = (pid) => Number((readFileSync(`/proc/${pid}/io`, 'utf8').match(/^write_bytes:\s+(\d+)/m) ?? [])[1] ?? 0);
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
/** Refreshes each host logged (its refresher's `outcome=Refreshed` lines). */
const loggedRefreshes = (host) => (readFileSync(host.log, 'utf8').match(/refresher.*Refreshed/g) ?? []).length;

async function runConfig(config) {
  console.log(`\n  --- ${config.name}: ${config.instances} instance${config.instances > 1 ? 's' : ''} over ${config.engine === 'postgres' ? 'one PostgreSQL database' : 'SQLite'}`);
  const mock = await startMock(
    ['--redirect-uri', REDIRECT, '--access-ttl-secs', String(ttl), '--faults', JSON.stringify({ refresh: { kind: 'slow', slow_ms: latencyMs } })],
    { env: { RUST_LOG: 'warn' } },
  );
  let pg = null;
  const hosts = [];
  try {
    let dbUrl;
    if (config.engine === 'postgres') {
      pg = await startPostgres({ durable });
      dbUrl = pg.createDatabase('tm_bench');
    }
    const env = {
      TOKEN_MANAGER_KEY: randomBytes(32).toString('base64'),
      TOKEN_MANAGER_API_KEY: `tmk_${randomBytes(32).toString('base64url')}`,
    };
    const args = [
      '--provider', 'ups',
      '--ups-host', mock.mock,
      '--client-id', 'demo-client',
      '--client-secret-file', mock.secretFile,
      '--redirect-uri', REDIRECT,
      '--allowed-origin', new URL(REDIRECT).origin,
      '--refresh-tick-ms', String(tick),
      '--refresh-skew-secs', String(skew),
      '--exchange-per-minute', '100000000',
      '--retrieval-interval-ms', '0',
    ];
    if (supports.concurrency) args.push('--refresh-concurrency', String(concurrency));
    if (supports.jitter) args.push('--refresh-jitter-percent', String(jitter));
    const t0start = Date.now();
    hosts.push(
      ...(await Promise.all(
        Array.from({ length: config.instances }, (_, k) => startHost(args, { env, db: dbUrl, name: `${config.name}-${k + 1}` })),
      )),
    );
    console.log(`  ${hosts.length} host${hosts.length > 1 ? 's' : ''} ready in ${round((Date.now() - t0start) / 1000)} s (started at once, migrations included)`);
    const read = pg ? postgresReader(pg, 'tm_bench') : sqliteReader(hosts[0].db);

    // Opt-ins.
    const m0 = Date.now();
    const auth = await sessions(hosts[0], companies);
    console.log(`  ${auth.minted} session tokens minted in ${round((Date.now() - m0) / 1000)} s`);
    const cpuBefore = hosts.map((h) => cpuSecondsOf(h.pid));
    const pgCpuBefore = pg?.serverCpuSeconds() ?? 0;
    const t0 = Date.now();
    const o = await optIns(companies, {
      hostOf: (i) => hosts[i % hosts.length].host,
      auth,
      concurrency: optinConcurrency,
      t0,
      onProgress: (n) => console.log(`  … ${n.toLocaleString('en')} opted in (${round((Date.now() - t0) / 1000, 0)} s)`),
    });
    const optinsDone = Date.now();
    const optinCpu = hosts.map((h, k) => cpuSecondsOf(h.pid) - cpuBefore[k]);
    const optinPgCpu = (pg?.serverCpuSeconds() ?? 0) - pgCpuBefore;
    console.log(`  opt-ins: ${N.toLocaleString('en')} in ${round(o.seconds)} s = ${round(o.rate, 0)}/s, ${o.failed} failed${o.firstError ? ` (first: ${o.firstError})` : ''}`);

    // Refresh phase: from the first due time (or the end of the opt-ins, if later) until every
    // company has been refreshed once, or the last first token has expired (+ 60 s).
    const firstDue = t0 + (ttl - lead * (1 + jitterPercent / 100)) * 1000;
    await sleep(Math.max(0, firstDue - Date.now()));
    const phaseStart = Date.now();
    const cpu0 = hosts.map((h) => cpuSecondsOf(h.pid));
    const mockCpu0 = cpuSecondsOf(mock.pid);
    const pgCpu0 = pg?.serverCpuSeconds() ?? 0;
    const io0 = hosts.map((h) => ioWritten(h.pid));
    const w0 = pg ? writeCounters(pg, 'tm_bench') : null;
    const s0 = await mockStats(mock);
    const deadline = optinsDone + ttl * 1000 + 60_000;
    let waiting = N;
    while (Date.now() < deadline) {
      await sleep(Math.min(15_000, Math.max(0, deadline - Date.now())));
      const s = await mockStats(mock);
      const h = historyCounts(read);
      waiting = h.refreshed_never + (N - h.companies);
      console.log(`  t+${round((Date.now() - t0) / 1000, 0)} s: ${(s.refreshes_succeeded - s0.refreshes_succeeded).toLocaleString('en')} refreshes in the phase, ${waiting.toLocaleString('en')} companies not refreshed yet`);
      if (waiting === 0) break;
    }
    const phaseEnd = Date.now();
    const phaseSeconds = (phaseEnd - phaseStart) / 1000;
    const cpu = hosts.map((h, k) => cpuSecondsOf(h.pid) - cpu0[k]);
    const mockCpu = cpuSecondsOf(mock.pid) - mockCpu0;
    const pgCpu = (pg?.serverCpuSeconds() ?? 0) - pgCpu0;
    const written = hosts.map((h, k) => ioWritten(h.pid) - io0[k]);
    const s1 = await mockStats(mock);
    const phaseRefreshes = s1.refreshes_succeeded - s0.refreshes_succeeded;
    const memory = hosts.map((h) => memoryOf(h.pid));
    const perInstance = hosts.map(loggedRefreshes);
    const v = analyseHistory(read, { companies: N, now: phaseEnd, schedule, since: phaseStart });
    // PostgreSQL's statistics reach the views within ~1 s of a busy backend's commit and ~10 s
    // of an idle one's: wait, then count the refreshes up to the same moment.
    let rows = null;
    if (pg) {
      await sleep(11_000);
      const d = writeDelta(w0, writeCounters(pg, 'tm_bench'));
      const s2 = await mockStats(mock);
      const refreshesCounted = s2.refreshes_succeeded - s0.refreshes_succeeded;
      const per = (x) => round(x / Math.max(1, refreshesCounted), 2);
      rows = {
        refreshes_counted: refreshesCounted,
        ...d,
        rows_per_refresh: per(d.rows),
        inserted_per_refresh: per(d.inserted),
        updated_per_refresh: per(d.updated),
        deleted_per_refresh: per(d.deleted),
        commits_per_refresh: per(d.commits),
        wal_kib_per_refresh: round(d.wal_bytes / 1024 / Math.max(1, refreshesCounted), 2),
        per_table_per_refresh: Object.fromEntries(
          Object.entries(d.tables).map(([t, x]) => [t, { inserted: per(x.inserted), updated: per(x.updated), deleted: per(x.deleted) }]),
        ),
      };
    }
    const result = {
      config: config.name,
      engine: config.engine,
      instances: config.instances,
      companies: N,
      optin: {
        seconds: round(o.seconds, 1),
        per_s: round(o.rate, 0),
        failed: o.failed,
        first_error: o.firstError || undefined,
        host_cpu_s: optinCpu.map((x) => round(x, 1)),
        postgres_cpu_s: pg ? round(optinPgCpu, 1) : undefined,
      },
      refresh_phase_s: round(phaseSeconds, 0),
      phase_refreshes: phaseRefreshes,
      refreshes_per_s: round(phaseRefreshes / phaseSeconds, 1),
      refresh_requests: s1.refresh_requests - s0.refresh_requests,
      refresh_tokens_spent: s1.refresh_tokens_spent,
      // Refreshes the mock refused (a refresh token already spent: two instances refreshing one
      // company, or a lost rotation); absent in older mocks.
      refreshes_refused: s1.refreshes_refused,
      mock_refreshes_succeeded: s1.refreshes_succeeded,
      refreshes_per_instance_logged: perInstance,
      ...v,
      round_complete: waiting === 0,
      host_cpu_s: cpu.map((x) => round(x, 1)),
      host_cpu_ms_per_refresh: round((sum(cpu) / Math.max(1, phaseRefreshes)) * 1000, 2),
      host_cpu_percent_of_one_core: cpu.map((x) => round((x / phaseSeconds) * 100, 1)),
      postgres_cpu_s: pg ? round(pgCpu, 1) : undefined,
      postgres_cpu_ms_per_refresh: pg ? round((pgCpu / Math.max(1, phaseRefreshes)) * 1000, 2) : undefined,
      mock_cpu_s: round(mockCpu, 1),
      host_write_bytes_per_refresh: round(sum(written) / Math.max(1, phaseRefreshes), 0),
      database_writes: rows,
      peak_rss_mib: memory.map((m) => m.peak_rss_mib),
      postgres: pg ? { version: pg.version, settings: pg.settings } : undefined,
    };
    const lag = v.lag_after_due_s;
    console.log(
      `  ${config.name}: ${v.refreshes.toLocaleString('en')} refreshes, ${v.late} late, ${v.expired_without_successor} expired without successor, ${v.early} before due; ` +
        `lag p50/p99/max ${lag.p50}/${lag.p99}/${lag.max} s; ${result.refreshes_per_s}/s mean (busiest 30 s ${v.rate.busiest_30s_per_s}/s); max backlog ${v.max_backlog.toLocaleString('en')}; ` +
        `CPU ${result.host_cpu_s.join(' + ')} s (${result.host_cpu_ms_per_refresh} ms/refresh)${pg ? `, PostgreSQL ${result.postgres_cpu_s} s` : ''}; ` +
        `${rows ? `${rows.rows_per_refresh} rows, ${rows.commits_per_refresh} commits, ${rows.wal_kib_per_refresh} KiB WAL per refresh; ` : ''}peak RSS ${result.peak_rss_mib.join(' / ')} MiB`,
    );
    return result;
  } finally {
    for (const h of hosts) await h.stop();
    await mock.stop();
    if (pg) await pg.stop();
  }
}

const results = [];
for (const c of configs) {
  results.push(await runConfig(c));
  await sleep(2000);
}

// --- the table -------------------------------------------------------------------------------
const f = (x) => (x === undefined || x === null ? '—' : typeof x === 'number' ? x.toLocaleString('en') : String(x));
const table = [
  ['companies (opt-ins failed)', (r) => `${f(r.companies)} (${r.optin.failed})`],
  ['opt-ins/s (all instances)', (r) => f(r.optin.per_s)],
  ['refreshes in the phase / phase length', (r) => `${f(r.phase_refreshes)} / ${r.refresh_phase_s} s`],
  ['refreshes/s, mean over the phase', (r) => f(r.refreshes_per_s)],
  ['refreshes/s, busiest 30 s', (r) => f(r.rate.busiest_30s_per_s)],
  ['refreshes per instance (host logs)', (r) => r.refreshes_per_instance_logged.map(f).join(' / ')],
  ['lag after due p50 / p99 / max', (r) => `${r.lag_after_due_s.p50} / ${r.lag_after_due_s.p99} / ${r.lag_after_due_s.max} s`],
  ['slack before expiry, min / median', (r) => `${r.slack_before_expiry_s.min} / ${r.slack_before_expiry_s.p50} s`],
  ['largest backlog (due, not yet renewed)', (r) => f(r.max_backlog)],
  ['**late** (renewed after expiry) / expired unrenewed', (r) => `**${r.late}** / ${r.expired_without_successor}`],
  ['refreshed before the computed due time', (r) => f(r.early)],
  ['refresh calls not (yet) succeeded at the end / refused by the mock (whole run)', (r) => `${f(r.refresh_requests - r.phase_refreshes)} / ${f(r.refreshes_refused)}`],
  ['whole round done', (r) => (r.round_complete ? 'yes' : 'no')],
  ['host CPU s per instance (phase)', (r) => r.host_cpu_s.join(' / ')],
  ['host CPU ms per refresh (all instances)', (r) => f(r.host_cpu_ms_per_refresh)],
  ['PostgreSQL CPU s (ms per refresh)', (r) => (r.engine === 'postgres' ? `${r.postgres_cpu_s} (${r.postgres_cpu_ms_per_refresh})` : '—')],
  ['mock UPS CPU s', (r) => f(r.mock_cpu_s)],
  ['DB rows written per refresh (ins + upd + del)', (r) => (r.database_writes ? `${r.database_writes.rows_per_refresh} (${r.database_writes.inserted_per_refresh} + ${r.database_writes.updated_per_refresh} + ${r.database_writes.deleted_per_refresh})` : '—')],
  ['DB commits / WAL KiB per refresh', (r) => (r.database_writes ? `${r.database_writes.commits_per_refresh} / ${r.database_writes.wal_kib_per_refresh}` : '—')],
  ['bytes the host processes wrote to disk per refresh (SQLite: its file and WAL)', (r) => f(r.host_write_bytes_per_refresh)],
  ['peak RSS per instance (MiB)', (r) => r.peak_rss_mib.join(' / ')],
];
const header = ['figure', ...results.map((r) => r.config)];
const rowsOut = table.map(([name, get]) => [name, ...results.map(get)]);
console.log('');
console.log(`| ${header.join(' | ')} |`);
console.log(`| --- | ${results.map(() => '---:').join(' | ')} |`);
for (const r of rowsOut) console.log(`| ${r.join(' | ')} |`);

const pgTwo = results.find((r) => r.engine === 'postgres' && r.instances === 2);
const setup = {
  companies: N,
  access_ttl_s: ttl,
  skew_s: skew,
  lead_s: [lead, round(lead * (1 + jitterPercent / 100), 1)],
  jitter_percent: jitterPercent,
  refresh_latency_ms: latencyMs,
  refresh_concurrency: concurrency,
  refresh_concurrency_supported: supports.concurrency,
  jitter_flag_supported: supports.jitter,
  tick_ms: tick,
  optin_concurrency: optinConcurrency,
  postgres_durable: durable,
};
saveResult(opt.label, {
  setup,
  configs: results,
  table: { header, rows: rowsOut },
  target: 'none late with 2 instances (pg2)',
  met: pgTwo ? pgTwo.late === 0 && pgTwo.expired_without_successor === 0 && pgTwo.round_complete : null,
  method:
    `${N.toLocaleString('en')} companies opt in through real exchanges (\`POST /start\`, the mock's sign-in screens, \`POST /exchange\`), round-robin over the instances, ${optinConcurrency} in flight; ` +
    `one shared mock UPS (\`mock-ups\` binary) answers every refresh after ${latencyMs} ms and issues access tokens living ${ttl} s, so each is due ${lead}–${round(lead * (1 + jitterPercent / 100), 0)} s before it expires (skew ${skew} s, jitter ${jitterPercent} %). ` +
    `Each host runs ${supports.concurrency ? `${concurrency} refreshes in flight (\`--refresh-concurrency\`)` : 'its built-in refresher (this build has no --refresh-concurrency)'}, tick ${tick} ms, retrieval job off. ` +
    `PostgreSQL ${durable ? 'with fsync and synchronous_commit on' : 'with fsync off'}, one fresh cluster per config; SQLite in WAL mode as the host opens it. ` +
    'The refresh phase runs from the first due time until every company has been refreshed once (one whole round) or the last first token has expired. ' +
    'Lag = successor token_created − due time recomputed from the predecessor (includes the provider latency); late = successor created after the predecessor expired. ' +
    'CPU from /proc (user + system; PostgreSQL: every server process). Rows written: pg_stat_database tup_inserted + tup_updated + tup_deleted over the phase, per refresh the mock counted.',
  machine_at_end: machine(),
});
