// MutualClient against the real module: apache2 with build/mod_auth_mutual.so
// and verifiers made by build/htmutual, started through support/httpd.py
// (t/integration/httpd_fixture.py), over plain HTTP (validation=host) and
// HTTPS with a generated CA (tls-server-end-point from the peer certificate);
// and against scripted servers that do not hold the verifier.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { MutualClient, MutualAuthError, computeVerifier } from '../src/index.js';
import { ALGORITHM_NAMES, REPO, location, startServers } from './support/httpd.js';
import { FORGED, startFakeServer } from './support/fake-server.js';

const built = existsSync(`${process.env.B || REPO + 'build'}/mod_auth_mutual.so`);
const skip = !built && 'the module is not built (run make)';
const REALM = 'js realm';
// Every algorithm, P-256 first (the one a client without preference picks).
const OFFERED = ['iso-kam3-ec-p256-sha256', 'iso-kam3-dl-2048-sha256', 'iso-kam3-dl-4096-sha512',
  'iso-kam3-ec-p521-sha512'];
const USERS = [
  { user: 'alice', password: 'correct horse' },
  { user: 'Renée', password: 'pässwörd 🔐' },
];

// Random users (ASCII and not) whose verifiers htmutual makes: the JavaScript
// client and the C++ core must agree on pi and J for inputs nobody chose.
const pick = (list) => list[Math.floor(Math.random() * list.length)];
const randomText = (alphabet, n) => Array.from({ length: n }, () => pick(alphabet)).join('');
const USER_ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789', 'é',
  'ß', 'Ω', 'ж', '測', 'ñ'];
const PASSWORD_ALPHABET = [...USER_ALPHABET, ...' !#%&()*+,-./;<=>?@[]^_{|}~', '"', '\\', '🔐'];
const RANDOM_USERS = Array.from({ length: 3 }, (_, i) => ({
  user: `r${i}${randomText(USER_ALPHABET, 6)}`,
  password: `p${randomText(PASSWORD_ALPHABET, 12)}`,
}));

let run;
let plain;
let tls;

before(async () => {
  if (skip) return;
  const users = (scope) => [...USERS, ...RANDOM_USERS].map((u) => ({ realm: REALM, scope, ...u,
    algorithms: ALGORITHM_NAMES }));
  const files = { 'p/index.html': 'protected page\n', 'p/two.html': 'second page\n',
    'stale/index.html': 'stale page\n', 'open/index.html': 'open page\n' };
  run = await startServers({ servers: [
    { name: 'js-plain', files, users: [...users('127.0.0.1'),
      { realm: 'stale realm', scope: '127.0.0.1', user: 'alice', password: 'correct horse',
        algorithms: ['iso-kam3-ec-p256-sha256'] }],
    conf: location('/p/', REALM, { algorithms: OFFERED }) +
      location('/stale/', 'stale realm', { extra: 'AuthMutualSessionTime 2' }) },
    { name: 'js-tls', tls: true, ca: true, files, users: users('127.0.0.1'),
      conf: location('/p/', REALM, { algorithms: OFFERED }) },
  ] });
  plain = run.servers['js-plain'];
  tls = run.servers['js-tls'];
});

after(async () => {
  if (!run) return;
  const report = await run.stop();
  assert.deepEqual(report.crashes, [], 'no apache2 child crashed');
});

for (const algorithm of ALGORITHM_NAMES) {
  test(`${algorithm}: login in three requests, reuse in one`, { skip }, async () => {
    const client = new MutualClient({ ...USERS[0], algorithms: [algorithm] });
    try {
      const r = await client.fetch(`${plain.base}/p/index.html`);
      assert.equal(r.status, 200);
      assert.equal(await r.text(), 'protected page\n');
      assert.equal(r.mutual.authenticated, true);
      assert.equal(r.mutual.algorithm, algorithm);
      assert.equal(r.mutual.user, 'alice');
      assert.equal(r.mutual.requests, 3); // INIT, KEX-C1, VFY-C
      const again = await client.fetch(`${plain.base}/p/two.html`);
      assert.equal(await again.text(), 'second page\n');
      assert.equal(again.mutual.reused, true);
      assert.equal(again.mutual.requests, 1);
      assert.equal(again.mutual.nc, 2);
      assert.equal(client.requests, 4);
    } finally {
      client.close();
    }
  });
}

test('a UTF-8 user name and password (prepared as htmutual prepares them)', { skip }, async () => {
  const client = new MutualClient({ user: 'Rene\u0301e', password: 'pässwörd 🔐' });
  try {
    const r = await client.fetch(`${plain.base}/p/index.html`);
    assert.equal(r.mutual.authenticated, true);
    assert.equal(r.mutual.user, 'Renée');
  } finally {
    client.close();
  }
});

test('random users made by htmutual log in with every algorithm', { skip }, async () => {
  for (const u of RANDOM_USERS) {
    for (const algorithm of ALGORITHM_NAMES) {
      const client = new MutualClient({ ...u, algorithms: [algorithm] });
      try {
        const r = await client.fetch(`${plain.base}/p/index.html`);
        assert.equal(r.mutual.authenticated, true, `${JSON.stringify(u)} ${algorithm}`);
        assert.equal(r.mutual.user, u.user.normalize('NFC'));
      } finally {
        client.close();
      }
    }
  }
});

test('a wrong password is rejected with auth-required', { skip }, async () => {
  const client = new MutualClient({ user: 'alice', password: 'wrong horse' });
  try {
    await assert.rejects(client.fetch(`${plain.base}/p/index.html`), (e) => {
      assert.ok(e instanceof MutualAuthError);
      assert.equal(e.code, 'auth-required');
      assert.equal(e.status, 401);
      return true;
    });
  } finally {
    client.close();
  }
});

test('an unknown user is rejected with auth-required', { skip }, async () => {
  const client = new MutualClient({ user: 'mallory', password: 'correct horse' });
  try {
    await assert.rejects(client.fetch(`${plain.base}/p/index.html`), { code: 'auth-required' });
  } finally {
    client.close();
  }
});

test('an unprotected resource resolves unauthenticated, in one request', { skip }, async () => {
  const client = new MutualClient(USERS[0]);
  try {
    const r = await client.fetch(`${plain.base}/open/index.html`);
    assert.equal(await r.text(), 'open page\n');
    assert.equal(r.mutual.authenticated, false);
    assert.equal(r.mutual.outcome, 'not-protected');
    assert.equal(client.requests, 1);
  } finally {
    client.close();
  }
});

test('KEX-first: a new session for a known realm starts with req-KEX-C1', { skip }, async () => {
  const client = new MutualClient({ ...USERS[0], reuseSessions: false });
  try {
    assert.equal((await client.fetch(`${plain.base}/p/index.html`)).mutual.requests, 3);
    const r = await client.fetch(`${plain.base}/p/two.html`);
    assert.equal(r.mutual.authenticated, true);
    assert.equal(r.mutual.requests, 2); // KEX-C1, VFY-C
  } finally {
    client.close();
  }
});

test('401-STALE (the server ended the session) re-keys once, without the user', { skip },
  async () => {
    let now = 1000;
    const client = new MutualClient({ ...USERS[0], clock: () => now });
    try {
      const first = await client.fetch(`${plain.base}/stale/index.html`);
      assert.equal(first.mutual.authenticated, true);
      const sid = first.mutual.sid;
      // AuthMutualSessionTime 2 (whole seconds: 1 would let a second boundary between
      // KEX and VFY expire the fresh session too)
      await new Promise((resolve) => setTimeout(resolve, 3200));
      now += 0.5; // the client still thinks the session is alive
      const r = await client.fetch(`${plain.base}/stale/index.html`);
      assert.equal(r.mutual.authenticated, true);
      assert.equal(r.mutual.requests, 3); // VFY-C -> 401-STALE, KEX-C1, VFY-C
      assert.notEqual(r.mutual.sid, sid);
    } finally {
      client.close();
    }
  });

test('HTTPS with a generated CA: tls-server-end-point from the peer certificate', { skip },
  async () => {
    const client = new MutualClient({ ...USERS[0], tls: { ca: tls.caPem } });
    try {
      const r = await client.fetch(`${tls.base}/p/index.html`);
      assert.equal(r.mutual.authenticated, true);
      assert.equal(r.mutual.validation, 'tls-server-end-point');
      assert.equal(await r.text(), 'protected page\n');
      const again = await client.fetch(`${tls.base}/p/two.html`);
      assert.equal(again.mutual.requests, 1);
    } finally {
      client.close();
    }
  });

test('HTTPS: a certificate the CA did not sign is a transport error', { skip }, async () => {
  const client = new MutualClient(USERS[0]);
  try {
    await assert.rejects(client.fetch(`${tls.base}/p/index.html`), { code: 'transport' });
  } finally {
    client.close();
  }
});

test('HTTPS through a fetch() without certificates is refused', { skip }, async () => {
  const client = new MutualClient({ ...USERS[0], fetch: globalThis.fetch });
  await assert.rejects(client.fetch(`${tls.base}/p/index.html`), { code: 'protocol-error' });
});

test('plain HTTP through the given fetch()', { skip }, async () => {
  const client = new MutualClient({ ...USERS[0], fetch: globalThis.fetch });
  const r = await client.fetch(`${plain.base}/p/index.html`);
  assert.equal(r.mutual.authenticated, true);
  assert.equal(await r.text(), 'protected page\n');
});

test('computeVerifier gives the J the module accepts (the htmutual entry)', { skip }, async () => {
  // The same J htmutual stored: a login with these credentials succeeded above;
  // here the values must also equal a recomputation for the UTF-8 user.
  const j1 = await computeVerifier({ algorithm: 'iso-kam3-ec-p521-sha512', authScope: '127.0.0.1',
    realm: REALM, user: 'Renée', password: 'pässwörd 🔐' });
  const j2 = await computeVerifier({ algorithm: 'iso-kam3-ec-p521-sha512', authScope: '127.0.0.1',
    realm: REALM, user: 'Rene\u0301e', password: 'pässwörd 🔐' });
  assert.equal(j1, j2);
  assert.match(j1, /^[0-9a-f]{132}$/);
});

for (const mode of ['missing-vks', 'random-vks', 'wrong-verifier', 'wrong-sid']) {
  test(`a server without the verifier (${mode}): server-not-authenticated, no body`, async () => {
    const fake = await startFakeServer({ mode });
    const client = new MutualClient({ user: 'alice', password: 'correct horse' });
    try {
      let error;
      try {
        const r = await client.fetch(`${fake.base}/secret`);
        assert.fail(`resolved with ${r.status}: ${await r.text()}`);
      } catch (e) {
        error = e;
      }
      assert.ok(error instanceof MutualAuthError, String(error));
      assert.equal(error.code, 'server-not-authenticated');
      assert.ok(!JSON.stringify(error).includes('FORGED') && !String(error.message).includes('FORGED'));
      assert.equal(error.body, undefined);
      assert.equal(error.response, undefined);
      // the session is gone: the next request starts over and fails the same way
      await assert.rejects(client.fetch(`${fake.base}/secret`), { code: 'server-not-authenticated' });
    } finally {
      client.close();
      await fake.close();
    }
  });
}

test('a 200 in answer to req-KEX-C1 is a protocol error (RFC 8120 §10.1), no body', async () => {
  const fake = await startFakeServer({ mode: 'kex-then-200' });
  const client = new MutualClient({ user: 'alice', password: 'x' });
  try {
    await assert.rejects(client.fetch(`${fake.base}/secret`), (e) => {
      assert.equal(e.code, 'protocol-error');
      assert.ok(!String(e.message).includes(FORGED));
      return true;
    });
  } finally {
    client.close();
    await fake.close();
  }
});
