// The package as others install it: `npm pack`, installed into an empty
// project, imported by its name (mutual-auth-client, mutual-auth-client/core).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const js = fileURLToPath(new URL('../', import.meta.url));

test('npm pack, install and import by the package name', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mutual-pack-'));
  try {
    const quiet = { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' };
    const tarball = execFileSync('npm', ['pack', '--pack-destination', dir, js], quiet)
      .trim().split('\n').pop();
    writeFileSync(join(dir, 'package.json'), '{"name":"consumer","version":"1.0.0","type":"module"}');
    // the dependencies come from this checkout's node_modules (no registry needed)
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund',
      join(js, 'node_modules', '@noble', 'curves'), join(js, 'node_modules', '@noble', 'hashes'),
      join(dir, tarball)], quiet);
    writeFileSync(join(dir, 'check.mjs'), `
      import { MutualClient, MutualAuthError, computeVerifier } from 'mutual-auth-client';
      import { Exchange, ALGORITHMS } from 'mutual-auth-client/core';
      const j = await computeVerifier({ algorithm: 'iso-kam3-ec-p256-sha256',
        authScope: 'http://example.com', realm: 'mutualref test realm', user: 'alice',
        password: 'password123' });
      console.log(JSON.stringify({ j, client: typeof MutualClient, error: typeof MutualAuthError,
        exchange: typeof Exchange, algorithms: ALGORITHMS.length }));`);
    const out = JSON.parse(execFileSync(process.execPath, ['check.mjs'], quiet));
    assert.deepEqual(out, { j: '010b99ca2c5ca3eba2f5ddf29c839e2253fcdc5416cbaaacdfaa68789c20c3dd00',
      client: 'function', error: 'function', exchange: 'function', algorithms: 4 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
