// RFC 5929 §4.1 tls-server-end-point: the hash of the server certificate with
// the hash of its signature algorithm, SHA-256 for MD5 and SHA-1 (and, as
// src/client/channel_binding.c++ does, when the algorithm names no hash).

import { sha224 } from '@noble/hashes/sha2.js';
import { webcrypto } from './webcrypto.js';

const HASH_BY_OID = {
  '1.2.840.113549.1.1.4': 'SHA-256', // md5WithRSAEncryption
  '1.2.840.113549.1.1.5': 'SHA-256', // sha1WithRSAEncryption
  '1.2.840.10045.4.1': 'SHA-256', // ecdsa-with-SHA1
  '1.2.840.113549.1.1.14': 'SHA-224',
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
  '1.2.840.10045.4.3.1': 'SHA-224',
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};
const DIGEST_OID = {
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
  '2.16.840.1.101.3.4.2.4': 'SHA-224',
};
const RSASSA_PSS = '1.2.840.113549.1.1.10';

function item(der, i) {
  if (i + 2 > der.length) throw new Error('truncated DER');
  const tag = der[i];
  let length = der[i + 1];
  let start = i + 2;
  if (length & 0x80) {
    const k = length & 0x7f;
    if (k === 0 || k > 4) throw new Error('bad DER length');
    length = 0;
    for (let j = 0; j < k; ++j) length = length * 256 + der[start + j];
    start += k;
  }
  if (start + length > der.length) throw new Error('truncated DER');
  return { tag, start, end: start + length };
}

function oidText(bytes) {
  const arcs = bytes[0] < 80 ? [Math.floor(bytes[0] / 40), bytes[0] % 40] : [2, bytes[0] - 80];
  let n = 0;
  for (const b of bytes.subarray(1)) {
    n = n * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      arcs.push(n);
      n = 0;
    }
  }
  return arcs.join('.');
}

// The hash name of the certificate's signatureAlgorithm.
export function endPointHash(der) {
  const cert = item(der, 0);
  const tbs = item(der, cert.start);
  const algorithm = item(der, tbs.end);
  const oid = item(der, algorithm.start);
  if (oid.tag !== 0x06) return 'SHA-256';
  const text = oidText(der.subarray(oid.start, oid.end));
  if (text === RSASSA_PSS) {
    // RSASSA-PSS-params: the first OID inside [0] hashAlgorithm; SHA-1 default.
    for (let i = oid.end; i + 1 < algorithm.end; ++i) {
      if (der[i] !== 0x06) continue;
      const inner = item(der, i);
      const name = DIGEST_OID[oidText(der.subarray(inner.start, inner.end))];
      if (name) return name;
    }
    return 'SHA-256';
  }
  return HASH_BY_OID[text] || 'SHA-256';
}

export async function tlsServerEndPoint(der) {
  const bytes = der instanceof Uint8Array ? der : new Uint8Array(der);
  const hash = endPointHash(bytes);
  if (hash === 'SHA-224') return sha224(bytes);
  return new Uint8Array(await webcrypto.subtle.digest(hash, bytes));
}
