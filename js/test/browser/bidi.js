// A minimal WebDriver BiDi client for Firefox's built-in remote agent:
// firefox-esr --headless --remote-debugging-port, no geckodriver, `ws` from npm.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';

const PREFS = {
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'browser.aboutwelcome.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.reportingpolicy.firstRun': false,
  'app.update.enabled': false,
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  'browser.newtabpage.enabled': false,
  'extensions.openPopupWithoutUserGesture.enabled': true,
  'network.proxy.type': 0,
  'network.dns.disableIPv6': true,
  'remote.prefs.recommended': true,
};

export class Firefox {
  // caCertificates: PEM files trusted as CAs in the fresh profile (certutil
  // from Debian's libnss3-tools writes them into its cert9.db).
  static async launch({ binary = process.env.FIREFOX || 'firefox-esr', timeout = 60000,
    caCertificates = [] } = {}) {
    const profile = mkdtempSync(join(tmpdir(), 'mutual-ff-'));
    if (caCertificates.length) {
      execFileSync('certutil', ['-N', '-d', `sql:${profile}`, '--empty-password']);
      caCertificates.forEach((file, i) => execFileSync('certutil', ['-A', '-d', `sql:${profile}`,
        '-n', `mutual-test-ca-${i}`, '-t', 'C,,', '-i', file]));
    }
    writeFileSync(join(profile, 'user.js'), Object.entries(PREFS)
      .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});`).join('\n') + '\n');
    const child = spawn(binary, ['--headless', '--no-remote', '--remote-debugging-port', '0',
      '--profile', profile, 'about:blank'], { stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MOZ_CRASHREPORTER_DISABLE: '1' } });
    let log = '';
    const url = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`firefox did not start:\n${log}`)), timeout);
      const scan = (chunk) => {
        log += chunk;
        const m = /WebDriver BiDi listening on (ws:\/\/\S+)/.exec(log);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      child.stdout.on('data', scan);
      child.stderr.on('data', scan);
      child.on('exit', (code) => reject(new Error(`firefox exited (${code}):\n${log}`)));
    });
    const ff = new Firefox(child, profile);
    await ff.connect(url.replace(/\/?$/, '') + '/session');
    return ff;
  }

  constructor(child, profile) {
    this.child = child;
    this.profile = profile;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
  }

  connect(url) {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(url);
      this.ws.on('open', resolve);
      this.ws.on('error', reject);
      this.ws.on('message', (data) => {
        const msg = JSON.parse(data);
        if (msg.id !== undefined && this.pending.has(msg.id)) {
          const { resolve: ok, reject: fail, method } = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.type === 'error') fail(new Error(`${method}: ${msg.error}: ${msg.message}`));
          else ok(msg.result);
        } else if (msg.method) {
          for (const l of this.listeners) l(msg);
        }
      });
    });
  }

  send(method, params = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async newSession(capabilities = {}) {
    return this.send('session.new', { capabilities: { alwaysMatch: capabilities } });
  }

  async evaluate(context, expression, awaitPromise = true) {
    const r = await this.send('script.evaluate', { expression, target: { context },
      awaitPromise, resultOwnership: 'none' });
    if (r.type === 'exception') throw new Error(`script error: ${r.exceptionDetails.text}`);
    return deserialize(r.result);
  }

  async navigate(context, url, wait = 'complete') {
    return this.send('browsingContext.navigate', { context, url, wait });
  }

  async newTab() {
    return (await this.send('browsingContext.create', { type: 'tab' })).context;
  }

  async tree() {
    return (await this.send('browsingContext.getTree', {})).contexts;
  }

  async url(context) {
    const all = await this.tree();
    const c = all.find((x) => x.context === context);
    return c && c.url;
  }

  // clip: { x, y, width, height } in CSS pixels of the viewport, optional
  async screenshot(context, clip) {
    const r = await this.send('browsingContext.captureScreenshot', { context,
      ...(clip ? { clip: { type: 'box', ...clip } } : {}) });
    return Buffer.from(r.data, 'base64');
  }

  async close() {
    try {
      await Promise.race([this.send('session.end'), new Promise((r) => setTimeout(r, 2000))]);
    } catch {
      // ignore
    }
    if (this.ws) this.ws.close();
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await Promise.race([new Promise((r) => this.child.on('exit', r)),
        new Promise((r) => setTimeout(r, 5000))]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    rmSync(this.profile, { recursive: true, force: true });
  }
}

function deserialize(v) {
  if (!v) return v;
  switch (v.type) {
    case 'undefined': return undefined;
    case 'null': return null;
    case 'string': case 'boolean': return v.value;
    case 'number': return typeof v.value === 'string' ? Number(v.value) : v.value;
    case 'array': return v.value.map(deserialize);
    case 'object': return Object.fromEntries(v.value.map(([k, x]) =>
      [typeof k === 'string' ? k : deserialize(k), deserialize(x)]));
    default: return v.value;
  }
}
