// The protocol core without the HTTP client: KAM3 algorithms, encodings,
// header grammar, string preparation, the §10 decision procedure (Exchange)
// and tls-server-end-point. The Firefox extension is built on these.
export * from './kam3.js';
export * from './encoding.js';
export * from './header.js';
export * from './prep.js';
export * from './target.js';
export { Context, Exchange, OUTCOMES } from './exchange.js';
export { tlsServerEndPoint, endPointHash } from './endpoint.js';
export { computeVerifier, verifierEntry, recordPercent } from './verifier.js';
