// Builds the Firefox extension from js/firefox/ and the library (js/src/,
// @noble/curves and @noble/hashes from node_modules):
//   node firefox/build.mjs [--out DIR] [--test-hook]
// writes the unpacked extension to DIR (default dist/firefox) and, without
// --test-hook, dist/mutual-auth-firefox-VERSION.xpi (a ZIP, unsigned).
// --test-hook adds test-hook.js (tests only: lets WebDriver BiDi open the
// popup page as a tab, which it cannot navigate to directly).
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const args = process.argv.slice(2);
const testHook = args.includes('--test-hook');
const outIndex = args.indexOf('--out');
const out = outIndex >= 0 ? args[outIndex + 1] : join(root, 'dist', 'firefox');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
for (const f of ['manifest.json', 'background.html', 'background.js', 'popup.html', 'popup.js',
  'popup.css', 'blocked.html', 'blocked.js', 'icons'])
  cpSync(join(here, f), join(out, f), { recursive: true });

// lib/: the library's modules; vendor/: the @noble packages (MIT), with bare
// specifiers rewritten to relative paths (extension pages have no import map).
const packages = { '@noble/curves': 'vendor/noble-curves', '@noble/hashes': 'vendor/noble-hashes' };
function copyJs(from, to) {
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    if (statSync(src).isDirectory()) {
      if (name === 'src' || name === 'node_modules' || name === 'esm') continue;
      copyJs(src, dst);
    } else if (name.endsWith('.js') || name === 'LICENSE') {
      mkdirSync(to, { recursive: true });
      let text = readFileSync(src, 'utf8');
      if (name.endsWith('.js')) {
        text = text.replace(/(['"])(@noble\/(?:curves|hashes))\/([^'"]+)\1/g, (m, q, pkg, path) => {
          let rel = relative(dirname(dst), join(out, packages[pkg], path));
          if (!rel.startsWith('.')) rel = './' + rel;
          return q + rel + q;
        });
      }
      writeFileSync(dst, text);
    }
  }
}
copyJs(join(root, 'src'), join(out, 'lib'));
for (const [pkg, dir] of Object.entries(packages))
  copyJs(join(root, 'node_modules', pkg), join(out, dir));

if (testHook) {
  cpSync(join(here, 'test-hook.js'), join(out, 'test-hook.js'));
  const html = join(out, 'background.html');
  writeFileSync(html, readFileSync(html, 'utf8').replace('</head>',
    '<script type="module" src="test-hook.js"></script>\n</head>'));
  const manifestPath = join(out, 'manifest.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  manifest.web_accessible_resources.push('popup.html', 'popup.js');
  writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
} else {
  const { version } = JSON.parse(readFileSync(join(here, 'manifest.json'), 'utf8'));
  const xpi = join(root, 'dist', `mutual-auth-firefox-${version}.xpi`);
  rmSync(xpi, { force: true });
  // An .xpi is a ZIP with manifest.json at the top; python3's zipfile makes it
  // reproducibly (sorted names, fixed timestamps).
  execFileSync('python3', ['-c', `
import os, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
names = sorted(os.path.relpath(os.path.join(d, f), src)
               for d, _, fs in os.walk(src) for f in fs)
with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
    for n in names:
        info = zipfile.ZipInfo(n, (2024, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        with open(os.path.join(src, n), "rb") as f:
            z.writestr(info, f.read())
`, out, xpi]);
  console.log(xpi);
}
console.log(out);
