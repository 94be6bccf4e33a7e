// The Firefox extension in a real browser against the real module: headless
// firefox-esr driven through its built-in WebDriver BiDi (no geckodriver),
// the unpacked extension installed with webExtension.install, apache2 with
// the built module over HTTPS with a certificate of a generated CA (trusted
// in the fresh profile), and a scripted server that does not hold the
// verifier. Screenshots of the popup and of a verified page: docs/firefox-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Firefox } from './bidi.js';
import { REPO, location, startServers } from '../support/httpd.js';
import { FORGED, startFakeServer } from '../support/fake-server.js';

const JS = fileURLToPath(new URL('../../', import.meta.url));
const built = existsSync(`${process.env.B || REPO + 'build'}/mod_auth_mutual.so`);
const firefoxBinary = process.env.FIREFOX || 'firefox-esr';
let firefoxPresent = true;
try {
  execFileSync(firefoxBinary, ['--version'], { stdio: 'ignore' });
} catch {
  firefoxPresent = false;
}
const skip = (!built && 'the module is not built (run make)') ||
  (!firefoxPresent && `${firefoxBinary} is not installed`) || false;
// MUTUAL_SCREENSHOTS=../docs regenerates the committed screenshots.
const SHOTS = process.env.MUTUAL_SCREENSHOTS || mkdtempSync(join(tmpdir(), 'mutual-shots-'));
const HOOK = 'http://mutual-extension-test.invalid/popup';
const REALM = 'browser realm';

let run;
let tls;
let fake;
let ff;
let page; // the browsing context of the protected pages
let popup; // the popup page, opened as a tab by the test hook
let extensionDir;

async function until(what, fn, timeout = 20000, describe = null) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (describe) last = await describe().catch((e) => e);
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

const text = (context) => ff.evaluate(context, 'document.body ? document.body.innerText : ""');

function accessLines(root, from) {
  return readFileSync(join(root, 'logs', 'access.log'), 'utf8').slice(from).split('\n')
    .filter(Boolean);
}

before(async () => {
  if (skip) return;
  run = await startServers({ servers: [{ name: 'ff-tls', tls: true, ca: true,
    users: [{ realm: REALM, user: 'alice', password: 'correct horse',
      algorithms: ['iso-kam3-ec-p256-sha256'] }],
    files: {
      'p/index.html': '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Protected</title>' +
        '</head><body style="font:16px sans-serif;margin:2em"><h1>protected page</h1><p>This ' +
        'page was released by the extension only after the server proved, with vks over ' +
        'tls-server-end-point, that it holds alice\'s verifier.</p></body></html>\n',
      'p/two.html': '<!DOCTYPE html><html><body><h1>second page</h1></body></html>\n',
      'bye.html': '<!DOCTYPE html><html><body><h1>logged out</h1></body></html>\n',
    },
    conf: location('/p/', REALM, { extra:
      'Header always set Authentication-Control "location-when-logout=\\"/bye.html\\""' }) +
      'Redirect "/p/go" "/p/two.html"\n' }] });
  tls = run.servers['ff-tls'];
  fake = await startFakeServer({ mode: 'wrong-verifier', realm: 'fake realm' });
  extensionDir = mkdtempSync(join(tmpdir(), 'mutual-ext-'));
  execFileSync(process.execPath, [join(JS, 'firefox', 'build.mjs'), '--test-hook', '--out',
    extensionDir]);
  ff = await Firefox.launch({ binary: firefoxBinary, caCertificates: [tls.ca] });
  await ff.newSession({});
  await ff.send('webExtension.install', { extensionData: { type: 'path', path: extensionDir } });
  page = (await ff.tree())[0].context;
  popup = await ff.newTab();
});

after(async () => {
  if (ff) await ff.close();
  if (fake) await fake.close();
  if (extensionDir) rmSync(extensionDir, { recursive: true, force: true });
  if (!process.env.MUTUAL_SCREENSHOTS) rmSync(SHOTS, { recursive: true, force: true });
  if (run) {
    const report = await run.stop();
    assert.deepEqual(report.crashes, []);
  }
});

async function openPopup() {
  await ff.navigate(popup, HOOK);
  await until('the popup page', async () => (await ff.url(popup)).startsWith('moz-extension://'));
  await until('the popup script', async () => (await text(popup)).includes('Mutual'));
}

async function loginThroughPopup(user, password, screenshot = false) {
  await openPopup();
  await until('the login form', () => ff.evaluate(popup, '!document.getElementById("login").hidden'));
  if (screenshot) {
    await ff.evaluate(popup, `document.getElementById('user').value = ${JSON.stringify(user)}`);
    writeFileSync(join(SHOTS, 'firefox-popup-login.png'),
      await ff.screenshot(popup, { x: 0, y: 0, width: 320, height: 330 }));
  }
  await ff.evaluate(popup, `(() => {
    document.getElementById('user').value = ${JSON.stringify(user)};
    document.getElementById('password').value = ${JSON.stringify(password)};
    document.getElementById('login').requestSubmit();
  })()`);
}

test('a protected page is shown only after a login through the popup', { skip }, async () => {
  await ff.navigate(page, `${tls.base}/p/index.html`);
  const before401 = await text(page);
  assert.ok(!before401.includes('protected page'), before401);
  await loginThroughPopup('alice', 'correct horse', true);
  await until('the protected page after the reload',
    async () => (await text(page)).includes('protected page'), 20000, () => text(page));
  const status = await until('the verified status in the popup', async () => {
    const t = await ff.evaluate(popup, 'document.getElementById("status").textContent');
    return t.startsWith('mutually authenticated as') && t;
  });
  assert.equal(status, `mutually authenticated as alice at ${REALM}`);
  assert.equal(await ff.evaluate(popup, 'document.getElementById("password").value'), '');
  // storage.session holds pi and the session (z, nc), never the password
  const stored = await ff.evaluate(popup,
    'browser.storage.session.get("context").then((r) => JSON.stringify(r.context))');
  const snapshot = JSON.parse(stored);
  assert.equal(snapshot.sessions.length, 1);
  assert.equal(snapshot.sessions[0].user, 'alice');
  assert.match(snapshot.credentials[0].pi['iso-kam3-ec-p256-sha256'], /^[0-9a-f]{64}$/);
  assert.ok(!stored.includes('correct horse') && !stored.includes('password'), stored);
  writeFileSync(join(SHOTS, 'firefox-popup.png'),
    await ff.screenshot(popup, { x: 0, y: 0, width: 320, height: 160 }));
  writeFileSync(join(SHOTS, 'firefox-verified-page.png'),
    await ff.screenshot(page, { x: 0, y: 0, width: 1120, height: 130 }));
});

test('a second page of the realm loads with one round trip (req-VFY-C, next nc)', { skip },
  async () => {
    const log = join(tls.root, 'logs', 'access.log');
    const offset = readFileSync(log, 'utf8').length;
    await ff.navigate(page, `${tls.base}/p/two.html`);
    await until('the second page', async () => (await text(page)).includes('second page'),
      20000, () => text(page));
    const lines = await until('the access log line', async () => {
      const l = accessLines(tls.root, offset).filter((x) => x.includes('/p/two.html'));
      return l.length ? l : null;
    });
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0], /" 200 /);
    assert.match(lines[0], / alice /);
  });

test('the end of a redirect chain is verified too (a new exchange per hop)', { skip },
  async () => {
    await ff.navigate(page, `${tls.base}/p/go`);
    await until('the redirect target', async () => (await text(page)).includes('second page'),
      20000, () => text(page));
    const status = await until('the verified status', async () => {
      const t = await ff.evaluate(popup, 'document.getElementById("status").textContent');
      return t.startsWith('mutually authenticated as') && t;
    }, 20000, () => ff.evaluate(popup, 'document.getElementById("status").textContent'));
    assert.equal(status, `mutually authenticated as alice at ${REALM}`);
  });

test('a server with a wrong vks is blocked before its content shows', { skip }, async () => {
  await ff.navigate(page, `${fake.base}/secret`);
  assert.ok(!(await text(page)).includes('FORGED'));
  await loginThroughPopup('alice', 'correct horse');
  const url = await until('the blocked page', async () => {
    const u = await ff.url(page);
    return u.startsWith('moz-extension://') && u.includes('blocked.html') && u;
  });
  assert.match(decodeURIComponent(url), /outcome=server-not-authenticated/);
  const shown = await until('the text of the blocked page', async () => {
    const t = await text(page);
    return t.includes('did not prove knowledge of the verifier') && t;
  }, 20000, () => text(page));
  assert.ok(!shown.includes(FORGED));
  const popupStatus = await ff.evaluate(popup, 'document.getElementById("status").textContent');
  assert.ok(!popupStatus.startsWith('mutually authenticated as'), popupStatus);
});

test('logout drops pi, z and the sessions, goes to location-when-logout; the realm asks for a login again', { skip },
  async () => {
    await ff.navigate(page, `${tls.base}/p/index.html`);
    await until('the protected page (session reuse)',
      async () => (await text(page)).includes('protected page'), 20000, () => text(page));
    await openPopup();
    await until('the logout button', () => ff.evaluate(popup, '!document.getElementById("logout").hidden'));
    await ff.evaluate(popup, 'document.getElementById("logout").click()');
    await until('the logout', () => ff.evaluate(popup, 'document.body.dataset.loggedOut === "true"'));
    // RFC 8053 location-when-logout (Authentication-Control of the verified page)
    await until('the location-when-logout page', async () =>
      (await ff.url(page)) === `${tls.base}/bye.html` && (await text(page)).includes('logged out'),
    20000, () => ff.url(page));
    const left = JSON.parse(await ff.evaluate(popup,
      'browser.storage.session.get("context").then((r) => JSON.stringify(r))'));
    assert.ok(!left.context || (left.context.sessions.length === 0 &&
      left.context.credentials.length === 0), JSON.stringify(left));
    await ff.navigate(page, `${tls.base}/p/index.html`);
    const after401 = await text(page);
    assert.ok(!after401.includes('protected page'), after401);
    await openPopup();
    await until('the login form again', () => ff.evaluate(popup, '!document.getElementById("login").hidden'));
  });
