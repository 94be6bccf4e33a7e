// HTTP authentication header grammar (RFC 7235 §2.1/§4, RFC 7615, RFC 5987)
// as RFC 8120 §3 uses it, and the Mutual messages of RFC 8120 §4: the same
// readings as src/header.c++.
//
// Header values are strings in which each character is one octet (how Node
// and the WebExtension API hand them over for ASCII/Latin-1 text); quoted
// strings and ext-values are decoded from UTF-8. A value that already holds
// characters above U+00FF is taken as decoded text.

import { fromUtf8 } from './encoding.js';

export class HeaderError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

export const MAX_HEADER_LENGTH = 16384;
const MAX_PARAMS = 64;

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;
const ATTR_CHAR = /^[!#$&+\-.^_`|~0-9A-Za-z]$/;
const isTchar = (c) => c !== '' && TCHAR.test(c);

function decodeText(latin1) {
  if (/[^\x00-\xff]/.test(latin1)) return latin1; // already Unicode
  const bytes = Uint8Array.from(latin1, (c) => c.charCodeAt(0));
  try {
    return fromUtf8(bytes);
  } catch {
    throw new HeaderError('invalid_utf8', 'string is not UTF-8');
  }
}

function decodeExtValue(text) {
  const m = /^([^']*)'([^']*)'(.*)$/s.exec(text);
  if (!m) throw new HeaderError('ext_syntax');
  if (m[1].toLowerCase() !== 'utf-8') throw new HeaderError('ext_charset');
  if (m[2] !== '') throw new HeaderError('ext_language');
  const raw = [];
  const v = m[3];
  for (let i = 0; i < v.length;) {
    const c = v[i];
    if (c === '%') {
      const h = v.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(h)) throw new HeaderError('ext_percent');
      raw.push(parseInt(h, 16));
      i += 3;
    } else if (ATTR_CHAR.test(c)) {
      raw.push(c.charCodeAt(0));
      i += 1;
    } else {
      throw new HeaderError('ext_syntax', `character ${JSON.stringify(c)} in an ext-value`);
    }
  }
  try {
    return fromUtf8(Uint8Array.from(raw));
  } catch {
    throw new HeaderError('invalid_utf8');
  }
}

class Scanner {
  constructor(text) {
    if (text.length > MAX_HEADER_LENGTH) throw new HeaderError('too_long');
    this.s = text;
    this.i = 0;
  }
  eof() { return this.i >= this.s.length; }
  peek() { return this.i < this.s.length ? this.s[this.i] : ''; }
  ows() { while (this.peek() === ' ' || this.peek() === '\t') this.i += 1; }
  separators() {
    while (this.peek() === ',' || this.peek() === ' ' || this.peek() === '\t') this.i += 1;
  }
  token() {
    const j = this.i;
    while (isTchar(this.peek())) this.i += 1;
    return this.s.slice(j, this.i);
  }
  quotedString() {
    this.i += 1;
    let out = '';
    for (;;) {
      if (this.eof()) throw new HeaderError('unterminated_quote');
      let c = this.s[this.i++];
      if (c === '"') return out;
      if (c === '\\') {
        if (this.eof()) throw new HeaderError('unterminated_quote');
        c = this.s[this.i++];
      }
      const code = c.charCodeAt(0);
      if ((code < 0x20 && c !== '\t') || code === 0x7f) throw new HeaderError('bad_quoted_char');
      out += c;
    }
  }
  // An auth-param (token BWS "=" BWS value) starts here.
  paramAhead() {
    const save = this.i;
    try {
      if (!this.token()) return false;
      this.ows();
      if (this.peek() !== '=') return false;
      this.i += 1;
      this.ows();
      const c = this.peek();
      return c === '"' || isTchar(c);
    } finally {
      this.i = save;
    }
  }
  params(into) {
    for (;;) {
      let name = this.token().toLowerCase();
      if (!name) throw new HeaderError('bad_param_name');
      this.ows();
      if (this.peek() !== '=') throw new HeaderError('missing_equals');
      this.i += 1;
      this.ows();
      let value;
      let quoted = false;
      if (this.peek() === '"') {
        value = this.quotedString();
        quoted = true;
      } else {
        value = this.token();
        if (!value) throw new HeaderError('bad_token_value');
      }
      let extended = false;
      if (name.endsWith('*')) {
        name = name.slice(0, -1);
        if (name === 'realm') throw new HeaderError('ext_realm');
        value = decodeExtValue(value);
        extended = true;
      } else {
        value = decodeText(value);
      }
      if (into.has(name)) throw new HeaderError('duplicate_param', `duplicate parameter ${name}`);
      if (into.size >= MAX_PARAMS) throw new HeaderError('too_many_params');
      into.set(name, { value, quoted, extended });
      this.ows();
      if (this.eof()) return;
      if (this.peek() !== ',') throw new HeaderError('bad_separator');
      this.separators();
      if (this.eof() || !this.paramAhead()) return;
    }
  }
}

// WWW-Authenticate / Optional-WWW-Authenticate: [{scheme, params: Map, token68}]
export function parseChallenges(value) {
  const sc = new Scanner(value);
  const items = [];
  for (;;) {
    sc.separators();
    if (sc.eof()) {
      if (items.length === 0) throw new HeaderError('empty');
      return items;
    }
    const scheme = sc.token();
    if (!scheme) throw new HeaderError('bad_scheme');
    const params = new Map();
    let token68 = '';
    const hadSpace = sc.peek() === ' ';
    sc.ows();
    if (hadSpace && !sc.eof() && sc.peek() !== ',') {
      if (sc.paramAhead()) {
        sc.params(params);
      } else {
        const j = sc.i;
        while (!sc.eof() && sc.peek() !== ',') sc.i += 1;
        token68 = sc.s.slice(j, sc.i).trim();
      }
    }
    items.push({ scheme, params, token68 });
  }
}

// Authentication-Info (RFC 7615: #auth-param) -> Map
export function parseAuthInfo(value) {
  const sc = new Scanner(value);
  const params = new Map();
  sc.ows();
  if (sc.eof()) return params;
  sc.params(params);
  if (!sc.eof()) throw new HeaderError('bad_separator');
  return params;
}

// ---- Mutual messages (RFC 8120 §4) ----------------------------------------

const EXTENSIVE_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INTEGER = /^(0|[1-9][0-9]*)$/;

function str(params, name) {
  const p = params.get(name);
  return p === undefined ? undefined : p.value;
}

function checkString(s, code) {
  if (s.startsWith('\ufeff')) throw new HeaderError(code);
  return s;
}

function integer(params, name, missing, bad) {
  const v = str(params, name);
  if (v === undefined) throw new HeaderError(missing);
  if (!INTEGER.test(v) || v.length > 20) throw new HeaderError(bad);
  const n = BigInt(v);
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

function token(params, name, missing) {
  const v = str(params, name);
  if (v === undefined) throw new HeaderError(missing);
  if (!EXTENSIVE_TOKEN.test(v)) throw new HeaderError('bad_extensive_token');
  return v.toLowerCase();
}

function kexCounts(params) {
  const k = { kc: 0, ks: 0, vkc: 0, vks: 0, reason: 0 };
  for (const name of params.keys()) {
    if (/^kc[0-9]+$/.test(name)) k.kc += 1;
    else if (/^ks[0-9]+$/.test(name)) k.ks += 1;
    else if (name === 'vkc') k.vkc += 1;
    else if (name === 'vks') k.vks += 1;
    else if (name === 'reason') k.reason += 1;
  }
  return k;
}

function checkVersion(params) {
  const v = str(params, 'version');
  if (v === undefined) throw new HeaderError('missing_version');
  if (v !== '1') throw new HeaderError('bad_version');
}

function realmId(params) {
  const algorithm = token(params, 'algorithm', 'missing_algorithm');
  const validation = token(params, 'validation', 'missing_validation');
  const realm = str(params, 'realm');
  if (realm === undefined) throw new HeaderError('missing_realm');
  checkString(realm, 'invalid_utf8');
  const scope = str(params, 'auth-scope');
  if (scope !== undefined) checkString(scope, 'invalid_utf8');
  return { algorithm, validation, authScope: scope, realm };
}

function sid(params) {
  const v = str(params, 'sid');
  if (v === undefined) throw new HeaderError('missing_sid');
  if (!/^([0-9A-Fa-f]{2})+$/.test(v)) throw new HeaderError('bad_sid');
  return v.toLowerCase();
}

// One Mutual challenge: {kind: 'init'|'stale'|'kex-s1', algorithm, validation,
// authScope?, realm, reason, sid, ks1, ncMax, ncWindow, time, path?}
export function mutualChallenge(item) {
  if (item.token68) throw new HeaderError('b64token_credentials');
  const params = item.params;
  checkVersion(params);
  const k = kexCounts(params);
  if (k.kc + k.vkc > 0) throw new HeaderError('request_params_in_response');
  if (k.reason + k.ks + k.vks > 1) throw new HeaderError('reason_ks_vks_conflict');
  const c = realmId(params);
  const path = str(params, 'path');
  if (path !== undefined) c.path = checkString(path, 'invalid_utf8');
  if (params.has('reason')) {
    c.reason = token(params, 'reason', 'missing_reason');
    c.kind = c.reason === 'stale-session' ? 'stale' : 'init';
  } else if (params.has('ks1')) {
    c.kind = 'kex-s1';
    c.sid = sid(params);
    for (const n of ['nc-max', 'nc-window', 'time'])
      if (!params.has(n)) throw new HeaderError('missing_ks1_fields');
    c.ncMax = integer(params, 'nc-max', 'missing_ks1_fields', 'bad_nc_max');
    c.ncWindow = integer(params, 'nc-window', 'missing_ks1_fields', 'bad_nc_window');
    c.time = integer(params, 'time', 'missing_ks1_fields', 'bad_time');
    c.ks1 = str(params, 'ks1');
  } else {
    throw new HeaderError('missing_reason');
  }
  return c;
}

// Every header value of a list -> {mutual: [challenge], others: [scheme],
// error: first HeaderError of a Mutual challenge or of the grammar}
export function collectChallenges(values) {
  const out = { mutual: [], others: [], error: null, anyMutual: false };
  for (const value of values) {
    let items;
    try {
      items = parseChallenges(value);
    } catch (e) {
      if (!(e instanceof HeaderError)) throw e;
      out.error = out.error || e;
      if (/(^|[\s,])mutual(\s|$)/i.test(value)) out.anyMutual = true;
      continue;
    }
    for (const item of items) {
      if (item.scheme.toLowerCase() !== 'mutual') {
        out.others.push(item.scheme);
        continue;
      }
      out.anyMutual = true;
      try {
        out.mutual.push(mutualChallenge(item));
      } catch (e) {
        if (!(e instanceof HeaderError)) throw e;
        out.error = out.error || e;
      }
    }
  }
  return out;
}

// Authentication-Info of a 200-VFY-S: {sid, vks}. RFC 7615 has no scheme, but
// RFC 8120's Figure 1 shows "Mutual vks=...": accepted too (as the C++ does).
export function mutualAuthInfo(value) {
  let params;
  try {
    params = parseAuthInfo(value);
  } catch (e) {
    if (/^mutual /i.test(value)) params = parseAuthInfo(value.slice(7));
    else throw e;
  }
  checkVersion(params);
  const vks = str(params, 'vks');
  if (vks === undefined) throw new HeaderError('missing_kex_value', 'no vks');
  return { sid: sid(params), vks };
}

// ---- serializers (canonical form, the order of header.c++) ----------------

// Header values are sent as octets: UTF-8 text becomes one char per octet.
export function toOctetString(text) {
  let out = '';
  for (const b of new TextEncoder().encode(text)) out += String.fromCharCode(b);
  return out;
}

export function quoteString(text) {
  return '"' + toOctetString(text).replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

function extValue(text) {
  let out = "UTF-8''";
  for (const b of new TextEncoder().encode(text)) {
    const c = String.fromCharCode(b);
    out += ATTR_CHAR.test(c) ? c : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

export function stringParam(name, text) {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return `${name}=${quoteString(text)}`;
  return `${name}*=${extValue(text)}`;
}

function realmIdParams(id) {
  let out = `version=1, algorithm=${id.algorithm}, validation=${id.validation}`;
  if (id.authScope !== undefined && id.authScope !== null)
    out += ', ' + stringParam('auth-scope', id.authScope);
  out += ', realm=' + quoteString(id.realm);
  return out;
}

function kex(name, value, quoted) {
  return `, ${name}=${quoted ? quoteString(value) : value}`;
}

// req-KEX-C1: Authorization: Mutual version=1, ..., user=..., kc1=...
export function kexC1Header(id, user, kc1Text, quoted) {
  return `Mutual ${realmIdParams(id)}, ${stringParam('user', user)}${kex('kc1', kc1Text, quoted)}`;
}

// req-VFY-C: Authorization: Mutual version=1, ..., sid=..., nc=..., vkc=...
export function vfyCHeader(id, sidText, nc, vkcText, quoted) {
  return `Mutual ${realmIdParams(id)}, sid=${sidText}, nc=${nc}${kex('vkc', vkcText, quoted)}`;
}

// Server-side messages, for scripted test servers.
export function challengeHeader(c, quoted) {
  let out = `Mutual ${realmIdParams(c)}`;
  if (c.kind === 'kex-s1') {
    out += `, sid=${c.sid}${kex('ks1', c.ks1, quoted)}, nc-max=${c.ncMax}, ` +
      `nc-window=${c.ncWindow}, time=${c.time}`;
  } else {
    out += `, reason=${c.reason}`;
  }
  if (c.path !== undefined) out += ', ' + stringParam('path', c.path);
  return out;
}

export function authInfoHeader(sidText, vksText, quoted) {
  return `version=1, sid=${sidText}${kex('vks', vksText, quoted)}`;
}

// RFC 8053 §4: Authentication-Control: logout-timeout=N, location-when-logout="..."
export function parseAuthenticationControl(value) {
  const out = {};
  let params;
  try {
    params = parseAuthInfo(value);
  } catch {
    return out;
  }
  const t = str(params, 'logout-timeout');
  if (t !== undefined && INTEGER.test(t)) out.logoutTimeout = Number(t);
  const loc = str(params, 'location-when-logout');
  if (loc !== undefined) out.locationWhenLogout = loc;
  const unauth = str(params, 'location-when-unauthenticated');
  if (unauth !== undefined) out.locationWhenUnauthenticated = unauth;
  return out;
}
