// The client side of RFC 8120 as a state machine without I/O: the decision
// procedure of §10 (and §10.2), the same as src/client/client_session.c++.
// MutualClient (client.js) drives it with HTTP requests; the Firefox
// extension drives it from webRequest events.
//
// Context is the long-lived part: known realms (algorithm, auth-scope, realm)
// and their `path` coverage, credentials and pi per realm, sessions (sid, z,
// nc) per server. Exchange is one user-level request: begin(), send what it
// asks, pass each response to receive() until a step is `finished`.

import { findAlgorithm } from './kam3.js';
import { equalConstantTime, fromHex, toHex, wipe } from './encoding.js';
import {
  HeaderError, collectChallenges, kexC1Header, mutualAuthInfo, parseAuthenticationControl,
  vfyCHeader,
} from './header.js';
import { prepareUsername, preparePassword, PrepError } from './prep.js';
import { effectiveScope, origin, parseTarget, pathDirectory, scopeCovers } from './target.js';

// Outcomes, and the user-visible state of §10.1 each one means.
export const OUTCOMES = {
  'success': 'AUTH-SUCCEED',
  'not-protected': 'UNAUTHENTICATED',
  'credentials-required': 'AUTH-REQUIRED',
  'credentials-rejected': 'AUTH-REQUIRED',
  'authorization-failed': 'AUTH-REQUIRED',
  'invalid-credentials': 'AUTH-REQUIRED',
  'server-not-authenticated': 'UNAUTHENTICATED',
  'protocol-error': 'UNAUTHENTICATED',
  'unsupported': 'UNAUTHENTICATED',
  'server-error': 'UNAUTHENTICATED',
};

const realmKey = (scope, realm) => JSON.stringify([scope, realm]);
const sessionKey = (o, algorithm, scope, realm) => JSON.stringify([o, algorithm, scope, realm]);

function headerValues(headers, name) {
  const lower = name.toLowerCase();
  const out = [];
  for (const [n, v] of headers) if (n.toLowerCase() === lower) out.push(v);
  return out;
}

export class Context {
  // options: algorithms (preference list, empty = server order), kexFirst,
  // reuseSessions, maxRequests, clock() in seconds.
  constructor(options = {}) {
    this.options = {
      algorithms: options.algorithms || [],
      kexFirst: options.kexFirst !== false,
      reuseSessions: options.reuseSessions !== false,
      maxRequests: options.maxRequests || 6,
      clock: options.clock || (() => Date.now() / 1000),
    };
    this.realms = []; // {id, scope, coverage: [{origin, prefix}]}
    this.credentials = new Map(); // realmKey -> {user, password, pi: Map, logoutTimeout, lastUsed}
    this.sessions = new Map(); // sessionKey -> session
    this.piDerivations = 0;
  }

  now() {
    return this.options.clock();
  }

  // Credentials for one realm (prepared here, RFC 8120 §9); throws PrepError.
  setCredentials(scope, realm, user, password) {
    this.forgetCredentials(scope, realm);
    this.credentials.set(realmKey(scope, realm), {
      scope, realm, user: prepareUsername(user), password: preparePassword(password),
      pi: new Map(), lastUsed: this.now(),
    });
  }

  findCredentials(scope, realm) {
    const c = this.credentials.get(realmKey(scope, realm));
    if (c && c.logoutTimeout !== undefined && this.now() - c.lastUsed > c.logoutTimeout) {
      // RFC 8053 §4.1 logout-timeout: inactivity ends the login.
      this.forgetCredentials(scope, realm);
      return undefined;
    }
    return c;
  }

  hasCredentials(scope, realm) {
    return this.findCredentials(scope, realm) !== undefined;
  }

  forgetCredentials(scope, realm) {
    const key = realmKey(scope, realm);
    const c = this.credentials.get(key);
    if (c) for (const pi of c.pi.values()) wipe(pi);
    this.credentials.delete(key);
    for (const [k, s] of this.sessions)
      if (s.scope === scope && s.id.realm === realm) this.dropSession(k);
  }

  forgetEverything() {
    for (const c of this.credentials.values()) for (const pi of c.pi.values()) wipe(pi);
    this.credentials.clear();
    for (const k of [...this.sessions.keys()]) this.dropSession(k);
    this.realms = [];
  }

  // Credentials whose pi is computed at once and whose password is dropped
  // (the browser extension): usable only for the algorithms given.
  async setCredentialsAsPi(scope, realm, user, password, algorithmNames) {
    this.setCredentials(scope, realm, user, password);
    const entry = this.credentials.get(realmKey(scope, realm));
    try {
      for (const name of algorithmNames) await this.piFor(entry, findAlgorithm(name));
    } finally {
      delete entry.password;
    }
    return entry;
  }

  // pi of the entry for the algorithm (PBKDF2 once per algorithm), or null
  // when the password was dropped before this algorithm was needed.
  async piFor(entry, algorithm) {
    let pi = entry.pi.get(algorithm.name);
    if (!pi) {
      if (entry.password === undefined) return null;
      pi = await algorithm.pi(entry.password, entry.scope, entry.realm, entry.user);
      this.piDerivations += 1;
      entry.pi.set(algorithm.name, pi);
    }
    return pi;
  }

  findRealmFor(t) {
    const o = origin(t);
    let best = null;
    let bestLength = 0;
    for (const realm of this.realms) {
      if (!this.hasCredentials(realm.scope, realm.id.realm)) continue;
      for (const c of realm.coverage) {
        if (c.origin !== o || !t.path.startsWith(c.prefix)) continue;
        if (best === null || c.prefix.length >= bestLength) {
          best = realm;
          bestLength = c.prefix.length;
        }
      }
    }
    return best;
  }

  rememberRealm(id, scope, t, path) {
    let known = this.realms.find((r) => r.id.algorithm === id.algorithm && r.scope === scope &&
      r.id.realm === id.realm && r.id.validation === id.validation);
    if (!known) {
      known = { id, scope, coverage: [] };
      this.realms.push(known);
    }
    known.id = id;
    const add = (o, prefix) => {
      if (!known.coverage.some((c) => c.origin === o && c.prefix === prefix))
        known.coverage.push({ origin: o, prefix });
    };
    if (path === undefined) {
      add(origin(t), pathDirectory(t.path));
      return;
    }
    add(origin(t), t.path);
    for (const element of path.split(' ')) {
      if (!element) continue;
      if (element.startsWith('/')) {
        add(origin(t), element);
        continue;
      }
      const other = parseTarget(element);
      if (other && scopeCovers(scope, other)) add(origin(other), other.path);
    }
  }

  findSession(o, algorithm, scope, realm) {
    return this.sessions.get(sessionKey(o, algorithm, scope, realm));
  }

  storeSession(s) {
    const key = sessionKey(s.origin, s.id.algorithm, s.scope, s.id.realm);
    this.dropSession(key);
    this.sessions.set(key, s);
  }

  dropSession(keyOrSession) {
    const key = typeof keyOrSession === 'string' ? keyOrSession
      : sessionKey(keyOrSession.origin, keyOrSession.id.algorithm, keyOrSession.scope,
        keyOrSession.id.realm);
    const s = this.sessions.get(key);
    if (s) wipe(s.z);
    this.sessions.delete(key);
  }

  // A structured-clone-able copy (storage.session of the extension): pi, z
  // and the keys as hex; passwords are never part of it.
  snapshot() {
    const hex = (b) => toHex(b);
    return {
      realms: this.realms,
      credentials: [...this.credentials.values()].map((c) => ({ scope: c.scope, realm: c.realm,
        user: c.user, pi: Object.fromEntries([...c.pi].map(([k, v]) => [k, hex(v)])),
        lastUsed: c.lastUsed, logoutTimeout: c.logoutTimeout,
        locationWhenLogout: c.locationWhenLogout })),
      sessions: [...this.sessions.values()].map((s) => ({ ...s, algorithm: s.algorithm.name,
        kc1: hex(s.kc1), ks1: hex(s.ks1), z: hex(s.z),
        vh: typeof s.vh === 'string' ? s.vh : { hex: hex(s.vh) } })),
    };
  }

  restore(snapshot) {
    if (!snapshot) return;
    const bytes = (h) => fromHex(h);
    this.realms = snapshot.realms || [];
    for (const c of snapshot.credentials || []) {
      this.credentials.set(realmKey(c.scope, c.realm), { ...c,
        pi: new Map(Object.entries(c.pi).map(([k, v]) => [k, bytes(v)])) });
    }
    for (const s of snapshot.sessions || []) {
      const algorithm = findAlgorithm(s.algorithm);
      if (!algorithm) continue;
      this.storeSession({ ...s, algorithm, kc1: bytes(s.kc1), ks1: bytes(s.ks1), z: bytes(s.z),
        vh: typeof s.vh === 'string' ? s.vh : bytes(s.vh.hex) });
    }
  }

  sessionUsable(s) {
    return s && s.ncLast < s.ncMax && this.now() < s.reusableUntil;
  }
}

export class Exchange {
  // response objects passed to receive(): {status, headers: [[name, value]],
  // tls: boolean, endPoint: Uint8Array (tls-server-end-point) or null}
  constructor(context, url) {
    this.context = context;
    this.target = typeof url === 'string' ? parseTarget(url) : url;
    if (!this.target) throw new TypeError('only absolute http and https URLs');
    this.sent = 'normal';
    this.requests = 0;
    this.finished = false;
    this.rekeyed = false;
    this.optionalInit = false;
    this.kexRealms = [];
    this.expected = null; // {id, scope, reason}
    this.awaiting = null;
    this.pending = null;
    this.inFlight = null; // the session of the req-VFY-C in flight + nc + vh
    this.summary = { user: '', realm: '', scope: '', algorithm: '', validation: '', sid: '',
      nc: 0, reused: false, requests: 0 };
    this.lastKind = '';
  }

  validationAcceptable(validation) {
    return this.target.https ? validation === 'tls-server-end-point' : validation === 'host';
  }

  allowed(algorithm) {
    const pref = this.context.options.algorithms;
    return pref.length === 0 || pref.includes(algorithm.name);
  }

  // A realm is (algorithm, auth-scope, realm).
  sameRealm(id, scope) {
    return this.expected !== null && this.expected.scope === scope &&
      this.expected.id.realm === id.realm && this.expected.id.algorithm === id.algorithm;
  }

  finish(outcome, content, detail = '') {
    this.finished = true;
    this.pending = null;
    this.awaiting = null;
    return { action: 'finished', outcome, state: OUTCOMES[outcome], content, detail,
      summary: this.summary };
  }

  send(message, authorization) {
    if (this.requests >= this.context.options.maxRequests)
      return this.finish('protocol-error', 'withheld', 'too many requests in one exchange');
    this.requests += 1;
    this.summary.requests = this.requests;
    this.sent = message;
    return { action: 'send', message, authorization };
  }

  // Step 1 of §10.2: normal request, req-KEX-C1 (KEX-first) or req-VFY-C (reuse).
  async begin() {
    const ctx = this.context;
    const realm = ctx.findRealmFor(this.target);
    const algorithm = realm ? findAlgorithm(realm.id.algorithm) : undefined;
    if (realm && algorithm && this.validationAcceptable(realm.id.validation)) {
      this.expected = { id: realm.id, scope: realm.scope, reason: '' };
      const session = ctx.options.reuseSessions
        ? ctx.findSession(origin(this.target), realm.id.algorithm, realm.scope, realm.id.realm)
        : undefined;
      if (ctx.sessionUsable(session)) {
        this.summary.reused = true;
        return this.sendVfy(session, session.vh);
      }
      if (session) ctx.dropSession(session);
      if (ctx.options.kexFirst) {
        return this.sendKex({ challenge: { kind: 'init', ...realm.id }, algorithm,
          scope: realm.scope });
      }
      this.expected = null;
    }
    return this.send('normal', '');
  }

  async handleInit(challenges, parseError, optional) {
    const candidates = [];
    const refused = [];
    const pref = this.context.options.algorithms;
    for (const c of challenges) {
      if (c.kind === 'kex-s1') {
        refused.push('401-KEX-S1 without a req-KEX-C1');
        continue;
      }
      const a = findAlgorithm(c.algorithm);
      if (!a) {
        refused.push(`algorithm ${c.algorithm} unsupported`);
        continue;
      }
      const rank = pref.length === 0 ? candidates.length : pref.indexOf(a.name);
      if (rank < 0) {
        refused.push(`algorithm ${c.algorithm} not allowed`);
        continue;
      }
      if (!this.validationAcceptable(c.validation)) {
        refused.push(`validation ${c.validation} unacceptable on ${this.target.scheme}`);
        continue;
      }
      const scope = effectiveScope(c.authScope, this.target);
      if (!scopeCovers(scope, this.target)) {
        refused.push(`auth-scope "${scope}" does not include ${this.target.host}`);
        continue;
      }
      candidates.push({ challenge: c, algorithm: a, scope, rank });
    }
    candidates.sort((x, y) => x.rank - y.rank);
    const best = candidates[0];
    if (!best) {
      if (optional)
        return this.finish('not-protected', 'unauthenticated',
          `optional Mutual authentication offered, but not usable (${refused.join('; ')})`);
      if (challenges.length === 0 && parseError)
        return this.finish('protocol-error', 'withheld', `malformed 401-INIT: ${parseError.code}`);
      return this.finish('unsupported', 'unauthenticated',
        `no usable Mutual challenge (${refused.join('; ')})`);
    }
    const id = idOf(best.challenge);
    this.context.rememberRealm(id, best.scope, this.target, undefined);
    this.expected = { id, scope: best.scope, reason: best.challenge.reason || '' };
    this.optionalInit = optional;
    return this.afterRealmChosen(best);
  }

  // Steps 6-9 and 12: credentials known? session available?
  async afterRealmChosen(chosen) {
    const ctx = this.context;
    const { challenge } = chosen;
    if (ctx.hasCredentials(chosen.scope, challenge.realm)) {
      const session = ctx.options.reuseSessions
        ? ctx.findSession(origin(this.target), challenge.algorithm, chosen.scope, challenge.realm)
        : undefined;
      if (ctx.sessionUsable(session)) {
        this.summary.reused = true;
        return this.sendVfy(session, session.vh);
      }
      return this.sendKex(chosen);
    }
    this.awaiting = chosen;
    return { action: 'credentials', realm: this.realmInfo(chosen) };
  }

  realmInfo(chosen) {
    return { algorithm: chosen.challenge.algorithm, validation: chosen.challenge.validation,
      authScope: chosen.challenge.authScope, scope: chosen.scope, realm: chosen.challenge.realm,
      origin: origin(this.target), reason: chosen.challenge.reason || '' };
  }

  // After a `credentials` step.
  async supplyCredentials(user, password) {
    if (this.finished || !this.awaiting)
      return this.finish('protocol-error', 'withheld', 'credentials supplied without being asked');
    const chosen = this.awaiting;
    this.awaiting = null;
    try {
      this.context.setCredentials(chosen.scope, chosen.challenge.realm, user, password);
    } catch (e) {
      if (e instanceof PrepError)
        return this.finish('invalid-credentials', 'withheld',
          `the user name or password cannot be used: ${e.code}`);
      throw e;
    }
    return this.sendKex(chosen);
  }

  declineCredentials() {
    if (this.finished || !this.awaiting)
      return this.finish('protocol-error', 'withheld', 'credentials declined without being asked');
    const realm = this.awaiting.challenge.realm;
    if (this.optionalInit)
      return this.finish('not-protected', 'unauthenticated',
        `the server offers optional Mutual authentication for realm "${realm}"`);
    return this.finish('credentials-required', 'unauthenticated',
      `the server requires Mutual authentication for realm "${realm}"`);
  }

  async sendKex(chosen) {
    const ctx = this.context;
    const { challenge, algorithm: a } = chosen;
    const key = realmKey(chosen.scope, challenge.realm);
    if (this.kexRealms.includes(key))
      return this.finish('protocol-error', 'withheld',
        `the server asked for a second key exchange for realm "${challenge.realm}"`);
    const credentials = ctx.findCredentials(chosen.scope, challenge.realm);
    if (!credentials) {
      this.awaiting = chosen;
      return { action: 'credentials', realm: this.realmInfo(chosen) };
    }
    if (await ctx.piFor(credentials, a) === null) {
      this.awaiting = chosen;
      return { action: 'credentials', realm: this.realmInfo(chosen) };
    }
    this.kexRealms.push(key);
    credentials.lastUsed = ctx.now();
    const sc1 = a.randomClientScalar();
    const kc1 = await a.clientKey(sc1);
    const id = idOf(challenge);
    this.pending = { algorithm: a, id, scope: chosen.scope, user: credentials.user, sc1, kc1 };
    this.expected = { id, scope: chosen.scope, reason: challenge.reason || '' };
    Object.assign(this.summary, { user: credentials.user, realm: id.realm, scope: chosen.scope,
      algorithm: a.name, validation: id.validation });
    return this.send('kex', kexC1Header(id, credentials.user, a.encodeKey(kc1), a.quotedOnWire));
  }

  vhOf(response) {
    return this.target.https ? response.endPoint : origin(this.target);
  }

  async handleKexS1(challenge, response) {
    const ctx = this.context;
    const p = this.pending;
    const a = p.algorithm;
    if (challenge.ncMax < 1)
      return this.finish('protocol-error', 'withheld', '401-KEX-S1 with nc-max 0');
    if (this.target.https && !(response.endPoint && response.endPoint.length))
      return this.finish('protocol-error', 'withheld',
        'no server certificate to compute tls-server-end-point from');
    let ks1;
    try {
      ks1 = a.decodeKey(challenge.ks1);
    } catch (e) {
      return this.finish('protocol-error', 'withheld', `ks1 does not decode: ${e.message}`);
    }
    const credentials = ctx.findCredentials(p.scope, p.id.realm);
    if (!credentials)
      return this.finish('protocol-error', 'withheld', 'credentials vanished during the exchange');
    const pi = await ctx.piFor(credentials, a);
    if (!pi) return this.finish('protocol-error', 'withheld', 'no pi for the algorithm');
    let z;
    try {
      z = await a.clientSecret(pi, p.sc1, p.kc1, ks1);
    } catch (e) {
      return this.finish('protocol-error', 'withheld', `invalid ks1 from the server: ${e.message}`);
    } finally {
      wipe(p.sc1);
    }
    const session = {
      origin: origin(this.target), id: p.id, scope: p.scope, algorithm: a, user: p.user,
      sid: challenge.sid, kc1: p.kc1, ks1, z, ncLast: 0, ncMax: challenge.ncMax,
      ncWindow: challenge.ncWindow,
      reusableUntil: ctx.now() + Math.min(challenge.time, 2 ** 31 - 1),
      vh: this.vhOf(response),
    };
    this.pending = null;
    ctx.rememberRealm(session.id, session.scope, this.target, challenge.path);
    ctx.storeSession(session);
    return this.sendVfy(session, session.vh);
  }

  async sendVfy(session, vh) {
    const a = session.algorithm;
    const nc = session.ncLast + 1;
    if (nc > session.ncMax) return this.finish('protocol-error', 'withheld', 'no nonce number left');
    session.ncLast = nc; // never reused, whatever the answer
    const vkc = await a.vkC(session.kc1, session.ks1, session.z, nc, vh);
    this.inFlight = { session, nc, vh };
    this.expected = { id: session.id, scope: session.scope, reason: '' };
    const credentials = this.context.findCredentials(session.scope, session.id.realm);
    if (credentials) credentials.lastUsed = this.context.now();
    Object.assign(this.summary, { user: session.user, realm: session.id.realm,
      scope: session.scope, algorithm: a.name, validation: session.id.validation,
      sid: session.sid, nc });
    return this.send('vfy', vfyCHeader(session.id, session.sid, nc, a.encodeVk(vkc),
      a.quotedOnWire));
  }

  currentSession() {
    const s = this.inFlight && this.inFlight.session;
    if (!s) return undefined;
    const stored = this.context.findSession(s.origin, s.id.algorithm, s.scope, s.id.realm);
    return stored === s ? s : undefined;
  }

  async verify(response) {
    const session = this.currentSession();
    const refuse = (why) => {
      if (session) this.context.dropSession(session);
      return this.finish('server-not-authenticated', 'withheld', why);
    };
    if (!session) return refuse('the session was lost before the response arrived');
    const values = headerValues(response.headers, 'Authentication-Info');
    if (values.length !== 1)
      return refuse(values.length === 0 ? 'the response to req-VFY-C has no Authentication-Info'
        : 'the response has several Authentication-Info headers');
    let info;
    try {
      info = mutualAuthInfo(values[0]);
    } catch (e) {
      return refuse(`malformed Authentication-Info: ${e.code || e.message}`);
    }
    if (info.sid !== session.sid) return refuse('Authentication-Info names another sid');
    const { nc, vh } = this.inFlight;
    if (this.target.https) {
      const now = response.endPoint;
      if (!now || !equalConstantTime(now, vh))
        return refuse('the server certificate changed during the exchange');
    }
    const a = session.algorithm;
    let vks;
    try {
      vks = a.decodeVk(info.vks);
    } catch (e) {
      return refuse(`vks does not decode: ${e.message}`);
    }
    const expected = await a.vkS(session.kc1, session.ks1, session.z, nc, vh);
    if (!equalConstantTime(expected, vks))
      return refuse('wrong vks: the server does not know the verifier');
    this.applyAuthenticationControl(response, session);
    return this.finish('success', 'verified');
  }

  // RFC 8053 §4: logout-timeout on a verified response.
  applyAuthenticationControl(response, session) {
    for (const v of headerValues(response.headers, 'Authentication-Control')) {
      const control = parseAuthenticationControl(v);
      const credentials = this.context.findCredentials(session.scope, session.id.realm);
      if (control.logoutTimeout !== undefined && credentials) {
        credentials.logoutTimeout = control.logoutTimeout;
        if (control.logoutTimeout === 0) this.logoutAfter = true;
      }
      if (control.locationWhenLogout !== undefined && credentials)
        credentials.locationWhenLogout = control.locationWhenLogout;
    }
  }

  // The response to the request of the last `send` step.
  async receive(response) {
    if (this.finished || this.awaiting || this.requests === 0)
      return this.finish('protocol-error', 'withheld', 'a response no request asked for');
    const first = this.requests === 1;
    const status = response.status;
    if (Boolean(response.tls) !== this.target.https)
      return this.finish('protocol-error', 'withheld', 'TLS state does not match the URL scheme');
    const clientError = status >= 400 && status < 500;
    const serverError = status >= 500 && status < 600;
    const www = clientError ? collectChallenges(headerValues(response.headers, 'WWW-Authenticate'))
      : { mutual: [], others: [], error: null, anyMutual: false };
    const hasAuthInfo = headerValues(response.headers, 'Authentication-Info').length > 0;
    this.lastKind = www.mutual.length ? { 'kex-s1': '401-KEX-S1', stale: '401-STALE',
      init: '401-INIT' }[www.mutual[0].kind] : 'normal response';
    if (status !== 401 && hasAuthInfo && this.sent === 'vfy') this.lastKind = '200-VFY-S';
    const notProtected = () => this.finish('not-protected', 'unauthenticated',
      www.others.length ? `the server asks for ${www.others.join(', ')} authentication`
        : 'the resource is not protected by Mutual authentication');

    if (this.sent === 'normal') {
      if (www.anyMutual) return this.handleInit(www.mutual, www.error, false);
      if (status !== 401 && !serverError) {
        const optional = collectChallenges(
          headerValues(response.headers, 'Optional-WWW-Authenticate'));
        if (optional.mutual.length) {
          this.lastKind = '401-INIT (Optional-WWW-Authenticate)';
          return this.handleInit(optional.mutual, optional.error, true);
        }
      }
      return notProtected();
    }
    const challengeResponse = status === 401 || (clientError && www.anyMutual && !hasAuthInfo);
    if (this.sent === 'vfy' && !challengeResponse) {
      if (hasAuthInfo) return this.verify(response);
      if (serverError)
        return this.finish('server-error', 'unauthenticated',
          `server error ${status} without Authentication-Info`);
      if (first) return notProtected();
      const session = this.currentSession();
      if (session) this.context.dropSession(session);
      return this.finish('server-not-authenticated', 'withheld',
        'the response to req-VFY-C has no Authentication-Info');
    }
    if (this.sent === 'kex' && !challengeResponse) {
      if (serverError)
        return this.finish('server-error', 'unauthenticated',
          `server error ${status} in the key exchange`);
      if (first && !hasAuthInfo) return notProtected();
      return this.finish('protocol-error', 'withheld',
        `unexpected ${status} response to req-KEX-C1`);
    }
    if (this.sent === 'vfy') {
      // §10.1: any 401 to req-VFY-C makes the session unusable.
      const session = this.currentSession();
      if (session) this.context.dropSession(session);
    }
    if (!www.anyMutual) {
      if (first) return notProtected();
      return this.finish('protocol-error', 'withheld',
        '401 without a Mutual challenge in the middle of the exchange');
    }
    if (www.mutual.length === 0)
      return this.finish('protocol-error', 'withheld',
        `malformed Mutual challenge: ${www.error ? www.error.code : 'unknown'}`);
    if (this.sent === 'kex') {
      const p = this.pending;
      for (const c of www.mutual) {
        if (c.kind !== 'kex-s1') continue;
        const scope = effectiveScope(c.authScope, this.target);
        if (c.algorithm === p.id.algorithm && scope === p.scope && c.realm === p.id.realm &&
            c.validation === p.id.validation && c.authScope === p.id.authScope)
          return this.handleKexS1(c, response);
      }
    }
    let ours = null;
    const others = [];
    for (const c of www.mutual) {
      if (c.kind === 'kex-s1') {
        if (this.sent === 'vfy')
          return this.finish('protocol-error', 'withheld', '401-KEX-S1 in response to req-VFY-C');
        continue;
      }
      const scope = effectiveScope(c.authScope, this.target);
      if (this.sameRealm(c, scope)) {
        if (ours === null || (c.kind === 'stale' && ours.kind !== 'stale')) ours = c;
      } else {
        others.push(c);
      }
    }
    if (ours && ours.kind === 'stale' && this.sent === 'vfy') {
      // Re-key without asking the user, once per sequence.
      if (this.rekeyed)
        return this.finish('protocol-error', 'withheld', 'a second 401-STALE in one sequence');
      this.rekeyed = true;
      const a = findAlgorithm(ours.algorithm);
      if (!a || !this.allowed(a) || !this.validationAcceptable(ours.validation))
        return this.finish('unsupported', 'withheld',
          '401-STALE names an algorithm or validation this client will not use');
      return this.sendKex({ challenge: ours, algorithm: a, scope: this.expected.scope });
    }
    if (ours) {
      // Step 13: the credentials were not accepted.
      const reason = ours.reason;
      if (reason === 'authz-failed')
        return this.finish('authorization-failed', 'unauthenticated',
          `user "${this.summary.user}" is authenticated but not authorized (authz-failed)`);
      this.context.forgetCredentials(this.expected.scope, this.expected.id.realm);
      return this.finish('credentials-rejected', 'unauthenticated',
        `the server did not accept the credentials of user "${this.summary.user}" for realm ` +
        `"${this.expected.id.realm}" (reason ${reason || 'none'})`);
    }
    // A 401-INIT for another realm: only acceptable for the first request.
    if (first) return this.handleInit(others, www.error, false);
    return this.finish('protocol-error', 'withheld',
      'a 401 for another realm in the middle of the exchange');
  }
}

function idOf(c) {
  return { algorithm: c.algorithm, validation: c.validation, authScope: c.authScope,
    realm: c.realm };
}

export { HeaderError, toHex };
