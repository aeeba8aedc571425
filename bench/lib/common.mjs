// Shared helpers of the benchmark scripts: paths, statistics, result files, the host process
// (with an API key of its own) and the session tokens the widget API needs. Not a benchmark
// itself.

import { spawn, execFileSync } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync, rmSync, openSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Cargo target directory (honours CARGO_TARGET_DIR like the other scripts). */
export const TARGET = process.env.CARGO_TARGET_DIR ? resolve(process.env.CARGO_TARGET_DIR) : join(ROOT, 'target');
/** Where results go. */
export const OUT = join(TARGET, 'bench');
/** The host binary (release build; scripts/bench.sh builds it). */
export const HOST_BIN = process.env.TM_BENCH_HOST_BIN ?? join(TARGET, 'release', 'host-example');
/** The mock UPS as its own binary (`cargo build --release -p mock-ups`), for several hosts. */
export const MOCK_BIN = process.env.TM_BENCH_MOCK_BIN ?? join(TARGET, 'release', 'mock-ups');

// Synchronous clean-ups (kill a child, stop a database, remove a folder) run when the driver
// exits, however: normally, on an uncaught error, or on SIGINT / SIGTERM / SIGHUP.
const cleanups = new Set();
let exitHooked = false;
/**
 * Register `fn` (synchronous) to run when the process exits; returns a function that
 * unregisters it (call it once the resource was released normally).
 */
export function onCleanup(fn) {
  if (!exitHooked) {
    exitHooked = true;
    const runAll = () => {
      for (const f of [...cleanups].reverse()) {
        cleanups.delete(f);
        try {
          f();
        } catch (e) {
          console.error(`clean-up failed: ${e.message}`);
        }
      }
    };
    process.on('exit', runAll);
    for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
      process.on(signal, () => {
        console.error(`\n${signal}: cleaning up`);
        runAll();
        process.exit(code);
      });
    }
  }
  cleanups.add(fn);
  return () => cleanups.delete(fn);
}

/** Kill a child process now (synchronous; for clean-ups). */
function killNow(child) {
  if (child.exitCode === null && child.signalCode === null) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * A driver's command line: `--name value` for each key of `defaults` (numbers come back as
 * numbers, strings as strings), and `--quick` (shorter runs) for every driver.
 */
export function options(defaults) {
  const spec = { quick: { type: 'boolean', default: false } };
  for (const [name, value] of Object.entries(defaults)) spec[name] = { type: 'string', default: String(value) };
  const { values } = parseArgs({ options: spec });
  const out = { quick: values.quick };
  for (const [name, value] of Object.entries(defaults)) {
    out[name] = typeof value === 'number' ? Number(values[name]) : values[name];
  }
  return out;
}

/** Median of numbers. */
export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The `p`-th percentile (0..100) of numbers, nearest rank. */
export function percentile(xs, p) {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[rank];
}

/** Round to `d` decimals. */
export const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Write `target/bench/<name>.json` and echo a one-line summary. */
export function saveResult(name, data) {
  mkdirSync(OUT, { recursive: true });
  const file = join(OUT, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, at: new Date().toISOString(), machine: machine(), ...data }, null, 2) + '\n');
  console.log(`==> ${file}`);
}

/** Read a result written by `saveResult`, or `null`. */
export function loadResult(name) {
  const file = join(OUT, `${name}.json`);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
}

/** What the figures were measured on. */
export function machine() {
  const c = cpus();
  let load = '';
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    /* not Linux */
  }
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    memory_gb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    load_avg: load,
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `VmHWM` (peak resident set) and `VmRSS` of a process, in MiB. */
export function memoryOf(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number((text.match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm')) ?? [])[1] ?? NaN);
  return { peak_rss_mib: round(kb('VmHWM') / 1024, 1), rss_mib: round(kb('VmRSS') / 1024, 1) };
}

/** User + system CPU seconds a process has used so far (from /proc/<pid>/stat). */
export function cpuSecondsOf(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticks / hz;
}

/**
 * Start the host binary on ephemeral ports with a fresh database in a temporary folder and a
 * fresh API key (`TOKEN_MANAGER_API_KEY`, what the portal's backend mints session tokens
 * with). `args`: extra flags; `staticDir`: the host's --static-dir (default pkg/dist); `db`: a
 * PostgreSQL URL instead of the fresh SQLite file (several hosts on one database need the same
 * `TOKEN_MANAGER_KEY` and `TOKEN_MANAGER_API_KEY` in `env`).
 * Resolves to `{ host, mock, apiKey, pid, dir, db, log, stop() }` once the ready file appears.
 */
export async function startHost(args = [], { env = {}, timeoutMs = 120_000, name = 'host', staticDir = join(ROOT, 'pkg', 'dist'), db: dbUrl } = {}) {
  if (!existsSync(HOST_BIN)) {
    throw new Error(`${HOST_BIN} is missing: run cargo build -p host-example --release (scripts/bench.sh does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tm-bench-'));
  const ready = join(dir, 'ready.json');
  const db = dbUrl ?? join(dir, 'bench.db');
  const log = join(dir, `${name}.log`);
  const apiKey = env.TOKEN_MANAGER_API_KEY ?? `tmk_${randomBytes(32).toString('base64url')}`;
  const proc = await spawnReady(
    'host',
    HOST_BIN,
    [
      '--listen', '127.0.0.1:0',
      '--mock-listen', '127.0.0.1:0',
      '--db', db,
      '--key-file', join(dir, 'bench.key'),
      '--static-dir', staticDir,
      '--ready-file', ready,
      ...args,
    ],
    { dir, ready, log, timeoutMs, pollMs: 50, stopGraceMs: 20_000, env: { ...process.env, TOKEN_MANAGER_API_KEY: apiKey, ...env } },
  );
  const urls = JSON.parse(readFileSync(ready, 'utf8'));
  return { ...urls, apiKey, pid: proc.child.pid, dir, db, log, child: proc.child, stop: proc.stop };
}

/**
 * Start the mock UPS binary (`mock-ups`) on an ephemeral port, for hosts started with
 * `--provider ups --ups-host <mock>`. `args`: its flags (`--redirect-uri`, `--access-ttl-secs`,
 * `--faults`, ...). Resolves to `{ mock, pid, dir, log, secretFile, stop() }`; `secretFile`
 * holds the client secret (`demo-secret`) for the hosts' `--client-secret-file`.
 */
export async function startMock(args = [], { env = {}, timeoutMs = 30_000, name = 'mock-ups' } = {}) {
  if (!existsSync(MOCK_BIN)) {
    throw new Error(`${MOCK_BIN} is missing: run cargo build --release -p mock-ups`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tm-bench-mock-'));
  const ready = join(dir, 'ready.json');
  const log = join(dir, `${name}.log`);
  const secretFile = join(dir, 'client-secret');
  writeFileSync(secretFile, 'demo-secret\n', { mode: 0o600 });
  const proc = await spawnReady('mock-ups', MOCK_BIN, ['--listen', '127.0.0.1:0', '--ready-file', ready, '--client-secret-file', secretFile, ...args], {
    dir,
    ready,
    log,
    timeoutMs,
    pollMs: 25,
    stopGraceMs: 10_000,
    env: { ...process.env, ...env },
  });
  const { mock } = JSON.parse(readFileSync(ready, 'utf8'));
  return { mock, pid: proc.child.pid, dir, log, secretFile, child: proc.child, stop: proc.stop };
}

/**
 * Spawn `bin args` in `dir` (output appended to `log`) and wait until it writes its `ready`
 * file. Until stopped, the process is killed and `dir` removed on exit or a signal
 * (`onCleanup`). `stop()`: SIGTERM, SIGKILL after `stopGraceMs`, then `dir` is removed.
 */
async function spawnReady(what, bin, args, { dir, ready, log, env, timeoutMs, pollMs, stopGraceMs }) {
  const out = openSync(log, 'a');
  const child = spawn(bin, args, { cwd: dir, env, stdio: ['ignore', out, out] });
  const forget = onCleanup(() => {
    killNow(child);
    rmSync(dir, { recursive: true, force: true });
  });
  let exited = null;
  child.on('exit', (code, signal) => {
    exited = { code, signal };
  });
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(ready)) {
    if (exited) {
      throw new Error(`${what} exited (${JSON.stringify(exited)}) before it was ready; log:\n${readFileSync(log, 'utf8').slice(-3000)}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${what} not ready after ${timeoutMs} ms; log:\n${readFileSync(log, 'utf8').slice(-3000)}`);
    }
    await sleep(pollMs);
  }
  return {
    child,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const until = Date.now() + stopGraceMs;
        while (!exited && Date.now() < until) await sleep(50);
        if (!exited) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
      forget();
    },
  };
}

/** Does `bin --help` list `flag`? (For flags newer than some builds.) */
export function hasFlag(bin, flag) {
  try {
    return run(bin, ['--help']).includes(flag);
  } catch {
    return false;
  }
}

/** The user the drivers' session tokens name (recorded as `authorized_by`). */
export const BENCH_USER = { id: 'admin', name: 'Bench Admin' };
/** Most companies one session token may name (the host's limit). */
export const MAX_SESSION_COMPANIES = 100;
/** Longest session lifetime the host grants, in seconds. */
export const SESSION_TTL_SECS = 3600;

/**
 * `POST /api/v1/sessions` with the host's API key, as a portal's backend does: a session token
 * for `user` with the `role` at each of `companies` (at most 100). Resolves to
 * `{ token, expires_at }` (ms since the epoch).
 */
export async function mintSession(host, companies, { user = BENCH_USER, role = 'admin', ttlSecs = SESSION_TTL_SECS } = {}) {
  if (companies.length === 0 || companies.length > MAX_SESSION_COMPANIES) {
    throw new Error(`a session names 1 to ${MAX_SESSION_COMPANIES} companies, not ${companies.length}`);
  }
  const r = await fetch(`${host.host}/api/v1/sessions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${host.apiKey}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ user, companies: companies.map((id) => ({ id, role })), ttl_secs: ttlSecs }),
  });
  const text = await r.text();
  if (r.status !== 201) throw new Error(`POST /api/v1/sessions: HTTP ${r.status} ${text.slice(0, 300)}`);
  const { session_token: token, expires_at } = JSON.parse(text);
  return { token, expires_at };
}

/**
 * Session tokens for the benchmark's user over all of `companies`: one token per group of
 * 100 (the host's limit per token), minted up front. `token(company)` is the current token
 * naming `company` (synchronous: no work inside a timed section); `renew(withinMs)` mints new
 * tokens for the groups whose token expires within `withinMs` (call it between phases of long
 * runs: a token lives at most an hour).
 */
export async function sessions(host, companies, opts = {}) {
  const groups = [];
  for (let i = 0; i < companies.length; i += MAX_SESSION_COMPANIES) {
    groups.push({ companies: companies.slice(i, i + MAX_SESSION_COMPANIES), token: '', expires_at: 0 });
  }
  const byCompany = new Map();
  for (const g of groups) for (const c of g.companies) byCompany.set(c, g);
  const s = {
    minted: 0,
    token(company) {
      const g = byCompany.get(company);
      if (!g) throw new Error(`no session names company ${company}`);
      return g.token;
    },
    /** The `Authorization` header value for `company`. */
    bearer(company) {
      return `Bearer ${s.token(company)}`;
    },
    async renew(withinMs = 0) {
      const due = groups.filter((g) => g.expires_at - Date.now() <= withinMs);
      for (let i = 0; i < due.length; i += 8) {
        await Promise.all(
          due.slice(i, i + 8).map(async (g) => {
            Object.assign(g, await mintSession(host, g.companies, opts));
            s.minted++;
          }),
        );
      }
      return due.length;
    },
  };
  await s.renew();
  return s;
}

/**
 * `fetch` on a connection of its own (closed after the answer), resolving to a `Response`.
 * For calls between `wrk` runs: `wrk` blocks the event loop (execFileSync) for longer than the
 * host keeps an idle keep-alive connection open (its header-read timeout, 10 s), so a pooled
 * connection of the global fetch is found closed only when the next request is written on it
 * ("other side closed").
 */
export function fetchFresh(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) h.set(k, Array.isArray(v) ? v.join(', ') : String(v));
        resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Run a command, return stdout (throws with stderr on failure). */
export function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 2 ** 20, ...opts });
}

/**
 * One `wrk` run against `url` with `headers`; returns requests/s, latency percentiles (ms)
 * and errors. Non-2xx answers count as errors (`errors.status`).
 */
export function wrk(url, { threads = 1, connections = 1, seconds = 5, headers = {}, method = 'GET' } = {}) {
  let script = join(ROOT, 'bench', 'lib', 'wrk-report.lua');
  if (method !== 'GET') {
    // wrk takes one script: set the method, then load the report.
    const dir = mkdtempSync(join(tmpdir(), 'tm-wrk-'));
    const wrapper = join(dir, 'method.lua');
    writeFileSync(wrapper, `wrk.method = ${JSON.stringify(method)}\ndofile(${JSON.stringify(script)})\n`);
    script = wrapper;
  }
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '-s', script];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  args.push(url);
  const out = run('wrk', args);
  const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
  if (!line) throw new Error(`wrk printed no result:\n${out}`);
  const r = JSON.parse(line.slice('WRK_JSON '.length));
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return {
    rps: round(r.requests / (r.duration_us / 1e6), 0),
    requests: r.requests,
    errors,
    error_detail: r.errors,
    p50_ms: round(r.latency_us.p50 / 1000, 3),
    p90_ms: round(r.latency_us.p90 / 1000, 3),
    p99_ms: round(r.latency_us.p99 / 1000, 3),
    max_ms: round(r.latency_us.max / 1000, 3),
    mean_ms: round(r.latency_us.mean / 1000, 3),
  };
}
