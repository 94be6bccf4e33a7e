// The iso-kam3 algorithms of RFC 8121 §3 and the default functions of
// RFC 8120 §12.2 (pi, VK_c, VK_s) and §13 (b_1, b_2).
//
// DL groups: native BigInt. EC groups: @noble/curves for the point arithmetic
// (WebCrypto's ECDH cannot add points or give the y parity). PBKDF2 and SHA-2:
// WebCrypto. Values are Uint8Array in their natural length (RFC 8120 §3.2.3):
// K_c1, K_s1, J and z are OCTETS of the group element (DL: the integer; EC:
// P(p) = 2x + (y mod 2)); S values are OCTETS of a scalar below r.
//
// Timing: none of this is constant-time (BigInt and the field arithmetic of
// the JavaScript engine take data-dependent time). See README.md.

import { p256, p521 } from '@noble/curves/nist.js';
import { webcrypto } from './webcrypto.js';
import {
  DecodeError, concat, decodeFixed, encodeFixed, int, octet, octets, utf8, vi, vs,
} from './encoding.js';

export class KexError extends Error {}

const subtle = webcrypto.subtle;

export const PI_ITERATIONS = 16384;

const MODP_2048 =
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74' +
  '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437' +
  '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
  'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05' +
  '98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB' +
  '9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
  'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718' +
  '3995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF';

const MODP_4096 =
  'FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74' +
  '020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F1437' +
  '4FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED' +
  'EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF05' +
  '98DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB' +
  '9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B' +
  'E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF695581718' +
  '3995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33' +
  'A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7' +
  'ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864' +
  'D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2' +
  '08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A92108011A723C12A787E6D7' +
  '88719A10BDBA5B2699C327186AF4E23C1A946834B6150BDA2583E9CA2AD44CE8' +
  'DBBBC2DB04DE8EF92E8EFC141FBECAA6287C59474E6BC05D99B2964FA090C3A2' +
  '233BA186515BE7ED1F612970CEE2D7AFB81BDD762170481CD0069127D5B05AA9' +
  '93B4EA988D8FDDC186FFB7DC90A6C08F4DF435C934063199FFFFFFFFFFFFFFFF';

function bitLength(n) {
  return n === 0n ? 0 : n.toString(2).length;
}

export function modPow(base, exponent, modulus) {
  let result = 1n;
  let b = base % modulus;
  let e = exponent;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % modulus;
    b = (b * b) % modulus;
    e >>= 1n;
  }
  return result;
}

export function modInverse(a, m) {
  let [oldR, r] = [((a % m) + m) % m, m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new KexError('not invertible');
  return ((oldS % m) + m) % m;
}

function randomBelow(limit) {
  // Uniform in [0, limit) by rejection sampling on bitLength(limit) bits.
  const bits = bitLength(limit);
  const bytes = Math.ceil(bits / 8);
  const mask = (1n << BigInt(bits)) - 1n;
  const buffer = new Uint8Array(bytes);
  for (;;) {
    webcrypto.getRandomValues(buffer);
    const n = int(buffer) & mask;
    if (n < limit) return n;
  }
}

class Algorithm {
  constructor(name, hash, hashLength, wire) {
    this.name = name;
    this.hash = hash; // WebCrypto name
    this.hashLength = hashLength;
    this.wire = wire; // 'base64' (quoted on the wire) or 'hex' (a token)
  }

  get quotedOnWire() {
    return this.wire === 'base64';
  }

  async H(...parts) {
    return new Uint8Array(await subtle.digest(this.hash, concat(...parts)));
  }

  // RFC 8120 §12.2: VS(algorithm) | VS(auth-scope) | VS(realm) | VS(username)
  piSalt(authScope, realm, user) {
    return concat(vs(this.name), vs(authScope), vs(realm), vs(user));
  }

  // pi = INT(PBKDF2(HMAC_H, password, salt, 16384, hSize/8)); prepared inputs.
  async pi(password, authScope, realm, user) {
    const key = await subtle.importKey('raw', utf8(password), 'PBKDF2', false, ['deriveBits']);
    const bits = await subtle.deriveBits(
      { name: 'PBKDF2', hash: this.hash, salt: this.piSalt(authScope, realm, user),
        iterations: PI_ITERATIONS },
      key, this.hashLength * 8);
    return new Uint8Array(bits);
  }

  async t1(kc1) {
    return this.H(octet(1), kc1);
  }

  async t2(kc1, ks1) {
    return this.H(octet(2), kc1, ks1);
  }

  transcript(label, kc1, ks1, z, nc, vh) {
    return [octet(label), kc1, ks1, z, vi(nc), vs(vh)];
  }

  async vkC(kc1, ks1, z, nc, vh) {
    return this.H(...this.transcript(4, kc1, ks1, z, nc, vh));
  }

  async vkS(kc1, ks1, z, nc, vh) {
    return this.H(...this.transcript(3, kc1, ks1, z, nc, vh));
  }

  // b_1 = H(H(octet(6) | ... | VI(0) | VS(vh)) | VS(t)); b_2 with octet(7), VI(nc)
  async b1(kc1, ks1, z, vh, t) {
    return this.H(await this.H(...this.transcript(6, kc1, ks1, z, 0, vh)), vs(t));
  }

  async b2(kc1, ks1, z, nc, vh, t) {
    return this.H(await this.H(...this.transcript(7, kc1, ks1, z, nc, vh)), vs(t));
  }

  // The exponent (S_c1 + t_2) / (S_c1 * t_1 + pi) mod r of the client's z.
  async clientExponent(pi, sc1, kc1, ks1) {
    const r = this.order;
    const s = int(sc1);
    const t1 = int(await this.t1(kc1));
    const t2 = int(await this.t2(kc1, ks1));
    const denominator = (s * t1 + int(pi)) % r;
    if (denominator === 0n) throw new KexError('S_c1 * t_1 + pi = 0 mod r');
    const e = ((s + t2) % r) * modInverse(denominator, r) % r;
    if (e === 0n) throw new KexError('zero exponent');
    return e;
  }

  encodeKey(k) {
    return encodeFixed(k, this.wire);
  }

  decodeKey(text) {
    return decodeFixed(text, this.elementLength, this.wire);
  }

  encodeVk(v) {
    return encodeFixed(v, this.wire);
  }

  decodeVk(text) {
    return decodeFixed(text, this.hashLength, this.wire);
  }

  scalar(n) {
    return octets(n, this.scalarLength);
  }
}

class DlAlgorithm extends Algorithm {
  constructor(name, hash, hashLength, qHex) {
    super(name, hash, hashLength, 'base64');
    this.q = BigInt('0x' + qHex);
    this.g = 2n;
    this.order = (this.q - 1n) / 2n;
    this.elementLength = Math.ceil(bitLength(this.q) / 8);
    this.scalarLength = Math.ceil(bitLength(this.order) / 8);
    this.minimumClientScalar = BigInt(bitLength(this.q)); // g^S_c1 > q
  }

  element(n) {
    return octets(n, this.elementLength);
  }

  isValidElement(k) {
    return k > 1n && k < this.q - 1n;
  }

  async verifier(pi) {
    return this.element(modPow(this.g, int(pi), this.q));
  }

  randomClientScalar() {
    for (;;) {
      const s = 1n + randomBelow(this.order - 1n);
      if (s > this.minimumClientScalar) return this.scalar(s);
    }
  }

  randomServerScalar() {
    return this.scalar(1n + randomBelow(this.order - 1n));
  }

  async clientKey(sc1) {
    return this.element(modPow(this.g, int(sc1), this.q));
  }

  checkKey(k) {
    if (k.length !== this.elementLength || !this.isValidElement(int(k)))
      throw new KexError('not 1 < K < q-1');
  }

  async clientSecret(pi, sc1, kc1, ks1) {
    this.checkKey(ks1);
    const e = await this.clientExponent(pi, sc1, kc1, ks1);
    const z = modPow(int(ks1), e, this.q);
    if (!this.isValidElement(z)) throw new KexError('invalid z');
    return this.element(z);
  }

  // Server side: only for the known-answer tests and scripted test servers.
  async serverKey(j, kc1, ss1) {
    this.checkKey(kc1);
    const q = this.q;
    const t1 = int(await this.t1(kc1));
    const k = modPow((int(j) * modPow(int(kc1), t1, q)) % q, int(ss1), q);
    if (!this.isValidElement(k)) throw new KexError('invalid K_s1');
    return this.element(k);
  }

  async serverSecret(kc1, ks1, ss1) {
    const q = this.q;
    const t2 = int(await this.t2(kc1, ks1));
    return this.element(modPow((int(kc1) * modPow(this.g, t2, q)) % q, int(ss1), q));
  }
}

class EcAlgorithm extends Algorithm {
  constructor(name, hash, hashLength, curve) {
    super(name, hash, hashLength, 'hex');
    this.Point = curve.Point;
    const c = this.Point.CURVE();
    this.p = c.p;
    this.order = c.n;
    this.fieldLength = Math.ceil(bitLength(this.p) / 8);
    // P(p) = 2x + (y mod 2) < 2p: bitLength(p) + 1 bits.
    this.elementLength = Math.ceil((bitLength(this.p) + 1) / 8);
    this.scalarLength = Math.ceil(bitLength(this.order) / 8);
  }

  // OCTETS(P(point)).
  encodePoint(point) {
    if (point.is0()) throw new KexError('P() of the point at infinity');
    const { x, y } = point.toAffine();
    return octets(2n * x + (y & 1n), this.elementLength);
  }

  // P^-1: the point with P(p) = K (on the curve, not infinity), else KexError.
  decodePoint(k) {
    if (k.length !== this.elementLength) throw new KexError('wrong length');
    const n = int(k);
    const x = n >> 1n;
    if (x >= this.p) throw new KexError('x out of range');
    const sec1 = concat(Uint8Array.of(2 + Number(n & 1n)), octets(x, this.fieldLength));
    let point;
    try {
      point = this.Point.fromBytes(sec1);
      point.assertValidity();
    } catch {
      throw new KexError('not a point on the curve');
    }
    if (point.is0()) throw new KexError('the point at infinity');
    return point;
  }

  checkKey(k) {
    this.decodePoint(k);
  }

  async verifier(pi) {
    const s = int(pi) % this.order;
    if (s === 0n) throw new KexError('pi = 0 mod r');
    return this.encodePoint(this.Point.BASE.multiply(s));
  }

  randomClientScalar() {
    return this.scalar(1n + randomBelow(this.order - 1n));
  }

  randomServerScalar() {
    return this.randomClientScalar();
  }

  async clientKey(sc1) {
    return this.encodePoint(this.Point.BASE.multiply(int(sc1)));
  }

  async clientSecret(pi, sc1, kc1, ks1) {
    const point = this.decodePoint(ks1);
    const e = await this.clientExponent(pi, sc1, kc1, ks1);
    return this.encodePoint(point.multiply(e));
  }

  async serverKey(j, kc1, ss1) {
    const kc = this.decodePoint(kc1);
    const t1 = int(await this.t1(kc1)) % this.order;
    let base = this.decodePoint(j);
    if (t1 !== 0n) base = base.add(kc.multiply(t1));
    if (base.is0()) throw new KexError('J + [t_1]K_c1 is the point at infinity');
    return this.encodePoint(base.multiply(int(ss1)));
  }

  async serverSecret(kc1, ks1, ss1) {
    const t2 = int(await this.t2(kc1, ks1)) % this.order;
    let base = this.decodePoint(kc1);
    if (t2 !== 0n) base = base.add(this.Point.BASE.multiply(t2));
    return this.encodePoint(base.multiply(int(ss1)));
  }
}

export const ALGORITHMS = [
  new DlAlgorithm('iso-kam3-dl-2048-sha256', 'SHA-256', 32, MODP_2048),
  new DlAlgorithm('iso-kam3-dl-4096-sha512', 'SHA-512', 64, MODP_4096),
  new EcAlgorithm('iso-kam3-ec-p256-sha256', 'SHA-256', 32, p256),
  new EcAlgorithm('iso-kam3-ec-p521-sha512', 'SHA-512', 64, p521),
];

// Case-insensitive lookup of an algorithm token; undefined when unknown.
export function findAlgorithm(name) {
  if (typeof name !== 'string') return undefined;
  const lower = name.toLowerCase();
  return ALGORITHMS.find((a) => a.name === lower);
}

export { DecodeError };
