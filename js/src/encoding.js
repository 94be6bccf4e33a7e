// RFC 8120 §3.2.3 and §12.1 support functions: VI, VS, OCTETS, INT, and the
// two wire forms of numbers (base64-fixed-number, hex-fixed-number).
// Values cross module boundaries as Uint8Array in their natural length.

export class DecodeError extends Error {}

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

export function utf8(text) {
  return encoder.encode(text);
}

export function fromUtf8(bytes) {
  return strictDecoder.decode(bytes);
}

export function concat(...parts) {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

// VI(n): big-endian radix-128, continuation bit on every octet but the last.
export function vi(n) {
  let v = BigInt(n);
  if (v < 0n) throw new RangeError('VI of a negative number');
  const digits = [Number(v & 0x7fn)];
  v >>= 7n;
  while (v > 0n) {
    digits.push(0x80 | Number(v & 0x7fn));
    v >>= 7n;
  }
  return Uint8Array.from(digits.reverse());
}

// VS(s) = VI(length) | s; strings are UTF-8.
export function vs(s) {
  const bytes = typeof s === 'string' ? utf8(s) : s;
  return concat(vi(bytes.length), bytes);
}

export function octet(n) {
  return Uint8Array.of(n);
}

// OCTETS(n) in `length` octets, big-endian.
export function octets(n, length) {
  if (n < 0n) throw new RangeError('OCTETS of a negative number');
  const out = new Uint8Array(length);
  let v = n;
  for (let i = length - 1; i >= 0; --i) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  if (v !== 0n) throw new RangeError('number longer than its natural length');
  return out;
}

export function int(bytes) {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(text) {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(text))
    throw new DecodeError('not an even-length hexadecimal string');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; ++i) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function toBase64(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63] + '==';
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + '=';
  }
  return out;
}

// Strict RFC 4648 decoding: the canonical form only (padding, zero bits).
export function fromBase64(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text))
    throw new DecodeError('not canonical base64');
  const out = [];
  for (let i = 0; i < text.length; i += 4) {
    const q = text.slice(i, i + 4);
    const v = [...q].map((c) => (c === '=' ? 0 : B64.indexOf(c)));
    const n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out.push(n >> 16);
    if (q[2] !== '=') out.push((n >> 8) & 255);
    if (q[3] !== '=') out.push(n & 255);
  }
  const bytes = Uint8Array.from(out);
  if (toBase64(bytes) !== text) throw new DecodeError('not canonical base64');
  return bytes;
}

// Wire form of a number of natural length `length` (RFC 8120 §3.2.3).
export function encodeFixed(bytes, wire) {
  return wire === 'base64' ? toBase64(bytes) : toHex(bytes);
}

export function decodeFixed(text, length, wire) {
  let bytes;
  if (wire === 'base64') {
    bytes = fromBase64(text);
  } else {
    // hex-fixed-number: the C++ core accepts either case on input.
    bytes = fromHex(text);
  }
  if (bytes.length !== length)
    throw new DecodeError(`${bytes.length} octets where the natural length is ${length}`);
  return bytes;
}

export function equalConstantTime(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; ++i) d |= a[i] ^ b[i];
  return d === 0;
}

export function wipe(bytes) {
  if (bytes && bytes.fill) bytes.fill(0);
}
