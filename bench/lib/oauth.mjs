// Drive the mock UPS the way an admin's browser does, to mint authorization codes for
// `POST /exchange`: /config → authorize URL (state + PKCE S256) → the mock's Log In and
// Password screens → the redirect back carrying the code. Mirrors host-example/tests/common.

import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const b64url = (buf) => buf.toString('base64url');

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

/** The widget's `/config` for `company` (parsed JSON). */
export async function publicConfig(host, cookie, company) {
  const r = await request(`${host}/api/optin/config?company=${encodeURIComponent(company)}`, { headers: { Cookie: cookie } });
  if (r.status !== 200) throw new Error(`GET /config: HTTP ${r.status} ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body);
}

function form(fields) {
  return new URLSearchParams(fields).toString();
}

/**
 * One code through the mock's sign-in screens. Returns the `POST /exchange` body
 * `{ company, code, code_verifier, redirect_uri }`.
 */
export async function mintCode(config, company, { user = 'demo', password = 'demo-password' } = {}) {
  const state = b64url(randomBytes(24));
  const verifier = b64url(randomBytes(48));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  const url = new URL(config.authorize_url);
  const q = url.searchParams;
  q.append('client_id', config.client_id);
  q.append('redirect_uri', config.redirect_uri);
  q.append('response_type', 'code');
  if (config.scope?.trim()) q.append('scope', config.scope.trim());
  for (const [k, v] of Object.entries(config.extra_params ?? {})) q.append(k, v);
  q.append('state', state);
  if (config.pkce) {
    q.append('code_challenge', challenge);
    q.append('code_challenge_method', 'S256');
  }
  const page = await request(url.toString());
  if (page.status !== 200) throw new Error(`mock sign-in page: HTTP ${page.status} ${page.body.slice(0, 200)}`);
  const txn = (page.body.match(/name="txn" value="([^"]+)"/) ?? [])[1];
  if (!txn) throw new Error('mock sign-in page has no txn field');
  const signin = `${url.origin}/lasso/signin`;
  const headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const step1 = await request(signin, { method: 'POST', headers, body: form({ txn, action: 'continue', username: user, agree: 'yes' }) });
  if (step1.status !== 200 || !step1.body.includes('Welcome back,')) throw new Error(`mock Log In: HTTP ${step1.status}`);
  const back = await request(signin, { method: 'POST', headers, body: form({ txn, action: 'login', password }) });
  if (back.status !== 302) throw new Error(`mock Password: HTTP ${back.status} ${back.body.slice(0, 200)}`);
  const returned = new URL(back.headers.location);
  if (returned.searchParams.get('state') !== state) throw new Error('the redirect back carried another state');
  const code = returned.searchParams.get('code');
  if (!code) throw new Error(`the redirect back carried no code: ${returned.search}`);
  return { company, code, code_verifier: verifier, redirect_uri: config.redirect_uri };
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

/** `POST /exchange` with the CSRF header and the session cookie; returns status, ms, body. */
export async function exchange(host, cookie, body) {
  const t = performance.now();
  const r = await request(`${host}/api/optin/exchange`, {
    method: 'POST',
    headers: { Cookie: cookie, 'Content-Type': 'application/json', 'X-Token-Manager': '1' },
    body: JSON.stringify(body),
  });
  return { status: r.status, ms: performance.now() - t, body: r.body };
}
