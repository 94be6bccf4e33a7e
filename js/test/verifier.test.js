// computeVerifier against the C++ core: `htmutual -n` (build/htmutual, made by
// `make`) prints the record line the module stores; the JavaScript J and the
// whole entry must be identical, for random users, passwords, realms and
// scopes (ASCII and non-ASCII), for the four algorithms.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { computeVerifier, verifierEntry } from '../src/index.js';
import { ALGORITHMS } from '../src/kam3.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const build = process.env.B ? new URL(process.env.B + '/', `file://${repo}`).pathname : `${repo}build/`;
const htmutual = `${build}htmutual`;

function htmutualLine(algorithm, scope, realm, user, password) {
  const out = execFileSync(htmutual, ['-n', '-i', '-a', algorithm, '-s', scope, '--', realm, user],
    { input: password + '\n', encoding: 'utf8' });
  const line = out.trim();
  const colon = line.indexOf(':');
  return { user: line.slice(0, colon), record: line.slice(colon + 1) };
}

const pick = (list) => list[Math.floor(Math.random() * list.length)];
const ALPHABET = [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.',
  'é', 'ß', 'Ω', 'ж', '測', '試', 'ñ', 'ü'];
const PW_ALPHABET = [...ALPHABET, ' ', '!', '"', '\\', '%', ';', ',', '🔐', 'Å'];
function randomText(alphabet, min, max) {
  const n = min + Math.floor(Math.random() * (max - min + 1));
  let s = '';
  for (let i = 0; i < n; ++i) s += pick(alphabet);
  return s;
}

test('the KAT user of docs/verifier-format.md gives the documented record line', async () => {
  const entry = await verifierEntry({ algorithm: 'iso-kam3-ec-p256-sha256',
    authScope: 'http://example.com', realm: 'mutualref test realm', user: 'alice',
    password: 'password123' });
  assert.equal(entry, '1;iso-kam3-ec-p256-sha256;http%3A%2F%2Fexample.com;' +
    'mutualref%20test%20realm;010b99ca2c5ca3eba2f5ddf29c839e2253fcdc5416cbaaacdfaa68789c20c3dd00');
});

test('string preparation: decomposed and full-width user names give the same J', async () => {
  const base = { algorithm: 'iso-kam3-ec-p256-sha256', authScope: 'example.com', realm: 'r',
    password: 'pw' };
  const a = await computeVerifier({ ...base, user: 'Ren\u00e9e' });
  const b = await computeVerifier({ ...base, user: 'Rene\u0301e' });
  assert.equal(a, b);
  assert.equal(await computeVerifier({ ...base, user: 'ｄａｖｅ' }),
    await computeVerifier({ ...base, user: 'dave' }));
  await assert.rejects(computeVerifier({ ...base, user: 'a\u0007b' }), { code: 'disallowed_char' });
});

test('computeVerifier equals htmutual -n for random inputs (four algorithms)',
  { skip: !existsSync(htmutual) && 'build/htmutual is not built (run make)' }, async () => {
    let compared = 0;
    for (const a of ALGORITHMS) {
      for (let round = 0; round < 4; ++round) {
        const user = randomText(ALPHABET, 1, 12);
        const password = randomText(PW_ALPHABET, 1, 24).trim() || 'x';
        const realm = randomText(PW_ALPHABET, 1, 16);
        const scope = pick(['127.0.0.1', 'http://example.com', '*.example.org',
          'https://' + randomText([...'abcdefghij'], 1, 8) + '.test:8443', '例え.jp']);
        const expected = htmutualLine(a.name, scope, realm, user, password);
        const options = { algorithm: a.name, authScope: scope, realm, user, password };
        const entry = await verifierEntry(options);
        assert.equal(entry, expected.record, JSON.stringify(options));
        assert.equal(await computeVerifier(options), entry.split(';')[4]);
        compared += 1;
      }
    }
    assert.equal(compared, 16);
  });

test('computeVerifier equals the independent Python implementation (t/integration/mutualref.py)',
  async () => {
    const cases = ALGORITHMS.flatMap((a) => [
      { algorithm: a.name, authScope: 'https://example.com', realm: 'ascii realm', user: 'alice',
        password: 'password123' },
      { algorithm: a.name, authScope: '*.example.jp', realm: 'レルム', user: 'Renée Zoë 测试',
        password: 'pässwörd Ünïcödé 🔐' },
    ]);
    const script = `
import json, sys
sys.path.insert(0, ${JSON.stringify(`${repo}t/integration`)})
import mutualref
out = []
for c in json.load(sys.stdin):
    a = mutualref.ALGORITHMS[c["algorithm"]]
    out.append(a.encode_element(a.J(a.pi(c["password"], c["authScope"], c["realm"], c["user"]))))
print(json.dumps(out))`;
    const expected = JSON.parse(execFileSync('python3', ['-c', script],
      { input: JSON.stringify(cases), encoding: 'utf8' }));
    for (let i = 0; i < cases.length; ++i)
      assert.equal(await computeVerifier(cases[i]), expected[i], JSON.stringify(cases[i]));
  });
