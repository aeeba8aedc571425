// Shared parts of the refresher benchmarks (bench/refresher.mjs, bench/refresher-scale.mjs):
// the host's refresh schedule recomputed per token, real opt-ins spread over one or more host
// instances, and the verdict read back from the history table (lag after due, slack before
// expiry, late replacements, backlog). Not a benchmark itself.

import { execFileSync } from 'node:child_process';

import { hasFlag, median, percentile, round, sleep } from './common.mjs';
import { exchange, mintCode } from './oauth.mjs';

// --- the schedule ----------------------------------------------------------------------------

const U64 = (1n << 64n) - 1n;

/** SplitMix64's output function (wrapping u64 arithmetic), as core's lifecycle.rs has it. */
export function splitmix64(x) {
  let z = (BigInt.asUintN(64, x) + 0x9e3779b97f4a7c15n) & U64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
  return z ^ (z >> 31n);
}

/**
 * When the host refreshes a token created at `createdMs` and expiring at `expiresMs` (ms since
 * the epoch): core's `RefreshPolicy::refresh_at`. lead = min(skew, lifetime / 2); a jitter of
 * up to `jitterPercent` % of lead more, from SplitMix64 of the creation time's milliseconds
 * (its high 32 bits as the fraction); due = expires − lead − jitter. `jitterPercent = 0` is
 * the schedule of builds without the jitter. Kept in this one function: if core's formula
 * changes, change it here.
 */
export function refreshDueAt(createdMs, expiresMs, { skewMs = 300_000, jitterPercent = 50 } = {}) {
  const lead = Math.min(skewMs, (expiresMs - createdMs) / 2);
  if (!jitterPercent) return expiresMs - lead;
  const fraction = splitmix64(BigInt(createdMs)) >> 32n; // uniform in [0, 2^32)
  const extra = (BigInt(Math.floor(lead)) * BigInt(jitterPercent) * fraction) / (100n << 32n);
  return Math.floor(expiresMs - lead - Number(extra));
}

/**
 * The jitter percent the host at `bin` uses when asked for `requested`: that, when the build
 * has `--refresh-jitter-percent` (the caller passes it); else what `TM_BENCH_ASSUME_JITTER`
 * says, by default core's 50 (builds with the jitter in core before the flag). A wrong guess
 * shows as refreshes before their due time in analyseHistory's `early`.
 */
export function hostJitterPercent(bin, requested = 50) {
  if (hasFlag(bin, '--refresh-jitter-percent')) return requested;
  return Number(process.env.TM_BENCH_ASSUME_JITTER ?? 50);
}

// --- opt-ins ---------------------------------------------------------------------------------

/**
 * Real opt-ins, one per company: `POST /start` and the mock's sign-in screens (mintCode), then
 * `POST /exchange`, on the host `hostOf(i)` (company i; round-robin over instances, say), with
 * the session tokens of `auth` (bench/lib/common.mjs sessions()). At most `concurrency` in
 * flight; with `perSecond`, company i starts no earlier than `t0 + i / perSecond` s (evenly
 * paced), else as fast as the hosts answer. Session tokens are renewed on the way when they
 * would expire within 5 minutes. Resolves to `{ failed, firstError, seconds, rate }`.
 */
export async function optIns(companies, { hostOf, auth, concurrency = 16, perSecond = 0, t0 = Date.now(), onProgress } = {}) {
  let next = 0;
  let done = 0;
  let failed = 0;
  let firstError = '';
  let renewing = null;
  let renewedAt = Date.now();
  const worker = async () => {
    while (next < companies.length) {
      const i = next++;
      if (Date.now() - renewedAt > 60_000) {
        renewedAt = Date.now();
        renewing = auth.renew(5 * 60_000);
      }
      if (renewing) await renewing;
      if (perSecond > 0) await sleep(Math.max(0, t0 + (i * 1000) / perSecond - Date.now()));
      const company = companies[i];
      const host = hostOf(i);
      try {
        const body = await mintCode(host, auth.token(company), company);
        const r = await exchange(host, auth.token(company), body);
        if (r.status !== 201) {
          failed++;
          firstError ||= `HTTP ${r.status} ${r.body.slice(0, 200)}`;
        }
      } catch (e) {
        failed++;
        firstError ||= e.message;
      }
      done++;
      if (onProgress && done % 10_000 === 0) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, companies.length) }, worker));
  const seconds = (Date.now() - t0) / 1000;
  return { failed, firstError, seconds, rate: companies.length / seconds };
}

// --- the history -----------------------------------------------------------------------------

// Every replaced token with its successor's creation time, and every token still current.
const PAIRS_SQL = `WITH h AS (SELECT company, token_created AS c, token_expires AS e,
    LEAD(token_created) OVER (PARTITION BY company ORDER BY token_created, id) AS n FROM history)
  SELECT c, e, COALESCE(n, -1) FROM h`;
const COUNTS_SQL = `SELECT COUNT(*), COALESCE(SUM(CASE WHEN k < 2 THEN 1 ELSE 0 END), 0)
  FROM (SELECT company, COUNT(*) AS k FROM history GROUP BY company) t`;

/** A reader of comma-separated rows from the host's SQLite file (read-only). */
export function sqliteReader(file) {
  return (sql) =>
    execFileSync('sqlite3', ['-readonly', '-batch', '-csv', file, sql], { encoding: 'utf8', maxBuffer: 2 ** 30 })
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.split(','));
}

/** A reader of rows from database `db` of a bench/lib/postgres.mjs cluster. */
export function postgresReader(pg, db) {
  return (sql) => pg.query(db, sql);
}

/** Companies with a history, and how many of them have only their first token. */
export function historyCounts(read) {
  const [[companies, once]] = read(COUNTS_SQL);
  return { companies: Number(companies), refreshed_never: Number(once) };
}

/**
 * The verdict from the history table, read with `read(sql)` (sqliteReader / postgresReader):
 * for every replaced token (`pairs`), its due time (refreshDueAt with `schedule`), the lag of
 * its successor's creation after it, the slack left before its expiry, late (successor after
 * expiry) and early (successor more than 1 s before the due time: the schedule here would not
 * be the host's); for tokens still current at `now`, how many are past their expiry or more
 * than `overdueGraceMs` past due; the refresh rate over time (successors per second: mean and
 * the busiest 30 s) and the backlog (due but not yet replaced) at its largest. `companies`: how
 * many opted in.
 */
export function analyseHistory(read, { companies, now = Date.now(), schedule = {}, since = 0, overdueGraceMs = 5000 } = {}) {
  const rows = read(PAIRS_SQL).map(([c, e, n]) => [Number(c), Number(e), Number(n)]);
  const { companies: seen, refreshed_never } = historyCounts(read);
  const lag = [];
  const slack = [];
  const births = [];
  const events = []; // [time, +1 due / −1 replaced]
  let late = 0;
  let early = 0;
  let expiredOpen = 0;
  let overdueOpen = 0;
  for (const [c, e, n] of rows) {
    const due = refreshDueAt(c, e, schedule);
    if (n >= 0) {
      lag.push((n - due) / 1000);
      slack.push((e - n) / 1000);
      if (n > e) late++;
      if (n < due - 1000) early++;
      if (n >= since) births.push(n);
      events.push([due, 1], [n, -1]);
    } else {
      if (e <= now) expiredOpen++;
      else if (due + overdueGraceMs <= now) overdueOpen++;
      if (due <= now) events.push([due, 1], [now, -1]);
    }
  }
  events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let backlog = 0;
  let maxBacklog = 0;
  let maxBacklogAt = 0;
  for (const [t, d] of events) {
    backlog += d;
    if (backlog > maxBacklog) {
      maxBacklog = backlog;
      maxBacklogAt = t;
    }
  }
  births.sort((a, b) => a - b);
  let busiest = 0;
  for (let i = 0, j = 0; i < births.length; i++) {
    while (births[i] - births[j] >= 30_000) j++;
    busiest = Math.max(busiest, i - j + 1);
  }
  const span = births.length > 1 ? (births.at(-1) - births[0]) / 1000 : 0;
  const refreshes = lag.length;
  const missing = companies === undefined ? 0 : companies - seen;
  return {
    refreshes,
    late,
    early,
    expired_without_successor: expiredOpen,
    overdue_open: overdueOpen,
    never_refreshed: refreshed_never,
    missing,
    all_refreshed_before_expiry: late === 0 && expiredOpen === 0 && refreshed_never === 0 && missing === 0,
    lag_after_due_s: refreshes
      ? { p50: round(percentile(lag, 50), 2), p99: round(percentile(lag, 99), 2), max: round(lag.reduce((a, b) => Math.max(a, b), -Infinity), 2) }
      : { p50: null, p99: null, max: null },
    slack_before_expiry_s: refreshes ? { min: round(slack.reduce((a, b) => Math.min(a, b), Infinity), 1), p50: round(median(slack), 1) } : { min: null, p50: null },
    rate: {
      refreshes: births.length,
      span_s: round(span, 0),
      mean_per_s: span > 0 ? round(births.length / span, 1) : null,
      busiest_30s_per_s: round(busiest / 30, 1),
    },
    max_backlog: maxBacklog,
    max_backlog_at: maxBacklogAt,
  };
}
