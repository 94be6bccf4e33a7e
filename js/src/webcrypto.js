// WebCrypto: the global one (browsers, Node >= 19), else node:crypto's
// (Node 18, Debian 12's nodejs, has no global `crypto` without a flag).
export const webcrypto = globalThis.crypto && globalThis.crypto.subtle
  ? globalThis.crypto : (await import('node:crypto')).webcrypto;
