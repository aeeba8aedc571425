// The portal backend's side of the host: the access-token API, the provider proxy, and the
// webhook sender. One host with a webhook receiver in this process (loopback), N companies
// opted in through the real flow (start → the mock's sign-in screens → exchange; not timed),
// then:
//   - `POST /api/v1/companies/{c}/access-token` with wrk, 32 connections (each call checks the
//     API key, reads and decrypts the pair, and writes an audit row): requests/s, p50/p99;
//   - the proxy's overhead: `GET /api/track/v1/details/{n}` straight at the mock with the
//     bearer token vs. through `…/proxy/track/v1/details/{n}` with the API key, one connection
//     back to back (p50/p99) and 32 connections (requests/s);
//   - webhook delivery lag under load: exchanges paced at `--events-per-s` (default 1,000)
//     for `--event-seconds`, each one an `authorization.granted` event; lag = arrival at the
//     receiver − the event's own timestamp (its commit), p50/p99/max, and the rate achieved.
// Usage: node bench/server-api.mjs [--companies N] [--seconds S] [--events-per-s R] [--event-seconds T] [--quick]

import http from 'node:http';

import { fetchFresh, median, memoryOf, options, percentile, round, saveResult, sessions, sleep, startHost, wrk } from './lib/common.mjs';
import { exchange, mintCode, pool } from './lib/oauth.mjs';

const opt = options({ companies: 64, seconds: 8, runs: 3, 'events-per-s': 1000, 'event-seconds': 3 });
const quick = Boolean(opt.quick);
const seconds = quick ? 3 : Number(opt.seconds);
const runs = quick ? 1 : Number(opt.runs);
const eventRate = Number(opt['events-per-s']);
const eventSeconds = quick ? 2 : Number(opt['event-seconds']);
const companies = Array.from({ length: Number(opt.companies) }, (_, i) => `bench-${String(i).padStart(5, '0')}`);
const TRACKING = '1Z999AA10123456784';

// The receiver: counts events, and the lag of each granted one from its timestamp.
const received = { total: 0, lag_ms: [], ids: new Set(), duplicates: 0 };
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const at = Date.now();
    try {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const id = req.headers['webhook-id'];
      if (received.ids.has(id)) received.duplicates += 1;
      received.ids.add(id);
      received.total += 1;
      if (received.collect) received.lag_ms.push(at - Date.parse(event.timestamp));
    } catch {
      // counted as not received
    }
    res.writeHead(204).end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const hookUrl = `http://127.0.0.1:${receiver.address().port}/hooks`;

const host = await startHost(
  [
    '--companies', companies.join(','),
    '--exchange-per-minute', '100000000',
    '--retrieval-interval-ms', '0',
    '--webhook-url', hookUrl,
  ],
  { name: 'server-api' },
);
try {
  const auth = await sessions(host, companies);
  const api = { Authorization: `Bearer ${host.apiKey}` };
  // Opt every company in (not timed).
  await auth.renew(10 * 60_000);
  const codes = await pool(companies.length, 16, (i) => mintCode(host.host, auth.token(companies[i]), companies[i]));
  const granted = await pool(codes.length, 16, (i) => exchange(host.host, auth.token(codes[i].company), codes[i]));
  const bad = granted.filter((g) => g.status !== 201);
  if (bad.length) throw new Error(`opt-in failed: HTTP ${bad[0].status} ${bad[0].body.slice(0, 200)}`);

  // 1. The access-token API.
  const tokenUrl = `${host.host}/api/v1/companies/${companies[0]}/access-token`;
  const first = await (await fetchFresh(tokenUrl, { method: 'POST', headers: api })).json();
  if (!first.access_token) throw new Error(`access-token: ${JSON.stringify(first)}`);
  wrk(tokenUrl, { seconds: 1, headers: api, method: 'POST' });
  const tokenRuns = [];
  for (let i = 0; i < runs; i++) {
    const r = wrk(tokenUrl, { connections: 32, seconds, headers: api, method: 'POST' });
    tokenRuns.push(r);
    console.log(`  access-token run ${i + 1}: ${r.rps} req/s, p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, errors ${r.errors}`);
  }
  const accessToken = {
    url: 'POST /api/v1/companies/{c}/access-token',
    connections: 32,
    rps: median(tokenRuns.map((r) => r.rps)),
    p50_ms: median(tokenRuns.map((r) => r.p50_ms)),
    p99_ms: median(tokenRuns.map((r) => r.p99_ms)),
    errors: tokenRuns.reduce((a, r) => a + r.errors, 0),
  };

  // 2. The proxy against a direct call.
  const direct = `${host.mock}/api/track/v1/details/${TRACKING}`;
  const proxied = `${host.host}/api/v1/companies/${companies[1]}/proxy/track/v1/details/${TRACKING}`;
  const bearer = await (await fetchFresh(`${host.host}/api/v1/companies/${companies[1]}/access-token`, { method: 'POST', headers: api })).json();
  const directHeaders = { Authorization: `Bearer ${bearer.access_token}` };
  const check = await fetchFresh(proxied, { headers: api });
  if (check.status !== 200 || check.headers.get('x-token-manager-proxy') !== 'provider') throw new Error(`proxy: HTTP ${check.status} ${await check.text()}`);
  const measure = (url, headers, connections) => {
    wrk(url, { seconds: 1, headers });
    const rs = [];
    for (let i = 0; i < runs; i++) rs.push(wrk(url, { connections, seconds: Math.min(seconds, 5), headers }));
    return {
      rps: median(rs.map((r) => r.rps)),
      p50_ms: median(rs.map((r) => r.p50_ms)),
      p99_ms: median(rs.map((r) => r.p99_ms)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
    };
  };
  const directOne = measure(direct, directHeaders, 1);
  const proxyOne = measure(proxied, api, 1);
  const directMany = measure(direct, directHeaders, 32);
  const proxyMany = measure(proxied, api, 32);
  const proxy = {
    direct_one_connection: directOne,
    proxy_one_connection: proxyOne,
    overhead_p50_ms: round(proxyOne.p50_ms - directOne.p50_ms, 3),
    overhead_p99_ms: round(proxyOne.p99_ms - directOne.p99_ms, 3),
    direct_32_connections: directMany,
    proxy_32_connections: proxyMany,
  };
  console.log(`  proxy, one connection: p50 ${proxyOne.p50_ms} ms vs direct ${directOne.p50_ms} ms (+${proxy.overhead_p50_ms}), p99 ${proxyOne.p99_ms} vs ${directOne.p99_ms} (+${proxy.overhead_p99_ms})`);
  console.log(`  proxy, 32 connections: ${proxyMany.rps} req/s (direct ${directMany.rps}), p99 ${proxyMany.p99_ms} ms (direct ${directMany.p99_ms})`);

  // 3. Webhook lag with events paced at `eventRate` per second.
  const wanted = eventRate * eventSeconds;
  await auth.renew(10 * 60_000);
  const bodies = await pool(wanted, 16, (i) => mintCode(host.host, auth.token(companies[i % companies.length]), companies[i % companies.length]));
  // Let the opt-in events drain first.
  const drainUntil = Date.now() + 30_000;
  while (received.total < companies.length && Date.now() < drainUntil) await sleep(50);
  const before = received.total;
  received.collect = true;
  const t0 = performance.now();
  let next = 0;
  const inflight = new Set();
  const results = [];
  while (next < wanted) {
    const due = Math.floor(((performance.now() - t0) / 1000) * eventRate);
    while (next < Math.min(due, wanted) && inflight.size < 256) {
      const i = next++;
      const p = exchange(host.host, auth.token(bodies[i].company), bodies[i]).then((r) => {
        results.push(r.status);
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  const sendSeconds = (performance.now() - t0) / 1000;
  const okExchanges = results.filter((s) => s === 201).length;
  const until = Date.now() + 60_000;
  while (received.total - before < okExchanges && Date.now() < until) await sleep(20);
  const lag = received.lag_ms;
  const webhooks = {
    events_wanted_per_s: eventRate,
    events_committed: okExchanges,
    events_per_s_achieved: round(okExchanges / sendSeconds, 0),
    events_received: received.total - before,
    duplicates: received.duplicates,
    lag_p50_ms: round(percentile(lag, 50), 1),
    lag_p99_ms: round(percentile(lag, 99), 1),
    lag_max_ms: round(Math.max(...lag), 1),
  };
  console.log(`  webhooks: ${webhooks.events_committed} events at ${webhooks.events_per_s_achieved}/s → received ${webhooks.events_received}, lag p50 ${webhooks.lag_p50_ms} ms, p99 ${webhooks.lag_p99_ms} ms, max ${webhooks.lag_max_ms} ms`);
  const mem = memoryOf(host.pid);
  saveResult('server-api', {
    companies: companies.length,
    access_token: accessToken,
    proxy,
    webhooks,
    memory: mem,
    notes:
      'Driver, host, mock UPS and webhook receiver share the 2 cores. Access-token calls go to one company (the hot path: API key check, a read of the row, AES-GCM open, one audit INSERT). ' +
      'Proxy: the Tracking call of the mock, straight with the bearer token vs through the host with the API key (the host reads and decrypts the token per call, holds the company\'s shared lock, streams the answer). ' +
      'Webhooks: each paced exchange commits one `authorization.granted` with its outbox row in the same transaction; the sender claims heads of the (endpoint, company) queues in batches of 64, 16 in flight.',
  });
} finally {
  await host.stop();
  receiver.close();
}
