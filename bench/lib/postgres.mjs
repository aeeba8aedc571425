// A throw-away PostgreSQL cluster for the benchmarks, as the Rust tests start one
// (host-example/src/store/postgres/cluster.rs): Debian's postgresql package
// (/usr/lib/postgresql/<version>/bin), `initdb` in a temporary folder (trust authentication
// for user `postgres`), `pg_ctl start` on a free loopback port with the socket in that folder,
// as the `postgres` user when we are root (the server refuses to run as root). Always stopped
// (`pg_ctl stop -m fast`) and removed at the end: by `stop()`, or on exit, an uncaught error or
// SIGINT/SIGTERM (bench/lib/common.mjs onCleanup). Not a benchmark itself.
//
// Unlike the tests' cluster (fsync off), the benchmark cluster keeps PostgreSQL's durable
// defaults unless `{ durable: false }`: fsync on, synchronous_commit on, full_page_writes on.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { onCleanup } from './common.mjs';

/** The newest `/usr/lib/postgresql/<version>/bin` with an `initdb`, or null. */
export function postgresBin() {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(a) - Number(b));
  return versions.length ? join(base, versions.at(-1), 'bin') : null;
}

const isRoot = () => process.getuid?.() === 0;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start a cluster. Resolves to
 * `{ port, version, settings, createDatabase(name) → url, query(db, sql) → rows (arrays of
 * strings), serverCpuSeconds(), stop() }`.
 */
export async function startPostgres({ durable = true, extra = [] } = {}) {
  const bin = postgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): run scripts/setup.sh (Debian package postgresql)');
  const asPostgres = isRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tm-bench-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const tool = (name, args, opts = {}) => {
    const program = join(bin, name);
    const [cmd, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', program, ...args]] : [program, args];
    return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 2 ** 30, ...opts });
  };
  let started = false;
  const stopNow = () => {
    if (started) {
      try {
        tool('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      } catch {
        try {
          tool('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
        } catch {
          /* already down */
        }
      }
      started = false;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const forget = onCleanup(stopNow);
  try {
    if (asPostgres) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
    tool('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
    const settings = durable
      ? ['fsync=on', 'synchronous_commit=on', 'full_page_writes=on']
      : ['fsync=off', 'synchronous_commit=off', 'full_page_writes=off'];
    settings.push(...extra);
    let port = 0;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const o = [`-p ${port}`, `-k ${dir}`, '-c listen_addresses=127.0.0.1', ...settings.map((s) => `-c ${s}`)].join(' ');
      try {
        tool('pg_ctl', ['-D', data, '-l', log, '-w', '-t', '60', '-o', o, 'start']);
        started = true;
        break;
      } catch (e) {
        if (attempt === 4) throw new Error(`PostgreSQL did not start: ${e.message}\n${existsSync(log) ? readFileSync(log, 'utf8').slice(-3000) : ''}`);
      }
    }
    const client = (name, args, opts) =>
      execFileSync(join(bin, name), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 2 ** 30,
        ...opts,
      });
    const version = client('psql', ['-X', '-At', '-d', 'postgres', '-c', 'SHOW server_version']).trim();
    const postmasterPid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return {
      port,
      version,
      settings,
      dir,
      log,
      /** Create database `name` (empty); returns its URL for the host's `--db`. */
      createDatabase(name) {
        client('createdb', [name]);
        return `postgres://postgres@127.0.0.1:${port}/${name}`;
      },
      /** Run `sql` in database `db`; rows as arrays of strings (psql -At, comma-separated). */
      query(db, sql) {
        const out = client('psql', ['-X', '-At', '-F', ',', '-v', 'ON_ERROR_STOP=1', '-d', db, '-c', sql]);
        return out.split('\n').filter((l) => l !== '').map((l) => l.split(','));
      },
      /**
       * CPU seconds (user + system) of the whole server: every live process under the
       * postmaster plus what the postmaster collected from children that ended.
       */
      serverCpuSeconds() {
        return postgresCpuSeconds(postmasterPid);
      },
      async stop() {
        stopNow();
        forget();
      },
    };
  } catch (e) {
    stopNow();
    forget();
    throw e;
  }
}

function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

function postgresCpuSeconds(postmaster) {
  const hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  let ticks = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(entry);
    if (!f) continue;
    const pid = Number(entry);
    // fields[1] is the parent pid; [11] utime, [12] stime, [13] cutime, [14] cstime.
    if (pid === postmaster) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    else if (Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / hz;
}

/**
 * What the database `db` has written so far, from the statistics views: rows inserted, updated
 * and deleted (pg_stat_database, and per table from pg_stat_user_tables), commits, and WAL
 * bytes. The counters of a busy backend reach the views within about a second, of an idle one
 * within ten (PostgreSQL 15 flushes them at those intervals): read after a pause.
 */
export function writeCounters(pg, db) {
  const [[ins, upd, del, commits, rollbacks]] = pg.query(
    db,
    `SELECT tup_inserted, tup_updated, tup_deleted, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()`,
  );
  const [[wal]] = pg.query(db, `SELECT pg_current_wal_lsn() - '0/0'::pg_lsn`);
  const tables = {};
  for (const [name, i, u, d, hot] of pg.query(db, 'SELECT relname, n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd FROM pg_stat_user_tables ORDER BY relname')) {
    tables[name] = { inserted: Number(i), updated: Number(u), deleted: Number(d), hot_updated: Number(hot) };
  }
  return {
    inserted: Number(ins),
    updated: Number(upd),
    deleted: Number(del),
    commits: Number(commits),
    rollbacks: Number(rollbacks),
    wal_bytes: Number(wal),
    tables,
  };
}

/** `after − before` of two `writeCounters` readings. */
export function writeDelta(before, after) {
  const tables = {};
  for (const [name, a] of Object.entries(after.tables)) {
    const b = before.tables[name] ?? { inserted: 0, updated: 0, deleted: 0, hot_updated: 0 };
    const t = { inserted: a.inserted - b.inserted, updated: a.updated - b.updated, deleted: a.deleted - b.deleted, hot_updated: a.hot_updated - b.hot_updated };
    if (t.inserted || t.updated || t.deleted) tables[name] = t;
  }
  return {
    inserted: after.inserted - before.inserted,
    updated: after.updated - before.updated,
    deleted: after.deleted - before.deleted,
    rows: after.inserted - before.inserted + (after.updated - before.updated) + (after.deleted - before.deleted),
    commits: after.commits - before.commits,
    rollbacks: after.rollbacks - before.rollbacks,
    wal_bytes: after.wal_bytes - before.wal_bytes,
    tables,
  };
}
