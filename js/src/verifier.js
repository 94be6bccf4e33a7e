// The verifier J(pi) in the wire encoding of the verifier record
// (docs/verifier-format.md, src/verifier_record.c++), as htmutual stores it.

import { findAlgorithm } from './kam3.js';
import { encodeFixed, wipe } from './encoding.js';
import { prepareUsername, preparePassword } from './prep.js';

// User and password are prepared (RFC 8120 §9) as htmutual prepares them.
export async function computeVerifier({ algorithm, authScope, realm, user, password }) {
  const a = findAlgorithm(algorithm);
  if (!a) throw new TypeError(`unsupported algorithm ${algorithm}`);
  for (const [name, v] of [['authScope', authScope], ['realm', realm]])
    if (typeof v !== 'string' || v === '') throw new TypeError(`${name} must be a non-empty string`);
  const pi = await a.pi(preparePassword(password), authScope, realm, prepareUsername(user));
  try {
    return encodeFixed(await a.verifier(pi), a.wire);
  } finally {
    wipe(pi);
  }
}

// pct(): keeps A-Z a-z 0-9 - . _ ~ * and writes every other octet as %XX.
export function recordPercent(text) {
  let out = '';
  for (const b of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-._~*]/.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// One entry of the record: "1;algorithm;pct(auth-scope);pct(realm);J".
export async function verifierEntry(options) {
  const j = await computeVerifier(options);
  const a = findAlgorithm(options.algorithm);
  return `1;${a.name};${recordPercent(options.authScope)};${recordPercent(options.realm)};${j}`;
}
