// The server API's webhooks, seen from the portal's backend: a loopback receiver (node:http)
// records every delivery as it arrived (raw body, headers), and every one is verified with the
// reference Standard Webhooks library (npm `standardwebhooks`), not with the host's own code.
//
// W1. signatures verify with the independent library; any tampering fails.
// W2. the receiver is down for a while: retries with backoff, in order per company, nothing
//     lost once it recovers; the deliveries list agrees; a second endpoint is not held up.
// W3. SIGKILL right after a committed change, 20 times on one database: every event delivered
//     at least once, none invented, in order per company.
// W4. in Chromium: opt in → granted; UPS.com password change → invalidated (invalid_grant) and
//     the panel asks to opt in again; opt in again, Clear → cleared (actor = the portal user),
//     and the demo portal's worker is refused by the proxy (409 cleared), no provider call.
// W5. an event refused until --webhook-give-up-secs is listed failed; redeliver sends it again.

import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { Webhook, WebhookVerificationError } from 'standardwebhooks';

import { generateApiKey } from '../harness/index.mjs';
import {
  DEMO_PASSWORD,
  DEMO_USER,
  TEXT,
  authorize,
  companiesFlag,
  launchBrowser,
  mockStats,
  norm,
  openPanel,
  passwordChange,
  startHost,
  userPath,
  waitFor,
  waitForText,
} from './support.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// The portal backend's side: a webhook receiver, the server API, an opt-in without a browser.

/**
 * A webhook endpoint on 127.0.0.1 (ephemeral port). Every request whose body arrived whole is
 * recorded in `received` at arrival — `{method, path, headers, raw (Buffer), at, status,
 * answered}` — then `delay(entry)` ms later answered `answer(entry)` (a status code).
 * `answered` stays false when the sender went away before the answer (e.g. it was killed).
 */
async function startReceiver({ answer = () => 200, delay = () => 0 } = {}) {
  const received = [];
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('error', () => {});
    res.on('error', () => {});
    req.on('end', async () => {
      const entry = {
        method: req.method,
        path: req.url,
        headers: { ...req.headers },
        raw: Buffer.concat(chunks),
        at: Date.now(),
        status: null,
        answered: false,
      };
      received.push(entry);
      const ms = delay(entry);
      if (ms > 0) await sleep(ms);
      entry.status = answer(entry);
      if (res.destroyed || res.socket?.destroyed) return;
      res.writeHead(entry.status, { 'content-type': 'text/plain' });
      res.end(entry.status < 300 ? 'ok' : 'not now', () => {
        entry.answered = true;
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/hooks/token-manager`,
    received,
    /** Parsed bodies of the deliveries the receiver acknowledged (2xx), in arrival order. */
    acknowledged: () => received.filter((e) => e.status >= 200 && e.status < 300),
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** The parsed body of a received delivery. */
const body = (entry) => JSON.parse(entry.raw.toString('utf8'));

/**
 * Verify one received delivery with the reference library; returns the payload it parsed.
 * Throws (WebhookVerificationError) when the signature does not match.
 */
function verify(secret, entry) {
  return new Webhook(secret).verify(entry.raw, entry.headers);
}

/** A fresh Standard Webhooks secret, as an operator would make one. */
function newSecret() {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/** A call of the server API with the portal backend's API key. */
async function serverApi(env, method, path, json) {
  const r = await fetch(`${env.host}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${env.apiKey}`,
      ...(json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: json === undefined ? undefined : JSON.stringify(json),
  });
  const text = await r.text();
  let parsed = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: r.status, text, json: parsed, headers: r.headers };
}

/** Every outbox delivery (`GET /api/v1/webhooks/deliveries`, all pages), newest first. */
async function allDeliveries(env, status) {
  const out = [];
  for (let page = 1; ; page++) {
    const q = new URLSearchParams({ page: String(page), per_page: '100', ...(status ? { status } : {}) });
    const r = await serverApi(env, 'GET', `/webhooks/deliveries?${q}`);
    assert.equal(r.status, 200, `GET /webhooks/deliveries answered ${r.status}: ${r.text}`);
    out.push(...r.json.deliveries);
    if (r.json.deliveries.length === 0 || out.length >= r.json.total) return { deliveries: out, total: r.json.total };
  }
}

/** `GET /api/v1/companies/{company}`. */
async function company(env, id) {
  const r = await serverApi(env, 'GET', `/companies/${id}`);
  assert.equal(r.status, 200, `GET /companies/${id} answered ${r.status}: ${r.text}`);
  return r.json;
}

/** A widget API call (`POST /api/optin/<path>`) as the panel makes it, with a session token. */
async function widgetPost(env, sessionToken, path, json) {
  const r = await fetch(`${env.host}/api/optin/${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${sessionToken}`,
      'content-type': 'application/json',
      'x-token-manager': '1',
      origin: env.host,
    },
    body: JSON.stringify(json),
  });
  const text = await r.text();
  return { status: r.status, text, json: () => JSON.parse(text) };
}

/** A session token of portal user `user`, admin of `id`. */
async function adminSession(env, id, user) {
  return (await env.mintSession({ user, companies: [{ id, role: 'admin' }], ttlSecs: 600 })).sessionToken;
}

/**
 * The whole opt-in without a browser, as the panel and the admin do it: `POST /start`, the
 * mock UPS's sign-in screens (Log In, then Password) through their forms, and `POST /exchange`
 * with the returned code and state. Returns the new history record.
 */
async function optInByApi(env, id, { user = 'admin', password = DEMO_PASSWORD } = {}) {
  const token = await adminSession(env, id, user);
  const started = await widgetPost(env, token, 'start', { company: id });
  assert.equal(started.status, 200, `POST /start answered ${started.status}: ${started.text}`);
  let url = started.json().authorize_url;
  let r;
  for (let hops = 0; ; hops++) {
    r = await fetch(url, { redirect: 'manual' });
    if (r.status < 300 || r.status >= 400) break;
    assert.ok(hops < 5, 'too many redirects on the way to the sign-in page');
    url = new URL(r.headers.get('location'), url).href;
  }
  const txnOf = (html) => {
    const m = /name="txn" value="([^"]+)"/.exec(html);
    assert.ok(m, `no sign-in transaction in the page: ${html.slice(0, 300)}`);
    return m[1];
  };
  const signin = `${env.mock}/lasso/signin`;
  const post = (form) =>
    fetch(signin, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form),
    });
  const loginPage = await r.text();
  assert.equal(r.status, 200, `the sign-in page answered ${r.status}`);
  r = await post({ txn: txnOf(loginPage), action: 'continue', username: DEMO_USER, agree: 'yes' });
  const passwordPage = await r.text();
  assert.equal(r.status, 200, `Continue answered ${r.status}: ${passwordPage.slice(0, 300)}`);
  r = await post({ txn: txnOf(passwordPage), action: 'login', username: DEMO_USER, password });
  assert.equal(r.status, 302, `Login answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
  const back = new URL(r.headers.get('location'));
  const code = back.searchParams.get('code');
  const state = back.searchParams.get('state');
  assert.ok(code && state, `the way back carries no code/state: ${back.href}`);
  const exchanged = await widgetPost(env, token, 'exchange', { company: id, code, state });
  assert.equal(exchanged.status, 201, `POST /exchange answered ${exchanged.status}: ${exchanged.text}`);
  return exchanged.json().record;
}

/** Clear through the widget API (what the panel's Clear authorization does). */
async function clearByApi(env, id, { user = 'admin' } = {}) {
  const token = await adminSession(env, id, user);
  const r = await widgetPost(env, token, 'clear', { company: id });
  assert.equal(r.status, 200, `POST /clear answered ${r.status}: ${r.text}`);
  return r.json();
}

/** Standard Webhooks header shapes. */
const MSG_ID = /^msg_[A-Za-z0-9_-]{22}$/;
const SIGNATURE = /^v1,[A-Za-z0-9+/]{43}=$/;
const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Assert the Standard Webhooks headers of a delivery and that its timestamp is the attempt's. */
function assertHeaders(entry) {
  assert.equal(entry.method, 'POST');
  assert.match(entry.headers['content-type'] ?? '', /^application\/json/);
  assert.match(entry.headers['webhook-id'] ?? '', MSG_ID, 'webhook-id is msg_ + 16 random bytes');
  assert.match(entry.headers['webhook-signature'] ?? '', SIGNATURE, 'webhook-signature is v1,<base64 HMAC-SHA256>');
  const ts = Number(entry.headers['webhook-timestamp']);
  assert.ok(Number.isInteger(ts), `webhook-timestamp ${entry.headers['webhook-timestamp']} is unix seconds`);
  assert.ok(Math.abs(ts - entry.at / 1000) < 10, `webhook-timestamp ${ts} is the attempt's time (received at ${entry.at / 1000})`);
}

/**
 * Every received delivery verifies with `secret`; the same id always carries the same body
 * (a retry is the same event). Returns a map id → parsed payload.
 */
function verifyAll(secret, received) {
  const byId = new Map();
  for (const entry of received) {
    assertHeaders(entry);
    let payload;
    assert.doesNotThrow(() => (payload = verify(secret, entry)), `delivery ${entry.headers['webhook-id']} verifies`);
    const id = entry.headers['webhook-id'];
    const seen = byId.get(id);
    if (seen) assert.equal(entry.raw.toString('utf8'), seen.raw, `every delivery of ${id} carries the same body`);
    else byId.set(id, { raw: entry.raw.toString('utf8'), payload });
  }
  return new Map([...byId].map(([id, v]) => [id, v.payload]));
}

/** Per company: the received ids (in arrival order) never go back to an event older than one already received. */
function assertInOrderPerCompany(received, outboxIndex) {
  const last = new Map();
  for (const entry of received) {
    const id = entry.headers['webhook-id'];
    const { company: c, index } = outboxIndex.get(id);
    const prev = last.get(c) ?? -1;
    assert.ok(index >= prev, `${c}: ${id} (outbox #${index}) arrived after a later event (#${prev}) of the same company`);
    last.set(c, index);
  }
}

/** Outbox deliveries oldest first, grouped by company. */
function outboxByCompany(deliveries) {
  const groups = new Map();
  for (const d of [...deliveries].sort((a, b) => a.id - b.id)) {
    if (!groups.has(d.company)) groups.set(d.company, []);
    groups.get(d.company).push(d);
  }
  return groups;
}

/** id → {company, index within the company's outbox order}. */
function outboxIndex(deliveries) {
  const index = new Map();
  for (const [c, list] of outboxByCompany(deliveries)) list.forEach((d, i) => index.set(d.event_id, { company: c, index: i }));
  return index;
}

/** A private temporary folder, removed after the file's tests. */
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), 'tm-webhooks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let browser = null;
async function sharedBrowser() {
  browser ??= await launchBrowser();
  return browser;
}
after(async () => {
  await browser?.close().catch(() => {});
});

/** The demo portal's Exports page of `id`: its last retrieval (`#result`). */
async function exportsResult(page, host, id) {
  await page.goto(`${host}/exports?company=${encodeURIComponent(id)}`);
  const result = page.locator('#result');
  return { outcome: await result.getAttribute('data-outcome', { timeout: 2000 }), text: norm(await result.textContent({ timeout: 2000 })) };
}

/** Wait until the receiver acknowledged a delivery of `type` for `id` not in `seen`; returns it. */
async function nextEvent(receiver, id, type, seen, opts = {}) {
  return waitFor(
    () =>
      receiver
        .acknowledged()
        .find((e) => !seen.has(e.headers['webhook-id']) && body(e).type === type && body(e).data.company === id),
    { message: `a ${type} webhook for ${id}`, ...opts },
  ).catch((e) => {
    const got = receiver.received.map((r) => `${r.status} ${body(r).type}`);
    throw new Error(`${e.message}; the receiver got ${JSON.stringify(got)}`);
  });
}

// ---------------------------------------------------------------------------------------------

test('W1. signatures: the granted event of a browser opt-in verifies with the standardwebhooks library; tampering fails', async () => {
  const dir = tempDir();
  const secretFile = join(dir, 'webhook-secret');
  const receiver = await startReceiver();
  const env = await startHost({
    args: [
      '--exchange-per-minute', '1000',
      '--companies', companiesFlag([['wh-sign', 'Signing Co.']]),
      '--retrieval-interval-ms', '0',
      '--webhook-url', receiver.url,
      '--webhook-secret-file', secretFile,
    ],
  });
  try {
    // The host created the secret on first run: private, whsec_ + base64 of 32 bytes.
    const mode = statSync(secretFile).mode & 0o777;
    assert.equal(mode, 0o600, `the secret file is mode ${mode.toString(8)}, not 600`);
    const secret = readFileSync(secretFile, 'utf8').trim();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]+={0,2}$/);
    assert.equal(Buffer.from(secret.slice(6), 'base64').length, 32, 'the secret is 32 random bytes');

    let row;
    await userPath(await sharedBrowser(), 'wh-01-signed', async ({ page }) => {
      const panel = await openPanel(page, env.host, 'wh-sign');
      await authorize(page, panel, env);
      [row] = await panel.waitForRows(1, '1-1 of 1');
    });

    const entry = await nextEvent(receiver, 'wh-sign', 'authorization.granted', new Set());
    assertHeaders(entry);
    assert.equal(entry.path, '/hooks/token-manager');
    // The reference library accepts it and returns the payload.
    const payload = verify(secret, entry);
    assert.deepEqual(payload, body(entry));
    assert.equal(payload.type, 'authorization.granted');
    assert.match(payload.timestamp, RFC3339_UTC);
    assert.equal(payload.data.company, 'wh-sign');
    assert.equal(payload.data.status, 'active');
    assert.equal(payload.data.actor, 'admin', 'actor is the portal user who opted in');
    assert.equal(String(payload.data.record?.id), row.id, 'data.record is the history row the panel shows');
    assert.equal(payload.data.record.company, 'wh-sign');
    assert.ok(!/access_token|refresh_token/.test(entry.raw.toString()), 'no token in the event');

    // Tampering of any signed part fails, with the library's own error.
    const tamper = (raw, headers) => () => new Webhook(secret).verify(raw, { ...entry.headers, ...headers });
    const text = entry.raw.toString('utf8');
    assert.ok(text.includes('"wh-sign"'));
    assert.throws(tamper(Buffer.from(text.replace('"wh-sign"', '"wh-sigm"')), {}), WebhookVerificationError, 'a changed company');
    assert.throws(tamper(Buffer.from(text.replace('"active"', '"cleared"')), {}), WebhookVerificationError, 'a changed status');
    assert.throws(tamper(Buffer.from(JSON.stringify(JSON.parse(text), null, 1)), {}), WebhookVerificationError, 'the same JSON re-serialized');
    assert.throws(tamper(entry.raw, { 'webhook-id': `msg_${randomBytes(16).toString('base64url')}` }), WebhookVerificationError, 'another id');
    assert.throws(tamper(entry.raw, { 'webhook-timestamp': String(Number(entry.headers['webhook-timestamp']) + 1) }), WebhookVerificationError, 'another timestamp');
    assert.throws(() => new Webhook(newSecret()).verify(entry.raw, entry.headers), WebhookVerificationError, 'another secret');
    assert.doesNotThrow(tamper(entry.raw, {}), 'the untouched delivery still verifies');

    // The deliveries list agrees: one event, delivered on the first attempt to this endpoint.
    const { deliveries, total } = await allDeliveries(env);
    assert.equal(total, 1, `one event in the outbox: ${JSON.stringify(deliveries)}`);
    const [d] = deliveries;
    assert.equal(d.event_id, entry.headers['webhook-id']);
    assert.equal(d.event_type, 'authorization.granted');
    assert.equal(d.company, 'wh-sign');
    assert.equal(d.endpoint, receiver.url);
    assert.equal(d.status, 'delivered');
    assert.equal(d.attempts, 1);
    assert.equal(d.last_status, 200);
    assert.equal(d.last_error, null);
    assert.equal(typeof d.delivered_at, 'number');
    assert.equal(receiver.received.length, 1, 'delivered once');
  } finally {
    await env.stop();
    await receiver.close();
  }
});

test('W2. receiver down for a while: retried with backoff, the oldest event holds its company queue, everything arrives in order once it is back; another endpoint is not held up', async (t) => {
  const dir = tempDir();
  const secretFile = join(dir, 'webhook-secret');
  const secret = newSecret();
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  let down = true;
  const flaky = await startReceiver({ answer: () => (down ? 503 : 200) });
  const steady = await startReceiver();
  const companies = ['wh-down-a', 'wh-down-b'];
  const env = await startHost({
    args: [
      '--exchange-per-minute', '1000',
      '--companies', companiesFlag(companies.map((c) => [c, c])),
      '--retrieval-interval-ms', '0',
      '--webhook-url', flaky.url.replace('/hooks/', '/flaky/'),
      '--webhook-url', steady.url,
      '--webhook-secret-file', secretFile,
      '--webhook-retry-min-ms', '100',
      '--webhook-retry-max-ms', '500',
    ],
  });
  const flakyUrl = flaky.url.replace('/hooks/', '/flaky/');
  try {
    // Three changes per company, interleaved, while one receiver answers 503.
    const user = 'ops-admin';
    const expected = new Map(companies.map((c) => [c, []]));
    for (const step of ['grant', 'clear', 'grant']) {
      for (const c of companies) {
        if (step === 'grant') await optInByApi(env, c, { user });
        else await clearByApi(env, c, { user });
        expected.get(c).push(step === 'grant' ? 'authorization.granted' : 'authorization.cleared');
      }
    }
    const firstAttempt = flaky.received[0]?.at ?? Date.now();
    const ofEndpoint = (deliveries, url) => deliveries.filter((d) => d.endpoint === url);

    // Down for at least 3 s and until each company's first event was refused 4 times; the
    // other endpoint has everything meanwhile.
    const heads = new Map();
    await waitFor(
      async () => {
        const { deliveries } = await allDeliveries(env);
        for (const [c, list] of outboxByCompany(ofEndpoint(deliveries, flakyUrl))) heads.set(c, list[0].event_id);
        const tries = [...heads.values()].map((id) => flaky.received.filter((e) => e.headers['webhook-id'] === id).length);
        return Date.now() - firstAttempt >= 3000 && heads.size === 2 && tries.every((n) => n >= 4) && steady.acknowledged().length >= 6;
      },
      { timeout: 20_000, message: 'each company head to be retried 4 times over 3 s, the other endpoint to get all six' },
    );
    const whileDown = await allDeliveries(env);
    assert.equal(whileDown.total, 12, 'one event per change and endpoint');
    const pending = await allDeliveries(env, 'pending');
    assert.deepEqual(pending.deliveries.map((d) => d.endpoint), Array(6).fill(flakyUrl), 'only the down endpoint has pending deliveries');
    assert.deepEqual(
      ofEndpoint(whileDown.deliveries, steady.url).map((d) => [d.status, d.attempts]),
      Array(6).fill(['delivered', 1]),
      'the other endpoint: all delivered at the first attempt',
    );
    const attempted = new Set(flaky.received.map((e) => e.headers['webhook-id']));
    assert.deepEqual([...attempted].sort(), [...heads.values()].sort(), 'only the oldest event of each company is tried while it fails');
    for (const d of ofEndpoint(whileDown.deliveries, flakyUrl)) {
      if ([...heads.values()].includes(d.event_id)) {
        assert.ok(d.attempts >= 3, `${d.event_id} attempts ${d.attempts}`);
        assert.equal(d.last_status, 503);
        assert.match(d.last_error ?? '', /503/);
        assert.equal(typeof d.next_attempt_at, 'number');
      } else {
        assert.equal(d.attempts, 0, `${d.event_id} (${d.event_type}) waits behind its company's oldest event`);
      }
    }
    // Backoff: a fresh timestamp per attempt, the first retry soon, later ones further apart,
    // none beyond the 500 ms maximum (with slack for a busy machine).
    for (const id of heads.values()) {
      const tries = flaky.received.filter((e) => e.headers['webhook-id'] === id);
      const gaps = tries.slice(1).map((e, i) => e.at - tries[i].at);
      t.diagnostic(`${id}: ${tries.length} attempts while down, gaps ${gaps.join(', ')} ms`);
      assert.ok(gaps[0] >= 60 && gaps[0] < 400, `first retry of ${id} after ${gaps[0]} ms (100 ms ± 20 %)`);
      assert.ok(Math.max(...gaps.slice(1)) >= 300, `the delay grew: gaps ${gaps}`);
      assert.ok(Math.max(...gaps) < 2000, `no gap beyond the maximum: ${gaps}`);
      const stamps = tries.map((e) => Number(e.headers['webhook-timestamp']));
      assert.deepEqual(stamps, [...stamps].sort((a, b) => a - b), 'timestamps of the attempts never go back');
    }

    // The receiver is back.
    down = false;
    await waitFor(async () => (await allDeliveries(env, 'delivered')).total === 12, {
      timeout: 20_000,
      message: 'all twelve deliveries done after the receiver recovered',
    });
    const { deliveries } = await allDeliveries(env);
    for (const [receiver, url] of [[flaky, flakyUrl], [steady, steady.url]]) {
      const mine = ofEndpoint(deliveries, url);
      assert.equal(mine.length, 6);
      const index = outboxIndex(mine);
      for (const d of mine) {
        assert.equal(d.status, 'delivered', JSON.stringify(d));
        assert.equal(d.last_status, 200);
        assert.equal(typeof d.delivered_at, 'number');
      }
      // Every delivery verifies; a retry is byte-for-byte the same event.
      const payloads = verifyAll(secret, receiver.received);
      const outboxIds = mine.map((d) => d.event_id).sort();
      assert.deepEqual([...payloads.keys()].sort(), outboxIds, `${url}: exactly the outbox events: none missing, none invented`);
      // No crash here: each event acknowledged exactly once.
      assert.deepEqual(receiver.acknowledged().map((e) => e.headers['webhook-id']).sort(), outboxIds, `${url}: each event acknowledged once`);
      assertInOrderPerCompany(receiver.received, index);
      // Per company: the changes in the order they were made, as the events say.
      for (const [c, list] of outboxByCompany(mine)) {
        assert.deepEqual(list.map((d) => d.event_type), expected.get(c), `${c}: outbox order`);
        const arrived = receiver.acknowledged().filter((e) => body(e).data.company === c).map((e) => payloads.get(e.headers['webhook-id']));
        assert.deepEqual(arrived.map((p) => p.type), expected.get(c), `${c}: arrival order at ${url}`);
        assert.deepEqual(arrived.map((p) => p.data.status), ['active', 'cleared', 'active']);
        assert.ok(arrived.every((p) => p.data.actor === user), `${c}: actor is ${user}`);
        const times = arrived.map((p) => Date.parse(p.timestamp));
        assert.deepEqual(times, [...times].sort((a, b) => a - b), `${c}: event timestamps in order`);
      }
    }
    // Both endpoints got the same events (same ids, same bodies).
    const bodies = (r) => new Map(r.acknowledged().map((e) => [e.headers['webhook-id'], e.raw.toString('utf8')]));
    assert.deepEqual(bodies(flaky), bodies(steady), 'the same events, signed the same, at both endpoints');
  } finally {
    await env.stop();
    await flaky.close();
    await steady.close();
  }
});

test('W3. SIGKILL right after a committed change, 20 times on one database: every event delivered at least once, none invented, in order', async (t) => {
  const dir = tempDir();
  const secretFile = join(dir, 'webhook-secret');
  const secret = newSecret();
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const apiKey = generateApiKey();
  // Slow to answer, so that kills land while a delivery is in flight.
  const receiver = await startReceiver({ delay: () => randomInt(300, 801) });
  // Six companies: a delivery cut off by a kill holds its company's queue until the dead
  // process's claim expires (the 10 s send timeout + 5 s), so the kills keep landing mid-delivery
  // on the other companies meanwhile; each company still sees 3-4 changes in a row.
  const companies = ['wh-kill-a', 'wh-kill-b', 'wh-kill-c', 'wh-kill-d', 'wh-kill-e', 'wh-kill-f'];
  const args = [
    '--db', join(dir, 'tm.db'),
    '--key-file', join(dir, 'key'),
    '--webhook-secret-file', secretFile,
    '--webhook-url', receiver.url,
    '--exchange-per-minute', '1000',
    '--retrieval-interval-ms', '0',
    '--companies', companiesFlag(companies.map((c) => [c, c])),
  ];
  const start = () => startHost({ args, env: { TOKEN_MANAGER_API_KEY: apiKey } });
  const expected = new Map(companies.map((c) => [c, []]));
  let env = null;
  try {
    for (let i = 0; i < 20; i++) {
      env = await start();
      const c = companies[i % companies.length];
      const { status } = await company(env, c);
      if (status === 'active') {
        await clearByApi(env, c);
        expected.get(c).push('authorization.cleared');
      } else {
        await optInByApi(env, c);
        expected.get(c).push('authorization.granted');
      }
      await sleep(randomInt(0, 601));
      const exit = await env.kill('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL', `iteration ${i}: the host died of SIGKILL`);
      env = null;
    }
    const interrupted = receiver.received.filter((e) => !e.answered).length;
    t.diagnostic(`${receiver.received.length} deliveries received during the kills, ${interrupted} of them cut off by a kill`);
    assert.ok(interrupted >= 3, 'kills landed while deliveries were in flight');

    // Once more, and let it drain (a dead process's claims expire first).
    env = await start();
    await waitFor(async () => (await allDeliveries(env, 'pending')).total === 0, {
      timeout: 90_000,
      interval: 500,
      message: 'the outbox to drain after the last restart',
    });
    const { deliveries, total } = await allDeliveries(env);
    const committed = [...expected.values()].reduce((n, l) => n + l.length, 0);
    assert.equal(total, committed, `one outbox event per committed change (${committed})`);
    assert.deepEqual(
      deliveries.filter((d) => d.status !== 'delivered'),
      [],
      'every event in the outbox is delivered',
    );
    const ids = deliveries.map((d) => d.event_id);
    assert.equal(new Set(ids).size, ids.length, 'event ids are unique');
    assert.deepEqual(deliveries.map((d) => d.id), [...deliveries.map((d) => d.id)].sort((a, b) => b - a), 'the list is newest first');

    // The receiver's view: all verify, none invented, none missing, in order per company.
    const payloads = verifyAll(secret, receiver.received);
    const invented = [...payloads.keys()].filter((id) => !ids.includes(id));
    assert.deepEqual(invented, [], 'no received event the outbox does not list');
    const missing = ids.filter((id) => !receiver.acknowledged().some((e) => e.headers['webhook-id'] === id));
    assert.deepEqual(missing, [], 'every outbox event acknowledged by the receiver at least once');
    assertInOrderPerCompany(receiver.received, outboxIndex(deliveries));
    for (const [c, list] of outboxByCompany(deliveries)) {
      assert.deepEqual(list.map((d) => d.event_type), expected.get(c), `${c}: the outbox holds the changes in the order they were made`);
      const firstArrivals = [];
      for (const e of receiver.received) {
        const id = e.headers['webhook-id'];
        if (payloads.get(id).data.company === c && !firstArrivals.includes(id)) firstArrivals.push(id);
      }
      assert.deepEqual(firstArrivals, list.map((d) => d.event_id), `${c}: first arrivals in outbox order`);
      for (const d of list) {
        const p = payloads.get(d.event_id);
        assert.equal(p.type, d.event_type);
        assert.equal(p.data.status, d.event_type === 'authorization.granted' ? 'active' : 'cleared');
      }
    }
    const duplicates = receiver.received.length - payloads.size;
    t.diagnostic(`${payloads.size} events, ${receiver.received.length} deliveries received (${duplicates} repeated ids)`);
  } finally {
    await env?.stop();
    await receiver.close();
  }
});

test('W4. in Chromium: granted; password change → invalidated and the panel asks to opt in again; opt in again; Clear → cleared, the worker is refused by the proxy', async (t) => {
  const dir = tempDir();
  const secretFile = join(dir, 'webhook-secret');
  const secret = newSecret();
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  const receiver = await startReceiver();
  const id = 'wh-e2e';
  const env = await startHost({
    args: [
      '--exchange-per-minute', '1000',
      '--companies', companiesFlag([[id, 'Webhook Co.']]),
      '--webhook-url', receiver.url,
      '--webhook-secret-file', secretFile,
      // Refreshes about every 3 s, looked for every 200 ms; the worker retrieves every 200 ms.
      '--access-ttl-secs', '6',
      '--refresh-skew-secs', '4',
      '--refresh-tick-ms', '200',
      '--retrieval-interval-ms', '200',
    ],
  });
  const seen = new Set();
  const take = async (type, opts) => {
    const entry = await nextEvent(receiver, id, type, seen, opts);
    seen.add(entry.headers['webhook-id']);
    assertHeaders(entry);
    return verify(secret, entry);
  };
  try {
    await userPath(await sharedBrowser(), 'wh-04-end-to-end', async ({ context, page, setShot }) => {
      const exportsTab = await context.newPage();
      const exports = () => exportsResult(exportsTab, env.host, id);

      // 1. Opt in through the panel → authorization.granted.
      const panel = await openPanel(page, env.host, id);
      await authorize(page, panel, env);
      const [row] = await panel.waitForRows(1, '1-1 of 1');
      const granted = await take('authorization.granted');
      assert.equal(granted.data.status, 'active');
      assert.equal(granted.data.actor, 'admin');
      assert.equal(String(granted.data.record.id), row.id);
      // The demo portal's worker retrieves through the proxy.
      await waitFor(async () => (await exports()).outcome === 'data', { message: 'the worker to retrieve data' });
      // The refresher renews the token: authorization.refreshed with the new record.
      const refreshed = await take('authorization.refreshed', { timeout: 15_000 });
      assert.equal(refreshed.data.status, 'active');
      assert.ok(refreshed.data.record.id > granted.data.record.id, 'a newer record');

      // 2. The UPS.com password changes → the next refresh fails → authorization.invalidated.
      const newPassword = 'changed-password-wh';
      await passwordChange(env, DEMO_USER, newPassword);
      const invalidated = await take('authorization.invalidated', { timeout: 20_000 });
      assert.equal(invalidated.data.status, 'invalidated');
      assert.equal(invalidated.data.reason, 'invalid_grant');
      const afterInvalid = await company(env, id);
      assert.equal(afterInvalid.status, 'invalidated');
      assert.equal(afterInvalid.reason, 'invalid_grant');
      const refused = await serverApi(env, 'POST', `/companies/${id}/access-token`);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.json?.error?.code, 'invalidated');
      await page.reload();
      await panel.waitForState('invalidated');
      await waitForText(panel.alert, TEXT.invalidated);
      assert.equal(await panel.authorize.isEnabled(), true, 'Authorize offered again');

      // 3. Opt in again with the new password → a second granted; the worker retrieves again.
      await authorize(page, panel, env, { password: newPassword });
      const regranted = await take('authorization.granted');
      assert.equal(regranted.data.status, 'active');
      assert.equal(regranted.data.actor, 'admin');
      const callsBefore = (await mockStats(env)).data_calls_total;
      await waitFor(async () => (await exports()).outcome === 'data' && (await mockStats(env)).data_calls_total > callsBefore, {
        message: 'the worker to retrieve data again after the new opt-in',
      });
      const token = await serverApi(env, 'POST', `/companies/${id}/access-token`);
      assert.equal(token.status, 200, token.text);
      assert.equal(token.json.token_type, 'Bearer');

      // 4. Clear in the panel → authorization.cleared, actor = the portal user.
      await panel.clear.click();
      const clearResponse = page.waitForResponse((r) => r.url().startsWith(`${env.host}/api/optin/clear`));
      await panel.dialog.getByRole('button', { name: TEXT.confirmTitle, exact: true }).click();
      assert.equal((await clearResponse).status(), 200);
      const callsAtClear = (await mockStats(env)).data_calls_total;
      await panel.waitForState('not_authorized');
      await panel.waitForStatus(TEXT.clearedUps);
      const cleared = await take('authorization.cleared');
      assert.equal(cleared.data.status, 'cleared');
      assert.equal(cleared.data.actor, 'admin', 'actor is the portal user who cleared');
      const afterClear = await company(env, id);
      assert.equal(afterClear.status, 'cleared');
      assert.equal(afterClear.cleared_by, 'admin');

      // The worker's next proxy call is refused; the provider is not called any more.
      const stopped = await waitFor(
        async () => {
          const r = await exports();
          return r.outcome === 'stopped' && r;
        },
        { message: 'the Exports page to show the retrieval stopped' },
      );
      assert.match(stopped.text, /\(cleared\)/);
      t.diagnostic(`Exports after Clear: ${stopped.outcome}: ${stopped.text}`);
      await sleep(1200); // 6 retrieval intervals
      assert.equal((await mockStats(env)).data_calls_total, callsAtClear, 'no data API call after Clear returned');
      const proxied = await serverApi(env, 'GET', `/companies/${id}/proxy/track/v1/details/1Z999AA10123456784`);
      assert.equal(proxied.status, 409, proxied.text);
      assert.equal(proxied.json?.error?.code, 'cleared');
      const noToken = await serverApi(env, 'POST', `/companies/${id}/access-token`);
      assert.equal(noToken.status, 409, noToken.text);
      assert.equal(noToken.json?.error?.code, 'cleared');
      assert.equal((await mockStats(env)).data_calls_total, callsAtClear, 'the refused proxy call reached no provider');
      setShot(page);
    });

    // The whole story, in order, as delivered; the outbox agrees and everything is delivered.
    const acks = receiver.acknowledged();
    const payloads = verifyAll(secret, receiver.received);
    const types = acks.map((e) => body(e).type.replace('authorization.', '')).join(' ');
    t.diagnostic(`events: ${types}`);
    assert.match(types, /^granted( refreshed)+ invalidated granted( refreshed)* cleared$/, 'the events of the story, in order');
    const { deliveries } = await allDeliveries(env);
    assert.deepEqual([...deliveries].reverse().map((d) => d.event_id), acks.map((e) => e.headers['webhook-id']), 'arrival order = outbox order');
    assert.ok(deliveries.every((d) => d.status === 'delivered'));
    assert.equal(payloads.size, deliveries.length);
  } finally {
    await env.stop();
    await receiver.close();
  }
});

test('W5. give-up and redelivery: an event still refused after --webhook-give-up-secs is listed failed; redeliver sends the same event again', async () => {
  const dir = tempDir();
  const secretFile = join(dir, 'webhook-secret');
  const secret = newSecret();
  writeFileSync(secretFile, `${secret}\n`, { mode: 0o600 });
  let down = true;
  const receiver = await startReceiver({ answer: () => (down ? 500 : 204) });
  const env = await startHost({
    args: [
      '--exchange-per-minute', '1000',
      '--companies', companiesFlag([['wh-giveup', 'Give-up Co.']]),
      '--retrieval-interval-ms', '0',
      '--webhook-url', receiver.url,
      '--webhook-secret-file', secretFile,
      '--webhook-retry-min-ms', '200',
      '--webhook-retry-max-ms', '400',
      '--webhook-give-up-secs', '2',
    ],
  });
  try {
    await optInByApi(env, 'wh-giveup');
    const failed = await waitFor(
      async () => {
        const { deliveries } = await allDeliveries(env, 'failed');
        return deliveries.length === 1 && deliveries[0];
      },
      { timeout: 15_000, message: 'the delivery to be given up' },
    );
    assert.equal(failed.event_type, 'authorization.granted');
    assert.equal(failed.next_attempt_at, null, 'no further attempt planned');
    assert.equal(failed.delivered_at, null);
    assert.equal(failed.last_status, 500);
    assert.ok(failed.attempts >= 3, `retried before giving up (${failed.attempts} attempts)`);
    assert.ok(Date.now() - failed.created_at >= 2000, 'not given up before 2 s');
    assert.equal(receiver.received.length, failed.attempts, 'every attempt reached the receiver');
    assert.ok(env.logs().includes('webhook given up'), 'the give-up is logged');

    // The operator fixes the receiver and redelivers.
    down = false;
    const before = receiver.received.length;
    const r = await serverApi(env, 'POST', `/webhooks/deliveries/${failed.id}/redeliver`);
    assert.equal(r.status, 202, r.text);
    assert.deepEqual(r.json, { id: failed.id, status: 'pending' });
    await waitFor(async () => (await allDeliveries(env, 'delivered')).total === 1, { message: 'the redelivery' });
    const again = receiver.received.slice(before);
    assert.equal(again.length, 1, 'redelivered once');
    assert.equal(again[0].headers['webhook-id'], failed.event_id, 'the same event id');
    assert.equal(again[0].raw.toString(), receiver.received[0].raw.toString(), 'the same body');
    verifyAll(secret, receiver.received);
    const [d] = (await allDeliveries(env)).deliveries;
    assert.equal(d.status, 'delivered');
    assert.equal(d.last_status, 204);
    const unknown = await serverApi(env, 'POST', '/webhooks/deliveries/999999/redeliver');
    assert.equal(unknown.status, 404, unknown.text);
  } finally {
    await env.stop();
    await receiver.close();
  }
});
