// The extension's background page: all crypto and every secret live here (no
// content scripts). It runs the RFC 8120 §10 decision procedure of the
// library (lib/exchange.js) on webRequest events:
//
//   401-INIT          -> no credentials: let the 401 page show, light the key
//                        icon, open the popup; after the login the tab reloads
//                        (a request is never held while the user types)
//                     -> credentials: redirect the request to itself and add
//                        Authorization (req-KEX-C1) in onBeforeSendHeaders
//   401-KEX-S1        -> req-VFY-C the same way (same certificate required)
//   200-VFY-S         -> vks (and the certificate) verified before the content
//                        is released; otherwise the tab is sent to blocked.html
//                        and subresources are cancelled
//
// Sessions, pi and the realms are kept in storage.session (never on disk);
// the password is turned into pi when it is typed and dropped.

import { Context, Exchange } from './lib/exchange.js';
import { parseTarget } from './lib/target.js';
import { tlsServerEndPoint } from './lib/endpoint.js';

const context = new Context();
const requests = new Map(); // requestId -> { exchange, authorization, tabId, type }
const tabs = new Map(); // tabId -> { verified: {user, realm, origin} | null, login: realmInfo | null }
globalThis.mutualLoginTab = -1; // the last tab that asked for a login (test hook, popup)

const ready = browser.storage.session.get('context').then((r) => context.restore(r.context))
  .catch(() => {});

function save() {
  browser.storage.session.set({ context: context.snapshot() }).catch(() => {});
}

function tabState(tabId) {
  if (!tabs.has(tabId)) tabs.set(tabId, { verified: null, login: null, blocked: null });
  return tabs.get(tabId);
}

function showTab(tabId) {
  if (tabId < 0) return;
  const s = tabState(tabId);
  let icon = 'icons/key-off.svg';
  let title = 'HTTP Mutual authentication';
  if (s.verified) {
    icon = 'icons/key-verified.svg';
    title = `mutually authenticated as ${s.verified.user} at ${s.verified.realm}`;
  } else if (s.login) {
    icon = 'icons/key-on.svg';
    title = `log in to ${s.login.realm} (${s.login.origin})`;
  }
  browser.browserAction.setIcon({ tabId, path: icon }).catch(() => {});
  browser.browserAction.setTitle({ tabId, title }).catch(() => {});
}

function headerList(details) {
  return (details.responseHeaders || []).map((h) => [h.name,
    h.value !== undefined ? h.value : String.fromCharCode(...(h.binaryValue || []))]);
}

async function endPointOf(details) {
  if (!details.url.startsWith('https:')) return null;
  const info = await browser.webRequest.getSecurityInfo(details.requestId,
    { rawDER: true, certificateChain: false });
  const der = info && info.certificates && info.certificates[0] && info.certificates[0].rawDER;
  return der ? tlsServerEndPoint(new Uint8Array(der)) : null;
}

function withAuthorization(headers, value) {
  const out = headers.filter((h) => h.name.toLowerCase() !== 'authorization');
  // value is already one character per octet (UTF-8 realms and user names).
  out.push({ name: 'Authorization', value });
  return out;
}

async function onBeforeSendHeaders(details) {
  await ready;
  let r = requests.get(details.requestId);
  if (r && r.authorization !== undefined) {
    const value = r.authorization;
    r.authorization = undefined;
    return { requestHeaders: withAuthorization(details.requestHeaders, value) };
  }
  // Otherwise a new hop: a new request, or the server redirected a request
  // (whose previous response was already decided): a new exchange, so the
  // final response of a redirect chain is checked like the first one.
  const target = parseTarget(details.url);
  if (!target) {
    requests.delete(details.requestId);
    return {};
  }
  const exchange = new Exchange(context, target);
  const step = await exchange.begin();
  r = { exchange, tabId: details.tabId, type: details.type };
  requests.set(details.requestId, r);
  if (step.action === 'send' && step.authorization)
    return { requestHeaders: withAuthorization(details.requestHeaders, step.authorization) };
  return {};
}

function blockedUrl(step, url) {
  const q = new URLSearchParams({ outcome: step.outcome, detail: step.detail || '', url });
  return browser.runtime.getURL(`blocked.html?${q}`);
}

async function onHeadersReceived(details) {
  await ready;
  const r = requests.get(details.requestId);
  if (!r || r.exchange.finished) return {};
  const topLevel = details.type === 'main_frame';
  let step;
  try {
    step = await r.exchange.receive({ status: details.statusCode, headers: headerList(details),
      tls: details.url.startsWith('https:'), endPoint: await endPointOf(details) });
  } catch (e) {
    step = r.exchange.finish('protocol-error', 'withheld', String(e && e.message));
  }
  if (step.action === 'credentials') {
    // Let the 401 page show; the popup asks for the password, then the tab reloads.
    if (topLevel && details.tabId >= 0) {
      const s = tabState(details.tabId);
      s.login = step.realm;
      s.verified = null;
      globalThis.mutualLoginTab = details.tabId;
      showTab(details.tabId);
      browser.browserAction.openPopup().catch(() => {});
    }
    step = r.exchange.declineCredentials();
  }
  if (step.action === 'send') {
    r.authorization = step.authorization;
    return { redirectUrl: details.url };
  }
  save();
  if (topLevel && details.tabId >= 0) {
    const s = tabState(details.tabId);
    // Positive only: the status names the user only for a verified document.
    s.verified = step.content === 'verified' ? { user: step.summary.user,
      realm: step.summary.realm, origin: new URL(details.url).origin } : null;
    if (step.content === 'verified') s.login = null;
    s.blocked = step.content === 'withheld' ? { outcome: step.outcome, detail: step.detail } : null;
    showTab(details.tabId);
  }
  if (step.content === 'withheld') {
    if (topLevel) return { redirectUrl: blockedUrl(step, details.url) };
    return { cancel: true };
  }
  if (r.exchange.logoutAfter) logout();
  if (step.content === 'verified') {
    // Authenticated content is never stored in the HTTP cache: a later load
    // (after a logout, or with another certificate) must be verified again.
    const headers = details.responseHeaders.filter((h) =>
      !['cache-control', 'expires', 'pragma'].includes(h.name.toLowerCase()));
    headers.push({ name: 'Cache-Control', value: 'no-store' });
    return { responseHeaders: headers };
  }
  return {};
}

function forget(details) {
  requests.delete(details.requestId);
}

const FILTER = { urls: ['http://*/*', 'https://*/*'] };
browser.webRequest.onBeforeSendHeaders.addListener(onBeforeSendHeaders, FILTER,
  ['blocking', 'requestHeaders']);
browser.webRequest.onHeadersReceived.addListener(onHeadersReceived, FILTER,
  ['blocking', 'responseHeaders']);
browser.webRequest.onCompleted.addListener(forget, FILTER);
browser.webRequest.onErrorOccurred.addListener(forget, FILTER);
browser.tabs.onRemoved.addListener((tabId) => tabs.delete(tabId));

async function logout() {
  const locations = [...context.credentials.values()].map((c) => c.locationWhenLogout)
    .filter(Boolean);
  context.forgetEverything();
  await browser.storage.session.clear().catch(() => {});
  for (const [tabId, s] of tabs) {
    const wasVerified = s.verified;
    s.verified = null;
    showTab(tabId);
    // RFC 8053 location-when-logout: leave the authenticated page.
    if (wasVerified && locations.length) {
      const target = new URL(locations[0], wasVerified.origin).href;
      browser.tabs.update(tabId, { url: target }).catch(() => {});
    }
  }
}

browser.runtime.onMessage.addListener(async (message) => {
  await ready;
  const tabId = Number(message.tabId);
  switch (message.type) {
    case 'state': {
      const s = tabState(tabId);
      return { verified: s.verified, login: s.login, blocked: s.blocked,
        loggedIn: [...context.credentials.values()].map((c) => ({ user: c.user, realm: c.realm,
          scope: c.scope })) };
    }
    case 'login': {
      const s = tabState(tabId);
      if (!s.login) return { ok: false, error: 'this tab does not ask for a login' };
      const realm = s.login;
      try {
        await context.setCredentialsAsPi(realm.scope, realm.realm, message.user,
          message.password, [realm.algorithm]);
      } catch (e) {
        return { ok: false, error: `the user name or password cannot be used (${e.code || e.message})` };
      }
      save();
      s.login = null;
      await browser.tabs.reload(tabId);
      return { ok: true };
    }
    case 'logout':
      await logout();
      return { ok: true };
    default:
      return undefined;
  }
});
