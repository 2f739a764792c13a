// The console's static files: paths stay under their root (no traversal, no dotfiles, known
// types only), vendor files come from the allowlist alone, the shell's import map is hashed into
// the CSP, and a checkout without the shell answers 503.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, StaticFiles, VENDOR, importMapHash, resolveUnder } from './static.js';

describe('console static files', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), 'ferry-console-static-'));
    mkdirSync(join(root, 'dist/web-console/web-console'), { recursive: true });
    mkdirSync(join(root, 'src/web-console/static'), { recursive: true });
    writeFileSync(join(root, 'dist/web-console/web-console/main.js'), 'export {};\n');
    writeFileSync(join(root, 'src/web-console/static/app.css'), 'body {}\n');
    writeFileSync(join(root, 'src/web-console/static/.secret.css'), 'no\n');
    writeFileSync(join(root, 'package.json'), '{}\n');
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('resolves only plain relative paths of known type under the base', () => {
    assert.equal(resolveUnder('/srv/app', 'console/main.js'), '/srv/app/console/main.js');
    assert.equal(resolveUnder('/srv/app/', 'main.js.map'), '/srv/app/main.js.map');
    for (const bad of ['../package.json', 'console/../../x.js', './main.js', '.hidden.js', 'a/.git/x.js', '/etc/x.js', 'a//b.js', '', 'main.ts', 'x\\..\\y.js', 'a\0.js', 'package.json']) {
      assert.equal(resolveUnder('/srv/app', bad), undefined, bad);
    }
  });

  it('serves app and static files with their type, an ETag and no-cache; 304 when unchanged', async () => {
    const files = new StaticFiles({ root });
    const js = await files.asset('app', 'web-console/main.js');
    assert.equal(js.status, 200);
    assert.ok(js.status === 200);
    assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(js.headers['cache-control'], 'no-cache');
    assert.equal(js.headers['x-content-type-options'], 'nosniff');
    assert.equal(js.body.toString(), 'export {};\n');
    assert.equal((await files.asset('app', 'web-console/main.js', js.headers.etag)).status, 304);
    const css = await files.asset('static', 'app.css');
    assert.ok(css.status === 200 && css.headers['content-type'] === 'text/css; charset=utf-8');
  });

  it('refuses traversal, dotfiles, unknown kinds and vendor names off the allowlist', async () => {
    const files = new StaticFiles({ root });
    for (const [kind, rest] of [['app', '../../package.json'], ['static', '.secret.css'], ['static', 'nope.css'], ['other', 'app.css'], ['vendor', 'preact/dist/preact.module.js'], ['vendor', 'toString'], ['vendor', '__proto__']]) {
      assert.equal((await files.asset(kind!, rest!)).status, 404, `${kind}/${rest}`);
    }
  });

  it('maps every vendor name to a file that exists in node_modules', async () => {
    const files = new StaticFiles();
    for (const [name, file] of Object.entries(VENDOR)) {
      assert.ok(existsSync(join(REPO_ROOT, 'node_modules', file)), file);
      const r = await files.asset('vendor', name);
      assert.equal(r.status, 200, name);
      assert.ok(r.status === 200 && r.headers['content-type']!.startsWith(name.endsWith('.css') ? 'text/css' : 'text/javascript'));
    }
  });

  it('answers 503 while the checkout has no app shell', async () => {
    const r = await new StaticFiles({ root }).index();
    assert.equal(r.status, 503);
    assert.ok(r.status === 503 && r.message.includes('index.html'));
  });

  it('serves the shell with a CSP that allows its import map by hash', async () => {
    const map = '{"imports":{"preact":"/console/assets/vendor/preact.mjs"}}';
    const shell = join(root, 'index.html');
    writeFileSync(shell, `<!doctype html><script type="importmap">${map}</script><script type="module" src="/console/assets/app/web-console/main.js"></script>`);
    const r = await new StaticFiles({ root, shell }).index();
    assert.ok(r.status === 200);
    const hash = createHash('sha256').update(map).digest('base64');
    assert.equal(importMapHash(r.body.toString()), hash);
    const csp = r.headers['content-security-policy']!;
    assert.match(csp, /^default-src 'self'; /);
    assert.ok(csp.includes(`script-src 'self' 'sha256-${hash}';`), csp);
    assert.ok(csp.includes("frame-ancestors 'none'"));
    assert.equal(r.headers['referrer-policy'], 'no-referrer');
    assert.equal(importMapHash('<script type="importmap">{}</script><script type="importmap">{}</script>'), undefined, 'two maps: neither is allowed');
  });
});
