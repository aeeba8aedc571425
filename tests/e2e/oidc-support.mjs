// Helpers of oidc-provider.test.mjs: a real, independent OpenID provider (npm `oidc-provider`,
// panva's certified implementation) in this test process on plain-http loopback, with a record
// of every request it served, every token answer it gave and every event it emitted; a forged
// metadata server; a generic-provider host-example. Not a test file itself.

import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Provider from 'oidc-provider';

import { freePort, startHost } from '../harness/index.mjs';
import { companiesFlag, waitFor } from './support.mjs';

/** The version of oidc-provider this file runs against (its package.json). */
export const OIDC_PROVIDER_VERSION = createRequire(import.meta.url)('oidc-provider/package.json').version;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One RSA signing key for every provider of the run (generating one costs ~100 ms). */
let signingJwk = null;
function signingKey() {
  signingJwk ??= { ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: 'e2e-rs256', alg: 'RS256', use: 'sig' };
  return signingJwk;
}

/**
 * Start oidc-provider on `http://127.0.0.1:<ephemeral>` (issuer without a path) with one
 * confidential web client (`client_secret_basic`, code flow, refresh tokens), PKCE required,
 * revocation and introspection on, resource indicators off, the development login/consent
 * pages, and the given rotation policy and lifetimes (seconds).
 *
 * `stateRefreshLifetime`: when true, a koa middleware adds `refresh_token_expires_in` to every
 * token answer that carries a refresh token — the seconds the provider's own RefreshToken
 * model has left (`remainingTTL`), what UPS and other servers state; oidc-provider itself
 * states no refresh lifetime.
 *
 * Returns the provider, its issuer, and the records:
 * - `requests`: `{at, method, path, route, status, query, grantType, answer, location, params}`
 *   — every request served (`answer` = the token endpoint's JSON answer, `query` = the
 *   authorization request's parameters, `location` = a redirect's target, `params` = a
 *   revocation's or introspection's `token` and `token_type_hint`);
 * - `tokenCalls()`: the token endpoint's requests, in order;
 * - `events`: `{at, name, detail}` of the provider events that matter here.
 */
export async function startOidcProvider({
  redirectUri,
  clientId = 'token-manager-e2e',
  clientSecret,
  rotateRefreshToken,
  accessTtl,
  refreshTtl = 14 * 24 * 3600,
  stateRefreshLifetime = false,
}) {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        client_name: 'Token Manager e2e',
        application_type: 'web',
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    // PKCE for every client (the default asks it of public clients only).
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: { enabled: false },
    },
    rotateRefreshToken,
    ttl: {
      AccessToken: accessTtl,
      RefreshToken: refreshTtl,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    conformIdTokenClaims: true,
    // Any login name of the development screens is the account (its `sub`).
    findAccount: (ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
  });

  const requests = [];
  const events = [];
  provider.use(async (ctx, next) => {
    const entry = { at: Date.now(), method: ctx.method, path: ctx.path, route: null, status: null, query: null, grantType: null, answer: null, location: null, params: null };
    requests.push(entry);
    await next();
    entry.route = ctx.oidc?.route ?? null;
    entry.status = ctx.status;
    entry.location = ctx.response.get('location') || null;
    if (entry.route === 'authorization') entry.query = { ...ctx.query };
    if (entry.route === 'revocation' || entry.route === 'introspection') {
      entry.params = { token: ctx.oidc?.params?.token, token_type_hint: ctx.oidc?.params?.token_type_hint };
    }
    if (entry.route === 'token') {
      entry.grantType = ctx.oidc?.params?.grant_type ?? null;
      entry.refreshTokenSent = ctx.oidc?.params?.refresh_token ?? null;
      if (ctx.body && typeof ctx.body === 'object' && !Buffer.isBuffer(ctx.body)) {
        if (stateRefreshLifetime && ctx.status === 200 && typeof ctx.body.refresh_token === 'string') {
          const rt = await provider.RefreshToken.find(ctx.body.refresh_token);
          if (rt) ctx.body = { ...ctx.body, refresh_token_expires_in: rt.remainingTTL };
        }
        entry.answer = structuredClone(ctx.body);
      }
    }
  });
  const on = (name, detail) =>
    provider.on(name, (...args) => events.push({ at: Date.now(), name, detail: detail(...args) }));
  on('grant.revoked', (ctx, grantId) => ({ grantId, route: ctx?.oidc?.route ?? null }));
  on('refresh_token.destroyed', (token) => ({ jti: token.jti, grantId: token.grantId }));
  on('refresh_token.consumed', (token) => ({ jti: token.jti, grantId: token.grantId }));
  on('grant.success', (ctx) => ({ grantType: ctx.oidc.params?.grant_type }));
  on('grant.error', (ctx, err) => ({ grantType: ctx.oidc.params?.grant_type, error: err.error, description: err.error_description, detail: err.error_detail }));
  on('grant.destroyed', (grant) => ({ jti: grant.jti }));
  on('revocation.error', (ctx, err) => ({ error: err.error, description: err.error_description }));
  on('authorization.error', (ctx, err) => ({ error: err.error, description: err.error_description }));
  on('server_error', (ctx, err) => ({ message: err.message, stack: err.stack }));

  server.on('request', provider.callback());

  return {
    provider,
    issuer,
    port,
    clientId,
    clientSecret,
    requests,
    events,
    /** The token endpoint's answers and requests (`{grantType, status, answer}`), in order. */
    tokenCalls: () => requests.filter((r) => r.route === 'token'),
    /** Names of the events seen so far. */
    eventNames: () => events.map((e) => e.name),
    /** Events named `name`. */
    eventsNamed: (name) => events.filter((e) => e.name === name),
    /**
     * RFC 7662 introspection of `token` by our client (HTTP, client_secret_basic as RFC 6749
     * §2.3.1 asks): the parsed answer.
     */
    async introspect(token, hint = 'refresh_token') {
      const r = await fetch(`${issuer}/token/introspection`, {
        method: 'POST',
        headers: { authorization: basic(clientId, clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: hint }),
      });
      assert.equal(r.status, 200, `introspection answered ${r.status}`);
      return r.json();
    },
    /** A refresh_token grant with `token` by our client: `{status, json}`. */
    async refreshWith(token) {
      const r = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic(clientId, clientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token }),
      });
      return { status: r.status, json: await r.json() };
    },
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** RFC 6749 §2.3.1: form-encode id and secret, then Basic. */
function basic(id, secret) {
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

/**
 * A provider and a generic-provider host-example in front of it: the host's port is picked
 * first (its redirect URI `{public-url}/admin/token-manager` must be registered with the
 * provider before the provider starts, and the provider must answer discovery before the host
 * starts). `provider` options go to {@link startOidcProvider}; `hostArgs` are extra host flags.
 * Returns `{op, env, redirectUri, close()}`.
 */
export async function startProviderAndHost({ provider: opts, scope = 'openid offline_access', hostArgs = [], companies = [] }) {
  const hostPort = await freePort();
  const publicUrl = `http://127.0.0.1:${hostPort}`;
  const redirectUri = `${publicUrl}/admin/token-manager`;
  // A secret with characters RFC 6749 §2.3.1's form-encoding changes ('+', '/', '=', ':', '%').
  const clientSecret = `${randomBytes(18).toString('base64')}+/=:%e2e`;
  const op = await startOidcProvider({ redirectUri, clientSecret, ...opts });
  const secretDir = mkdtempSync(join(tmpdir(), 'tm-oidc-'));
  const secretFile = join(secretDir, 'client-secret');
  writeFileSync(secretFile, clientSecret, { mode: 0o600 });
  let env;
  try {
    env = await startHost({
      args: [
        '--listen', `127.0.0.1:${hostPort}`,
        '--public-url', publicUrl,
        '--provider', 'generic',
        '--issuer', op.issuer,
        '--dev-allow-http-issuer',
        '--client-id', op.clientId,
        '--client-secret-file', secretFile,
        '--scope', scope,
        '--retrieval-interval-ms', '0',
        '--exchange-per-minute', '1000',
        '--companies', companiesFlag(companies),
        ...hostArgs,
      ],
    });
  } catch (e) {
    await op.close();
    rmSync(secretDir, { recursive: true, force: true });
    throw e;
  }
  return {
    op,
    env,
    redirectUri,
    async close() {
      await env.stop();
      await op.close();
      rmSync(secretDir, { recursive: true, force: true });
    },
  };
}

/** `GET /api/v1/companies/{id}` with the portal backend's API key. */
export async function companyStatus(env, id) {
  const r = await fetch(`${env.host}/api/v1/companies/${encodeURIComponent(id)}`, {
    headers: { authorization: `Bearer ${env.apiKey}` },
  });
  const text = await r.text();
  assert.equal(r.status, 200, `GET /api/v1/companies/${id} answered ${r.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * The provider's development screens as a person uses them: Sign-in (any login, any password)
 * when asked, then Authorize's Continue (consent). Returns which screens were shown.
 */
export async function signInAtProvider(page, op, { login = 'ada', password = 'any-password' } = {}) {
  await page.waitForURL((u) => u.href.startsWith(op.issuer), { waitUntil: 'domcontentloaded' });
  const shown = [];
  const heading = page.getByRole('heading', { level: 1 });
  await heading.waitFor();
  if ((await heading.textContent()).trim() === 'Sign-in') {
    shown.push('login');
    await page.getByPlaceholder('Enter any login').fill(login);
    await page.getByPlaceholder('and password').fill(password);
    await page.getByRole('button', { name: 'Sign-in' }).click();
    await page.getByRole('heading', { name: 'Authorize', level: 1 }).waitFor();
  }
  assert.equal((await heading.textContent()).trim(), 'Authorize', 'the consent screen');
  shown.push('consent');
  await page.getByRole('button', { name: 'Continue' }).click();
  return shown;
}

/** Keep a page's context on loopback (the dev screens @import a web font from the Internet). */
export async function loopbackOnly(context) {
  await context.route(
    (url) => !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && url.protocol !== 'data:',
    (route) => route.abort('internetdisconnected'),
  );
}

/**
 * A forged metadata server on `host` (a loopback address) and an ephemeral port: answers
 * `documentFor(origin)` (an object, serialized as JSON, or a string/Buffer sent as is) at every
 * well-known metadata path and 404 elsewhere, and records every request (`{method, url}`).
 */
export async function startForgedMetadata({ host = '127.0.0.1', documentFor }) {
  const requests = [];
  let origin = null;
  const server = createServer((req, res) => {
    requests.push({ method: req.method, url: req.url });
    req.resume();
    res.on('error', () => {});
    if (!req.url.startsWith('/.well-known/')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const doc = documentFor(origin);
    const body = typeof doc === 'string' || Buffer.isBuffer(doc) ? doc : JSON.stringify(doc);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  server.listen(0, host);
  await once(server, 'listening');
  origin = `http://${host}:${server.address().port}`;
  return {
    origin,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A server on `host` (a loopback address) that records every request: a forged endpoint. */
export async function startTrap(host = '127.0.0.1') {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method, url: req.url });
    res.writeHead(500).end();
  });
  server.listen(0, host);
  await once(server, 'listening');
  return {
    origin: `http://${host}:${server.address().port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export { sleep, waitFor };
