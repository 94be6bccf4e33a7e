// mutual-auth-client: HTTP Mutual authentication (RFC 8120, RFC 8121) for
// Node >= 20 and browsers.
export { MutualClient, MutualAuthError } from './client.js';
export { computeVerifier, verifierEntry } from './verifier.js';
export { ALGORITHMS, findAlgorithm } from './kam3.js';
export { prepareUsername, preparePassword, PrepError } from './prep.js';
