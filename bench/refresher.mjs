// Refresher at scale: N active authorizations (default 10,000) with staggered expiries, and
// whether the host's refresher renews every one before its access token expires.
//
// Time is compressed: the mock issues access tokens living --ttl seconds (default 240 s instead
// of UPS's 4 h), so the refresher (refresh at half the lifetime, since the 300 s skew is capped
// at half) must renew each one within the second half of its life. The N opt-ins are real
// exchanges (each code from `POST /start` and the mock's sign-in screens, with session tokens
// minted with the host's API key, one per 100 companies), paced evenly over --spread seconds,
// one company each. The run lasts until the last opt-in's token would have expired;
// then the history table tells, per company, when each token was replaced and when it expired.
// CPU is the host process's (user + system, /proc/<pid>/stat, the in-process mock included);
// database load is what the host wrote (/proc/<pid>/io write_bytes) and the file sizes.
// Usage: node bench/refresher.mjs [--authorizations N] [--spread S] [--ttl T] [--tick MS] [--quick]

import { readFileSync, statSync, existsSync } from 'node:fs';

import { HOST_BIN, cpuSecondsOf, memoryOf, options, round, saveResult, sessions, sleep, startHost } from './lib/common.mjs';
import { request } from './lib/oauth.mjs';
import { analyseHistory, hostJitterPercent, optIns, sqliteReader } from './lib/refresh.mjs';

const opt = options({ authorizations: 10000, spread: 120, ttl: 240, tick: 250 });
const N = opt.quick ? 1000 : Number(opt.authorizations);
const spread = opt.quick ? 30 : Number(opt.spread);
const ttl = opt.quick ? 60 : Number(opt.ttl);
const tick = Number(opt.tick);
const due = Math.min(300, ttl / 2); // the refresher's skew (300 s), capped at half the lifetime
// The host's refresh jitter (--refresh-jitter-percent, default 50) refreshes each token up to
// 50 % of `due` earlier (TM_BENCH_ASSUME_JITTER=0 for builds before it).
const jitterPercent = hostJitterPercent(HOST_BIN, 50);
const schedule = { skewMs: 300_000, jitterPercent };
const companies = Array.from({ length: N }, (_, i) => `rf-${String(i).padStart(5, '0')}`);

const io = (pid) => {
  const t = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number((t.match(/^write_bytes:\s+(\d+)/m) ?? [])[1] ?? 0);
};
const size = (f) => (existsSync(f) ? statSync(f).size : 0);

console.log(`  ${N.toLocaleString('en')} opt-ins over ${spread} s; access tokens live ${ttl} s, refreshed ${due} s before expiry (+ up to ${jitterPercent} % jitter); refresher tick ${tick} ms`);
const host = await startHost(
  [
    '--access-ttl-secs', String(ttl),
    '--refresh-tick-ms', String(tick),
    '--exchange-per-minute', '100000000',
    '--retrieval-interval-ms', '30000',
  ],
  { env: { TM_COMPANIES: companies.join(',') }, name: 'refresher' },
);
try {
  const auth = await sessions(host, companies);

  // Opt-ins, paced evenly over --spread seconds (each one started, signed in and exchanged).
  const t0 = Date.now() + 1000;
  const cpuStart = cpuSecondsOf(host.pid);
  const { failed, firstError } = await optIns(companies, { hostOf: () => host.host, auth, concurrency: 16, perSecond: N / spread, t0 });
  const optinsDone = Date.now();
  const cpuOptins = cpuSecondsOf(host.pid) - cpuStart;
  console.log(`  opt-ins done in ${round((optinsDone - t0) / 1000)} s (${failed} failed${firstError ? `: ${firstError}` : ''})`);

  // Refresh phase: from the first due time (the earliest a jittered schedule allows) to the
  // last opt-in's expiry (+ 5 s).
  const firstDue = t0 + (ttl - due * (1 + jitterPercent / 100)) * 1000;
  await sleep(Math.max(0, firstDue - Date.now()));
  const cpu0 = cpuSecondsOf(host.pid);
  const w0 = io(host.pid);
  const stats0 = JSON.parse((await request(`${host.mock}/mock/stats`)).body);
  const phaseStart = Date.now();
  const end = optinsDone + ttl * 1000 + 5000;
  while (Date.now() < end) {
    await sleep(Math.min(15_000, end - Date.now()));
    const s = JSON.parse((await request(`${host.mock}/mock/stats`)).body);
    console.log(`  t+${round((Date.now() - t0) / 1000, 0)} s: ${s.refreshes_succeeded} refreshes, ${s.data_calls_total} data calls`);
  }
  const phaseSeconds = (Date.now() - phaseStart) / 1000;
  const cpu = cpuSecondsOf(host.pid) - cpu0;
  const written = io(host.pid) - w0;
  const stats = JSON.parse((await request(`${host.mock}/mock/stats`)).body);
  const mem = memoryOf(host.pid);
  const now = Date.now();

  // Every replaced token: was its successor created before it expired? And is any company's
  // latest token expired with no successor? (bench/lib/refresh.mjs analyseHistory)
  const v = analyseHistory(sqliteReader(host.db), { companies: N, now, schedule });
  const { late, missing } = v;
  const expiredOpen = v.expired_without_successor;
  const neverRefreshed = v.never_refreshed;
  const refreshes = v.refreshes;
  const phaseRefreshes = stats.refreshes_succeeded - stats0.refreshes_succeeded;
  const phaseDataCalls = stats.data_calls_total - stats0.data_calls_total;
  const all = v.all_refreshed_before_expiry && failed === 0;

  const result = {
    authorizations: N,
    spread_s: spread,
    access_ttl_s: ttl,
    refresh_at_s: due,
    tick_ms: tick,
    jitter_percent: jitterPercent,
    optin_failures: failed,
    refreshes,
    late,
    refreshed_before_due: v.early,
    expired_without_successor: expiredOpen,
    never_refreshed: neverRefreshed,
    missing,
    all_refreshed_before_expiry: all,
    lag_after_due_s: v.lag_after_due_s,
    slack_before_expiry_s: v.slack_before_expiry_s,
    refresh_phase_s: round(phaseSeconds, 0),
    refreshes_per_s: round(phaseRefreshes / phaseSeconds, 1),
    phase_refreshes: phaseRefreshes,
    phase_data_calls: phaseDataCalls,
    host_cpu_percent_of_one_core: round((cpu / phaseSeconds) * 100, 1),
    host_cpu_ms_per_job_step: round((cpu / Math.max(1, phaseRefreshes + phaseDataCalls)) * 1000, 2),
    host_cpu_optin_phase_s: round(cpuOptins, 1),
    db_written_mib: round(written / 2 ** 20, 1),
    db_written_kib_per_job_step: round(written / 1024 / Math.max(1, phaseRefreshes + phaseDataCalls), 1),
    db_file_mib: round(size(host.db) / 2 ** 20, 1),
    wal_file_mib: round(size(`${host.db}-wal`) / 2 ** 20, 1),
    mock: {
      refreshes_succeeded: stats.refreshes_succeeded,
      refresh_requests: stats.refresh_requests,
      data_calls_total: stats.data_calls_total,
    },
    memory: { ...mem, target_mib: 60, met: mem.peak_rss_mib < 60 },
  };
  result.method =
    `Compressed time: the mock's access tokens live ${ttl} s (UPS: 14,399 s), so each is refreshed ${due} s before it expires (the 300 s skew capped at half the lifetime)${jitterPercent ? `, plus a jitter of up to ${jitterPercent} % of that (from the token's creation time; bench/lib/refresh.mjs refreshDueAt recomputes each due time)` : ''}, and must be replaced within the remaining ${due} s or more. ` +
    `${N.toLocaleString('en')} companies opt in through real exchanges (\`POST /start\`, the mock's sign-in screens, \`POST /exchange {company, code, state}\`, with session tokens minted with the host's API key), evenly paced over ${spread} s, so expiries are staggered over ${spread} s. ` +
    `The refresher runs as shipped (up to --refresh-concurrency = 32 refreshes in flight, scanning for more as slots free while there is a backlog, else every ${tick} ms tick; time runs ${round(3_599 / ttl, 0)}× faster here than at UPS's 1-hour tokens); the retrieval job runs too (every 30 s and after each opt-in, over every active company), as it would in production. ` +
    'Verdict from the history table: for every replaced token, its successor was created before it expired; at the end no company holds an expired token without a successor.';
  result.table = [
    ['active authorizations', N.toLocaleString('en')],
    ['opt-ins (exchanges) failed', String(failed)],
    ['refreshes committed (replaced tokens)', refreshes.toLocaleString('en')],
    ['replaced after expiry (late)', String(late)],
    ['companies never refreshed / expired without successor', `${neverRefreshed} / ${expiredOpen}`],
    ['**every authorization refreshed before expiry**', all ? '**yes**' : '**no**'],
    ['refresh lag after due time, p50 / p99 / max', `${result.lag_after_due_s.p50} / ${result.lag_after_due_s.p99} / ${result.lag_after_due_s.max} s`],
    ['slack left before expiry, min / median', `${result.slack_before_expiry_s.min} / ${result.slack_before_expiry_s.p50} s`],
    ['refresh rate sustained (refresh phase)', `${result.refreshes_per_s} /s (${phaseRefreshes.toLocaleString('en')} refreshes in ${result.refresh_phase_s} s)`],
    ['retrieval job data calls in the same phase (whole run)', `${phaseDataCalls.toLocaleString('en')} (${stats.data_calls_total.toLocaleString('en')})`],
    ['host CPU during the refresh phase (mock UPS included: it runs in the host process)', `${result.host_cpu_percent_of_one_core} % of one core, ${result.host_cpu_ms_per_job_step} ms per refresh or data call`],
    ['database: bytes the host wrote during the refresh phase (WAL + checkpoints, fsync per commit)', `${result.db_written_mib} MiB, ${result.db_written_kib_per_job_step} KiB per refresh or data call (each is two or more write transactions: lease claim, commit or release)`],
    ['database: file / WAL at the end', `${result.db_file_mib} MiB / ${result.wal_file_mib} MiB`],
    ['host peak RSS', `${mem.peak_rss_mib} MiB`],
  ];
  result.growth =
    `Growth: at UPS's real lifetime (1 h, refreshed 300-450 s before expiry) ${N.toLocaleString('en')} staggered authorizations need ${round(N / 3_225, 1)} refreshes/s; 10× needs ${round((10 * N) / 3_225, 0)}/s and 100× ${round((100 * N) / 3_225, 0)}/s. ` +
    'The refresher keeps up to --refresh-concurrency (32) refreshes in flight and takes more as they finish, so its ceiling is about 32 ÷ the wall time of one refresh: against this loopback mock a few thousand per second of host CPU allows, against a provider answering in 300 ms ≈ 100/s per instance (bench/refresher-scale.mjs measures it, on several instances too). ' +
    'A burst (everything due at once after an outage longer than the 300 s skew) drains at that ceiling; the jitter (up to 50 % more lead) keeps a burst of opt-ins from coming due as one burst at every renewal. ' +
    'Per refresh the host runs a few short write transactions (the scan\'s lease, claim, commit with its history row) and the due scan is an index range on `authorizations(next_refresh_at) WHERE status = \'active\'`, so database cost per refresh stays flat with more rows; the retrieval job, which calls the data API for every active company each round (and again after every opt-in), grows linearly with the companies. The host memory in this run includes the in-process mock UPS holding every issued token.';
  saveResult('refresher', result);
  console.log(`  ${all ? 'every authorization was refreshed before expiry' : 'NOT every authorization was refreshed in time'}: ${refreshes} refreshes, ${late} late, ${expiredOpen} expired without successor, lag p99 ${result.lag_after_due_s.p99} s, CPU ${result.host_cpu_percent_of_one_core} % of a core`);
} finally {
  await host.stop();
}
