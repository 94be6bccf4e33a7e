// Starts real apache2 servers (the built module) through httpd.py.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const launcher = fileURLToPath(new URL('./httpd.py', import.meta.url));
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

export const ALGORITHM_NAMES = ['iso-kam3-dl-2048-sha256', 'iso-kam3-dl-4096-sha512',
  'iso-kam3-ec-p256-sha256', 'iso-kam3-ec-p521-sha512'];

export function location(path, realm, { algorithms = [], scope = '127.0.0.1', extra = '' } = {}) {
  return [`<Location "${path}">`, '    AuthType Mutual', `    AuthName "${realm}"`,
    `    AuthMutualScope "${scope}"`, '    AuthMutualUserFile "{root}/conf/users"',
    ...(algorithms.length ? [`    AuthMutualAlgorithms ${algorithms.join(' ')}`] : []),
    '    Require valid-user', ...extra.split('\n').filter(Boolean).map((l) => '    ' + l),
    '</Location>', ''].join('\n');
}

export async function startServers(spec) {
  const dir = mkdtempSync(join(tmpdir(), 'mutual-js-'));
  const specPath = join(dir, 'spec.json');
  writeFileSync(specPath, JSON.stringify(spec));
  const child = spawn('python3', [launcher, specPath], { stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, B: process.env.B || join(REPO, 'build') } });
  const lines = createInterface({ input: child.stdout });
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) throw new Error('httpd.py ended without starting the servers');
  const { servers } = JSON.parse(first.value);
  for (const s of servers) if (s.ca) s.caPem = readFileSync(s.ca, 'utf8');
  const byName = Object.fromEntries(servers.map((s) => [s.name, s]));
  return {
    servers: byName,
    async stop() {
      child.stdin.end();
      const last = await iterator.next();
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve)));
      rmSync(dir, { recursive: true, force: true });
      return last.done ? { crashes: ['httpd.py gave no report'], problems: [] } : JSON.parse(last.value);
    },
  };
}
