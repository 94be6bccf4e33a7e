// The RFC 8120 §10 decision procedure (src/exchange.js) against an in-process
// simulated server: the readings the C++ client shares (#8): an omitted
// auth-scope is the single-server scope, a realm is (algorithm, auth-scope,
// realm), the §10.1 fatal cases, Optional-WWW-Authenticate (RFC 8053),
// Authentication-Control logout-timeout, several challenges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Context, Exchange } from '../src/exchange.js';
import { findAlgorithm } from '../src/kam3.js';
import { toHex } from '../src/encoding.js';
import { webcrypto } from '../src/webcrypto.js';
import { authInfoHeader, challengeHeader, parseChallenges } from '../src/header.js';
import { effectiveScope, parseTarget } from '../src/target.js';

const EC = 'iso-kam3-ec-p256-sha256';

class SimServer {
  constructor({ url, realm = 'sim', authScope, algorithms = [EC], user = 'alice',
    password = 'pw', optional = false, control, extraChallenges = [] }) {
    this.target = parseTarget(url);
    Object.assign(this, { realm, authScope, algorithms, user, password, optional, control,
      extraChallenges });
    this.sessions = new Map();
    this.requests = [];
  }
  scope() {
    return effectiveScope(this.authScope, this.target);
  }
  id(a) {
    return { algorithm: a.name, validation: 'host', authScope: this.authScope, realm: this.realm };
  }
  init(reason) {
    const values = [...this.extraChallenges, ...this.algorithms.map((n) => {
      const a = findAlgorithm(n);
      return challengeHeader({ ...this.id(a), kind: 'init', reason }, a.quotedOnWire);
    })];
    return { status: 401, headers: values.map((v) => ['WWW-Authenticate', v]), tls: false };
  }
  async handle(authorization) {
    this.requests.push(authorization);
    if (!authorization) {
      if (this.optional)
        return { status: 200, tls: false, headers: this.init('initial').headers
          .map(([, v]) => ['Optional-WWW-Authenticate', v]) };
      return this.init('initial');
    }
    const [item] = parseChallenges(authorization);
    const p = item.params;
    const a = findAlgorithm(p.get('algorithm').value);
    if (p.has('kc1')) {
      if (p.get('user').value !== this.user) return this.init('auth-failed');
      assert.equal(p.has('auth-scope'), this.authScope !== undefined, 'auth-scope echoed as sent');
      const pi = await a.pi(this.password, this.scope(), this.realm, this.user);
      const j = await a.verifier(pi);
      const kc1 = a.decodeKey(p.get('kc1').value);
      const ss1 = a.randomServerScalar();
      const ks1 = await a.serverKey(j, kc1, ss1);
      const z = await a.serverSecret(kc1, ks1, ss1);
      const sid = toHex(webcrypto.getRandomValues(new Uint8Array(8)));
      this.sessions.set(sid, { a, kc1, ks1, z });
      return { status: 401, tls: false, headers: [['WWW-Authenticate', challengeHeader({
        ...this.id(a), kind: 'kex-s1', sid, ks1: a.encodeKey(ks1), ncMax: 10, ncWindow: 128,
        time: 300 }, a.quotedOnWire)]] };
    }
    const sid = p.get('sid').value;
    const s = this.sessions.get(sid);
    if (!s) return this.init('stale-session');
    const nc = Number(p.get('nc').value);
    const vh = `${this.target.scheme}://${this.target.host}:${this.target.port}`;
    const vkc = await a.vkC(s.kc1, s.ks1, s.z, nc, vh);
    if (a.encodeVk(vkc) !== p.get('vkc').value) return this.init('auth-failed');
    const headers = [['Authentication-Info',
      authInfoHeader(sid, a.encodeVk(await a.vkS(s.kc1, s.ks1, s.z, nc, vh)), a.quotedOnWire)]];
    if (this.control) headers.push(['Authentication-Control', this.control]);
    return { status: 200, tls: false, headers };
  }
}

async function run(context, server, url, credentials = { user: 'alice', password: 'pw' },
  respond = (auth) => server.handle(auth)) {
  const exchange = new Exchange(context, url);
  let step = await exchange.begin();
  const kinds = [];
  for (;;) {
    if (step.action === 'credentials') {
      step = credentials ? await exchange.supplyCredentials(credentials.user, credentials.password)
        : exchange.declineCredentials();
      continue;
    }
    if (step.action === 'finished') return { ...step, kinds, exchange };
    kinds.push(step.message);
    step = await exchange.receive(await respond(step.authorization, step.message));
  }
}

test('an omitted auth-scope is the single-server scope, with and without a port', async () => {
  for (const url of ['http://example.com/a', 'http://example.com:8080/a']) {
    const server = new SimServer({ url });
    const r = await run(new Context(), server, url);
    assert.equal(r.outcome, 'success', `${url}: ${r.detail}`);
    assert.equal(r.summary.scope, url.includes('8080') ? 'http://example.com:8080'
      : 'http://example.com');
  }
});

test('several challenges: the unsupported one is skipped, the preference decides', async () => {
  const url = 'http://example.com/x';
  const extra = ['Basic realm="b"', 'Mutual version=1, algorithm=iso-kam3-foo, validation=host, ' +
    'realm="sim", reason=initial'];
  let server = new SimServer({ url, algorithms: [EC, 'iso-kam3-ec-p521-sha512'],
    extraChallenges: extra });
  let r = await run(new Context(), server, url);
  assert.equal(r.outcome, 'success');
  assert.equal(r.summary.algorithm, EC);
  server = new SimServer({ url, algorithms: [EC, 'iso-kam3-ec-p521-sha512'] });
  r = await run(new Context({ algorithms: ['iso-kam3-ec-p521-sha512'] }), server, url);
  assert.equal(r.summary.algorithm, 'iso-kam3-ec-p521-sha512');
});

test('an auth-scope that does not include the host is not used', async () => {
  const url = 'http://example.com/x';
  const server = new SimServer({ url, authScope: 'other.example' });
  const r = await run(new Context(), server, url);
  assert.equal(r.outcome, 'unsupported');
  assert.deepEqual(r.kinds, ['normal']);
});

test('wildcard auth-scopes: *.example.com covers hosts below it, *.com nothing', async () => {
  const url = 'http://www.example.com/x';
  assert.equal((await run(new Context(), new SimServer({ url, authScope: '*.example.com' }), url))
    .outcome, 'success');
  assert.equal((await run(new Context(), new SimServer({ url, authScope: '*.com' }), url))
    .outcome, 'unsupported');
});

test('Optional-WWW-Authenticate (RFC 8053): log in when credentials exist, else plain', async () => {
  const url = 'http://example.com/opt';
  const server = new SimServer({ url, optional: true });
  const declined = await run(new Context(), server, url, null);
  assert.equal(declined.outcome, 'not-protected');
  assert.equal(declined.content, 'unauthenticated');
  const r = await run(new Context(), server, url);
  assert.equal(r.outcome, 'success');
});

test('§10.1: a 401-INIT for another realm in mid-sequence is fatal', async () => {
  const url = 'http://example.com/x';
  const server = new SimServer({ url });
  const other = new SimServer({ url, realm: 'another realm' });
  const r = await run(new Context(), server, url, undefined, (auth, message) =>
    (message === 'kex' ? other.init('initial') : server.handle(auth)));
  assert.equal(r.outcome, 'protocol-error');
  assert.equal(r.content, 'withheld');
});

test('§10.1: a realm is (algorithm, auth-scope, realm): another algorithm is another realm',
  async () => {
    const url = 'http://example.com/x';
    const server = new SimServer({ url });
    const p521 = new SimServer({ url, algorithms: ['iso-kam3-ec-p521-sha512'] });
    const r = await run(new Context(), server, url, undefined, (auth, message) =>
      (message === 'kex' ? p521.init('auth-failed') : server.handle(auth)));
    assert.equal(r.outcome, 'protocol-error');
  });

test('§10.1: a normal response to req-KEX-C1 (not the first request) is fatal', async () => {
  const url = 'http://example.com/x';
  const server = new SimServer({ url });
  const r = await run(new Context(), server, url, undefined, (auth, message) =>
    (message === 'kex' ? { status: 200, headers: [], tls: false } : server.handle(auth)));
  assert.equal(r.outcome, 'protocol-error');
  assert.equal(r.content, 'withheld');
});

test('§10.1: a second key exchange for one realm in one sequence is refused', async () => {
  const url = 'http://example.com/x';
  const server = new SimServer({ url });
  const r = await run(new Context(), server, url, undefined, (auth, message) =>
    (message === 'vfy' ? server.init('stale-session') : server.handle(auth)));
  // 401-STALE to the first req-VFY-C re-keys once; the second is fatal
  assert.equal(r.outcome, 'protocol-error');
  assert.deepEqual(r.kinds, ['normal', 'kex', 'vfy']);
});

test('session reuse counts nc up; the path parameter extends the realm', async () => {
  const url = 'http://example.com/dir/a';
  const server = new SimServer({ url });
  const context = new Context();
  await run(context, server, url);
  const r = await run(context, server, 'http://example.com/dir/b');
  assert.deepEqual(r.kinds, ['vfy']);
  assert.equal(r.summary.nc, 2);
  const elsewhere = await run(context, server, 'http://example.com/other');
  assert.deepEqual(elsewhere.kinds.slice(0, 1), ['normal']);
});

test('Authentication-Control logout-timeout (RFC 8053) ends the login after inactivity', async () => {
  let now = 100;
  const url = 'http://example.com/dir/a';
  const server = new SimServer({ url, control: 'logout-timeout=10' });
  const context = new Context({ clock: () => now });
  assert.equal((await run(context, server, url)).outcome, 'success');
  now += 5;
  assert.deepEqual((await run(context, server, url)).kinds, ['vfy']);
  now += 11;
  const after = await run(context, server, url, null);
  assert.deepEqual(after.kinds, ['normal']);
  assert.equal(after.outcome, 'credentials-required');
});

test('https targets accept only validation=tls-server-end-point', async () => {
  const url = 'https://example.com/x';
  const server = new SimServer({ url });
  const r = await run(new Context(), server, url, undefined, async (auth) =>
    ({ ...(await server.handle(auth)), tls: true }));
  assert.equal(r.outcome, 'unsupported');
});

test('a response over plain HTTP for an https URL is refused', async () => {
  const url = 'https://example.com/x';
  const server = new SimServer({ url });
  const r = await run(new Context(), server, url);
  assert.equal(r.outcome, 'protocol-error');
});
