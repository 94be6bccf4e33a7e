// MutualClient: fetch() with HTTP Mutual authentication (RFC 8120 §10).
//
//   const client = new MutualClient({ user, password });
//   const response = await client.fetch(url, init);
//
// fetch() resolves only with a response whose vks was verified (AUTH-SUCCEED)
// or with the response of a resource that is not protected (UNAUTHENTICATED
// on the first request, RFC 8120 §10.1); otherwise it rejects with a
// MutualAuthError. response.mutual says which: {authenticated, user, realm,
// ...}.
//
// Transport: in Node the built-in node:http / node:https, which show the
// server certificate (tls-server-end-point, RFC 8120 §7); with an explicit
// `fetch` option (and in browsers), that fetch over plain http only
// (validation=host): page scripts cannot see the certificate.

import { Context, Exchange } from './exchange.js';
import { parseTarget } from './target.js';
import { tlsServerEndPoint } from './endpoint.js';

export class MutualAuthError extends Error {
  // code: 'auth-required' | 'server-not-authenticated' | 'protocol-error' | 'transport'
  constructor(code, message, details = {}) {
    super(message);
    this.name = 'MutualAuthError';
    this.code = code;
    Object.assign(this, details);
  }
}

const CODE_BY_OUTCOME = {
  'credentials-required': 'auth-required',
  'credentials-rejected': 'auth-required',
  'authorization-failed': 'auth-required',
  'invalid-credentials': 'auth-required',
  'server-not-authenticated': 'server-not-authenticated',
  'protocol-error': 'protocol-error',
  'unsupported': 'protocol-error',
  'server-error': 'protocol-error',
};

const isNode = typeof process !== 'undefined' && process.versions && process.versions.node &&
  typeof window === 'undefined';

async function bodyBytes(body) {
  if (body === undefined || body === null) return null;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof URLSearchParams) return new TextEncoder().encode(body.toString());
  if (typeof Blob !== 'undefined' && body instanceof Blob)
    return new Uint8Array(await body.arrayBuffer());
  throw new TypeError('MutualClient.fetch: the body must be a string, bytes, URLSearchParams or ' +
    'a Blob (it may have to be sent several times)');
}

function headerPairs(init) {
  const h = new Headers(init || {});
  const out = [];
  for (const [n, v] of h) out.push([n, v]);
  if (h.has('authorization')) throw new TypeError('MutualClient.fetch sets Authorization itself');
  return out;
}

// Node transport: one request, the whole body, and the peer certificate.
async function nodeTransport(tlsOptions) {
  const [http, https] = await Promise.all([import('node:http'), import('node:https')]);
  const agents = {
    http: new http.Agent({ keepAlive: true }),
    https: new https.Agent({ keepAlive: true, ...tlsOptions }),
  };
  const send = (target, { method, headers, body }) => new Promise((resolve, reject) => {
    const mod = target.https ? https : http;
    const u = new URL(target.url);
    const outHeaders = {};
    for (const [n, v] of headers) {
      if (outHeaders[n] === undefined) outHeaders[n] = v;
      else outHeaders[n] = [].concat(outHeaders[n], v);
    }
    if (body) outHeaders['content-length'] = String(body.length);
    const req = mod.request({
      protocol: u.protocol, hostname: u.hostname.replace(/^\[|\]$/g, ''), port: u.port || undefined,
      path: u.pathname + u.search, method, headers: outHeaders,
      agent: target.https ? agents.https : agents.http,
    }, (res) => {
      const chunks = [];
      let certificate = null;
      if (target.https) {
        const c = res.socket.getPeerCertificate && res.socket.getPeerCertificate(false);
        certificate = c && c.raw ? new Uint8Array(c.raw) : null;
      }
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const raw = res.rawHeaders;
        const list = [];
        for (let i = 0; i < raw.length; i += 2) list.push([raw[i], raw[i + 1]]);
        resolve({ status: res.statusCode, statusText: res.statusMessage || '', headers: list,
          body: new Uint8Array(Buffer.concat(chunks)), tls: target.https, certificate });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
  send.close = () => {
    agents.http.destroy();
    agents.https.destroy();
  };
  return send;
}

// fetch() transport: plain http only (no certificate).
function fetchTransport(fetchFn) {
  return async (target, { method, headers, body }) => {
    if (target.https) throw new MutualAuthError('protocol-error',
      'tls-server-end-point needs the server certificate, which fetch() does not show: ' +
      'use the Node transport (no `fetch` option) or the Firefox extension for https');
    const res = await fetchFn(target.url, { method, headers, body: body || undefined,
      redirect: 'manual', credentials: 'omit' });
    const list = [];
    res.headers.forEach((v, n) => list.push([n, v]));
    return { status: res.status, statusText: res.statusText, headers: list,
      body: new Uint8Array(await res.arrayBuffer()), tls: false, certificate: null };
  };
}

const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function makeResponse(raw, url, mutual) {
  const headers = new Headers();
  for (const [n, v] of raw.headers) {
    try {
      headers.append(n, v);
    } catch {
      // a header the Fetch API refuses (e.g. non-Latin-1) is left out
    }
  }
  const response = new Response(NULL_BODY.has(raw.status) ? null : raw.body,
    { status: raw.status, statusText: raw.statusText, headers });
  Object.defineProperty(response, 'url', { value: url });
  Object.defineProperty(response, 'mutual', { value: mutual });
  return response;
}

export class MutualClient {
  // { user, password, fetch?, algorithms?, tls? (Node https.Agent options,
  //   e.g. { ca }), kexFirst?, reuseSessions? }
  constructor(options = {}) {
    const { user, password } = options;
    if (typeof user !== 'string' || typeof password !== 'string')
      throw new TypeError('MutualClient needs { user, password } strings');
    this.user = user;
    this.password = password;
    this.context = new Context(options);
    this.fetchFn = options.fetch;
    this.tlsOptions = options.tls || {};
    this.transport = null;
    this.requests = 0; // HTTP requests sent, for tests and statistics
  }

  async getTransport() {
    if (!this.transport) {
      if (this.fetchFn) this.transport = fetchTransport(this.fetchFn);
      else if (isNode) this.transport = await nodeTransport(this.tlsOptions);
      else this.transport = fetchTransport(globalThis.fetch.bind(globalThis));
    }
    return this.transport;
  }

  // Forget the password-derived values and sessions (the client keeps the
  // constructor's user and password and logs in again on the next request).
  logout() {
    this.context.forgetEverything();
  }

  close() {
    if (this.transport && this.transport.close) this.transport.close();
    this.context.forgetEverything();
  }

  async fetch(input, init = {}) {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method = (init.method || 'GET').toUpperCase();
    const body = await bodyBytes(init.body);
    const headers = headerPairs(init.headers);
    const redirect = init.redirect || 'follow';
    let current = url;
    let currentMethod = method;
    let currentBody = body;
    for (let hop = 0; hop <= 20; ++hop) {
      const { raw, mutual } = await this.exchange(current, currentMethod, headers, currentBody);
      const location = raw.headers.find(([n]) => n.toLowerCase() === 'location');
      if (redirect === 'manual' || ![301, 302, 303, 307, 308].includes(raw.status) || !location)
        return makeResponse(raw, current, mutual);
      if (redirect === 'error')
        throw new MutualAuthError('transport', `redirected to ${location[1]}`);
      current = new URL(location[1], current).href;
      if (raw.status === 303 || ((raw.status === 301 || raw.status === 302) && currentMethod === 'POST')) {
        currentMethod = 'GET';
        currentBody = null;
      }
    }
    throw new MutualAuthError('transport', 'too many redirects');
  }

  async exchange(url, method, headers, body) {
    const target = parseTarget(url);
    if (!target) throw new TypeError(`MutualClient.fetch: not an http(s) URL: ${url}`);
    const transport = await this.getTransport();
    const exchange = new Exchange(this.context, target);
    let step = await exchange.begin();
    let raw = null;
    for (;;) {
      if (step.action === 'credentials') {
        step = await exchange.supplyCredentials(this.user, this.password);
        continue;
      }
      if (step.action === 'finished') break;
      const requestHeaders = step.authorization
        ? [...headers, ['Authorization', step.authorization]] : headers;
      try {
        this.requests += 1;
        raw = await transport(target, { method, headers: requestHeaders, body });
      } catch (e) {
        if (e instanceof MutualAuthError) throw e;
        throw new MutualAuthError('transport', `${url}: ${e.message}`, { cause: e });
      }
      const endPoint = raw.certificate ? await tlsServerEndPoint(raw.certificate) : null;
      step = await exchange.receive({ status: raw.status, headers: raw.headers, tls: raw.tls,
        endPoint });
    }
    const mutual = { authenticated: step.outcome === 'success', outcome: step.outcome,
      state: step.state, detail: step.detail, ...(step.outcome === 'success' ? {
        user: step.summary.user, realm: step.summary.realm, authScope: step.summary.scope,
        algorithm: step.summary.algorithm, validation: step.summary.validation,
        sid: step.summary.sid, nc: step.summary.nc, reused: step.summary.reused } : {}),
      requests: step.summary.requests };
    if (step.outcome === 'success' || step.outcome === 'not-protected') {
      if (exchange.logoutAfter) this.context.forgetEverything();
      return { raw, mutual };
    }
    const code = CODE_BY_OUTCOME[step.outcome] || 'protocol-error';
    // No body or header of the refused response is handed out.
    throw new MutualAuthError(code, `${url}: ${step.detail || step.outcome}`,
      { outcome: step.outcome, state: step.state, status: raw ? raw.status : undefined });
  }
}
