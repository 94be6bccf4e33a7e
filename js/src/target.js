// Request targets and auth-scopes (RFC 8120 §5), the readings of
// src/client/target.c++ after #8: an omitted auth-scope is the single-server
// scope <scheme>://<host>[:<port>] of the request.

export function parseTarget(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return null;
  const host = u.hostname.toLowerCase();
  if (!host) return null;
  const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
  return { url: u.href, scheme, host, port, path: u.pathname || '/', https: scheme === 'https' };
}

// scheme://host:port, always with the port (vh of validation=host, §7).
export function origin(t) {
  return `${t.scheme}://${t.host}:${t.port}`;
}

// The single-server auth-scope: the port only when it is not the default.
export function singleServerScope(t) {
  const defaultPort = t.scheme === 'https' ? 443 : 80;
  return t.port === defaultPort ? `${t.scheme}://${t.host}` : origin(t);
}

export function effectiveScope(authScope, t) {
  return authScope === undefined || authScope === null ? singleServerScope(t) : authScope;
}

// Does auth-scope `scope` (single-server, single-host or wildcard-domain)
// include the target?
export function scopeCovers(scope, t) {
  if (!scope) return false;
  const lowered = scope.toLowerCase();
  if (lowered.includes('://')) return lowered === singleServerScope(t);
  if (lowered.length > 2 && lowered.startsWith('*.')) {
    const domain = lowered.slice(2);
    // A one-label domain ("*.com") is a public suffix: refused.
    if (!domain.includes('.') || domain.startsWith('.') || domain.endsWith('.') ||
        t.host.startsWith('[')) return false;
    return t.host === domain || t.host.endsWith('.' + domain);
  }
  return lowered === t.host;
}

export function pathDirectory(path) {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '/' : path.slice(0, slash + 1);
}
