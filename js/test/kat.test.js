// The known-answer vectors of t/data/kam3-vectors.json (the copy inside the
// repository), every derived value, computed by the JavaScript core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { findAlgorithm } from '../src/kam3.js';
import { fromHex, toHex, utf8 } from '../src/encoding.js';

const vectorsPath = fileURLToPath(new URL('../../t/data/kam3-vectors.json', import.meta.url));
const { vectors } = JSON.parse(readFileSync(vectorsPath, 'utf8'));

test('the vector file holds the twelve vectors of the four algorithms', () => {
  assert.equal(vectors.length, 12);
  assert.equal(new Set(vectors.map((v) => v.algorithm)).size, 4);
});

for (const v of vectors) {
  test(`KAT ${v.name}`, async () => {
    const a = findAlgorithm(v.algorithm);
    assert.ok(a, v.algorithm);
    const { inputs: i, derived: d, hex } = v;
    assert.equal(toHex(utf8(i.user)), i.user_hex);
    assert.equal(toHex(utf8(i.password)), i.password_hex);
    const sc1 = fromHex(i.S_c1);
    const ss1 = fromHex(i.S_s1);
    assert.equal(sc1.length, a.scalarLength);
    assert.equal(toHex(a.piSalt(i.auth_scope, i.realm, i.user)), d.pi_salt);
    const pi = await a.pi(i.password, i.auth_scope, i.realm, i.user);
    assert.equal(toHex(pi), d.pi);
    const j = await a.verifier(pi);
    assert.equal(toHex(j), d.J);
    const kc1 = await a.clientKey(sc1);
    assert.equal(toHex(kc1), hex.K_c1);
    assert.equal(a.encodeKey(kc1), d.K_c1);
    assert.deepEqual(a.decodeKey(d.K_c1), kc1);
    assert.equal(toHex(await a.t1(kc1)), d.t_1);
    const ks1 = await a.serverKey(j, kc1, ss1);
    assert.equal(toHex(ks1), hex.K_s1);
    assert.equal(a.encodeKey(ks1), d.K_s1);
    assert.deepEqual(a.decodeKey(d.K_s1), ks1);
    assert.equal(toHex(await a.t2(kc1, ks1)), d.t_2);
    const zc = await a.clientSecret(pi, sc1, kc1, ks1);
    const zs = await a.serverSecret(kc1, ks1, ss1);
    assert.equal(toHex(zc), d.z);
    assert.equal(toHex(zs), d.z);
    const vkc = await a.vkC(kc1, ks1, zc, i.nc, i.vh);
    const vks = await a.vkS(kc1, ks1, zc, i.nc, i.vh);
    assert.equal(toHex(vkc), hex.VK_c);
    assert.equal(toHex(vks), hex.VK_s);
    assert.equal(a.encodeVk(vkc), d.VK_c);
    assert.equal(a.encodeVk(vks), d.VK_s);
    assert.deepEqual(a.decodeVk(d.VK_s), vks);
    assert.equal(toHex(await a.b1(kc1, ks1, zc, i.vh, i.t)), d.b_1);
    assert.equal(toHex(await a.b2(kc1, ks1, zc, i.nc, i.vh, i.t)), d.b_2);
  });
}
