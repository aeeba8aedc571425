// Drive an opt-in the way an admin's browser and the widget do, to get authorization codes
// for `POST /exchange`: `POST /api/optin/start` (the host creates state and PKCE verifier and
// keeps them; its authorize URL carries the state and the S256 challenge) → the mock's Log In
// and Password screens → the redirect back carrying `code` and `state`. Mirrors
// host-example/tests/host/harness (start + mock_ups::testing::sign_in).

import http from 'node:http';

/** Keep-alive HTTP agent shared by the drivers (loopback). */
export const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/**
 * Minimal HTTP request on the keep-alive agent (no redirects followed). Resolves to
 * `{ status, headers, body }` with `body` as text.
 */
export function request(url, { method = 'GET', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** Headers of a widget API call that changes something: bearer token, JSON, the CSRF header. */
const postHeaders = (token) => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'X-Token-Manager': '1' });

function form(fields) {
  return new URLSearchParams(fields).toString();
}

/** `POST /api/optin/start {company}` with the session `token`; resolves to the parsed answer. */
export async function startOptIn(host, token, company) {
  const r = await request(`${host}/api/optin/start`, { method: 'POST', headers: postHeaders(token), body: JSON.stringify({ company }) });
  if (r.status !== 200) throw new Error(`POST /start for ${company}: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body);
}

/**
 * Sign in at the mock's screens from `authorizeUrl` (the authorize endpoint, whose redirect to
 * the Log In screen is followed, or the screen itself) and return the redirect back (a `URL`).
 */
export async function signIn(authorizeUrl, { user = 'demo', password = 'demo-password' } = {}) {
  let url = new URL(authorizeUrl);
  let page;
  for (let hops = 0; ; hops++) {
    page = await request(url.toString());
    if (page.status < 300 || page.status >= 400 || !page.headers.location || hops === 3) break;
    url = new URL(page.headers.location, url);
  }
  if (page.status !== 200) throw new Error(`mock sign-in page: HTTP ${page.status} ${page.body.slice(0, 200)}`);
  const txn = (page.body.match(/name="txn" value="([^"]+)"/) ?? [])[1];
  if (!txn) throw new Error('mock sign-in page has no txn field');
  const signin = `${url.origin}/lasso/signin`;
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const step1 = await request(signin, { method: 'POST', headers, body: form({ txn, action: 'continue', username: user, agree: 'yes' }) });
  if (step1.status !== 200 || !step1.body.includes('Welcome back,')) throw new Error(`mock Log In: HTTP ${step1.status}`);
  const back = await request(signin, { method: 'POST', headers, body: form({ txn, action: 'login', password }) });
  if (back.status !== 302) throw new Error(`mock Password: HTTP ${back.status} ${back.body.slice(0, 200)}`);
  return new URL(back.headers.location);
}

/**
 * One code for `company`: `/start` with the session `token`, then the mock's sign-in screens.
 * Returns the `POST /exchange` body `{ company, code, state }`.
 */
export async function mintCode(host, token, company, creds = {}) {
  const started = await startOptIn(host, token, company);
  const sent = new URL(started.authorize_url).searchParams.get('state');
  const back = await signIn(started.authorize_url, creds);
  const code = back.searchParams.get('code');
  const state = back.searchParams.get('state');
  if (!code || !state) throw new Error(`the redirect back carried no code or state: ${back.search}`);
  if (sent && state !== sent) throw new Error('the redirect back carried another state');
  if (state !== started.pending?.state) throw new Error('the redirect back carried a state other than the one /start answered');
  return { company, code, state };
}

/** Run `task(i)` for i in 0..n with at most `concurrency` in flight; results in order. */
export async function pool(n, concurrency, task) {
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, concurrency) }, worker));
  return out;
}

/**
 * `POST /exchange` with the session `token` and the CSRF header; returns status, ms, body. The
 * time is this request's only (the code was minted before).
 */
export async function exchange(host, token, body) {
  const headers = postHeaders(token);
  const payload = JSON.stringify(body);
  const t = performance.now();
  const r = await request(`${host}/api/optin/exchange`, { method: 'POST', headers, body: payload });
  return { status: r.status, ms: performance.now() - t, body: r.body };
}
