// Soak: the host under the benchmark read load for a long time, with its background work
// running (both demo companies opted in, short token lifetimes so the refresher rotates pairs,
// the retrieval job calling the mock's data API), a batch of re-opt-ins (exchanges) after every
// slice. After each slice it samples the host's RSS and open file descriptors, so a leak shows
// as a rising line. Not part of scripts/bench.sh's default parts (it takes `--minutes`).
// Requests carry a session token (minted with the host's API key); a token lives at most an
// hour, so a new one is minted before a slice that would outlive it.
// Usage: node bench/soak.mjs [--minutes M] [--slice S] [--rows N] [--connections C]

import { readdirSync } from 'node:fs';

import { fetchFresh, memoryOf, options, round, saveResult, sessions, startHost, wrk } from './lib/common.mjs';
import { exchange, mintCode } from './lib/oauth.mjs';

const opt = options({ minutes: 10, slice: 30, rows: 100000, connections: 32 });
const minutes = Number(opt.minutes);
const slice = Number(opt.slice);
const COMPANIES = ['demo-co', 'acme'];
if (slice > 3000) throw new Error('--slice must be at most 3000 s: one wrk run must not outlive its session token (an hour)');

const host = await startHost(
  [
    '--seed-history', `demo-co:${Number(opt.rows)}`,
    '--access-ttl-secs', '20', '--refresh-skew-secs', '10', '--refresh-tick-ms', '250',
    '--retrieval-interval-ms', '500', '--exchange-per-minute', '1000000',
  ],
  { name: 'soak' },
);
const fds = () => readdirSync(`/proc/${host.pid}/fd`).length;
const threads = () => readdirSync(`/proc/${host.pid}/task`).length;
try {
  const auth = await sessions(host, COMPANIES);
  const optIn = async (company) => {
    const token = auth.token(company);
    const r = await exchange(host.host, token, await mintCode(host.host, token, company));
    if (r.status !== 201) throw new Error(`exchange for ${company}: HTTP ${r.status} ${r.body.slice(0, 200)}`);
  };
  for (const c of COMPANIES) await optIn(c);

  const url = `${host.host}/api/optin/tokens?company=demo-co&page=1&per_page=10`;
  const samples = [];
  const started = performance.now();
  let exchanges = 0;
  while (performance.now() - started < minutes * 60_000) {
    // The token must outlive the slice and the re-opt-ins after it.
    await auth.renew(slice * 1000 + 5 * 60_000);
    const headers = { Authorization: auth.bearer('demo-co') };
    const r = wrk(url, { threads: 2, connections: Number(opt.connections), seconds: slice, headers });
    for (let i = 0; i < 20; i++) {
      await optIn('acme');
      exchanges++;
    }
    const status = await (await fetchFresh(`${host.host}/api/optin/status?company=demo-co`, { headers })).json();
    const s = {
      at_s: round((performance.now() - started) / 1000, 0),
      rps: r.rps,
      p99_ms: r.p99_ms,
      errors: r.errors,
      rss_mib: memoryOf(host.pid).rss_mib,
      fds: fds(),
      threads: threads(),
      demo_co: status.status,
    };
    samples.push(s);
    console.log(JSON.stringify(s));
  }
  const steady = samples.slice(Math.min(2, samples.length - 1));
  const result = {
    minutes,
    slice_s: slice,
    requests: samples.reduce((a, s) => a + Math.round(s.rps * slice), 0),
    errors: samples.reduce((a, s) => a + s.errors, 0),
    exchanges,
    session_tokens_minted: auth.minted,
    rss_mib: { first: steady[0].rss_mib, last: steady.at(-1).rss_mib, max: Math.max(...steady.map((s) => s.rss_mib)) },
    fds: { first: steady[0].fds, last: steady.at(-1).fds, max: Math.max(...steady.map((s) => s.fds)) },
    threads: { first: steady[0].threads, last: steady.at(-1).threads, max: Math.max(...steady.map((s) => s.threads)) },
    still_active: samples.every((s) => s.demo_co === 'active'),
    samples,
  };
  saveResult('soak', result);
  console.log(JSON.stringify({ ...result, samples: undefined }, null, 1));
} finally {
  await host.stop();
}
