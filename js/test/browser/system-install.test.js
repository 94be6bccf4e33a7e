// The Debian system-wide installation (firefox/install-debian.sh): only with
// MUTUAL_TEST_SYSTEM_INSTALL=1 as root, because it writes to /usr/share and
// /etc/firefox-esr (and removes everything again). A fresh profile must list
// the extension as active in the app-system-share location.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Firefox } from './bidi.js';

const script = fileURLToPath(new URL('../../firefox/install-debian.sh', import.meta.url));
const enabled = process.env.MUTUAL_TEST_SYSTEM_INSTALL === '1' && process.getuid() === 0;

test('install-debian.sh: every new profile has the extension active', {
  skip: !enabled && 'set MUTUAL_TEST_SYSTEM_INSTALL=1 and run as root',
}, async () => {
  execFileSync('sh', [script], { stdio: 'ignore' });
  let ff;
  try {
    ff = await Firefox.launch();
    await ff.newSession({});
    const file = `${ff.profile}/extensions.json`;
    const addon = await (async () => {
      for (let i = 0; i < 50; ++i) {
        if (existsSync(file)) {
          const a = JSON.parse(readFileSync(file, 'utf8')).addons
            .find((x) => x.id === 'mutual-auth@mod-auth-mutual.invalid');
          if (a) return a;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return null;
    })();
    assert.ok(addon, 'the extension is listed in extensions.json');
    assert.equal(addon.location, 'app-system-share');
    assert.equal(addon.active, true);
  } finally {
    if (ff) await ff.close();
    execFileSync('sh', [script, '--remove'], { stdio: 'ignore' });
  }
});
