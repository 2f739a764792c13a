// The controller's side of the web console against a real controller: the shell and its assets
// are public, with a CSP that allows the shell's import map by hash; login with the admin token
// gives a session cookie (wrong tokens 401, then 429); the cookie opens /api/v1 and the event
// stream, a change also needs the x-ferry-console header; logout closes the session.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runController, type RunningController } from '../../src/controller/index.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestPki } from '../../src/testing/pki.js';

const ADMIN = 'admin-token-for-console-tests';
const pki = new TestPki();
const SHELL = fileURLToPath(new URL('../../../src/web-console/static/index.html', import.meta.url));
const FIXTURE_SHELL = '<!doctype html><script type="importmap">{"imports":{"preact":"/console/assets/vendor/preact.mjs"}}</script>';

describe('controller web console', () => {
  let dir: string;
  let ctl: RunningController;
  let cookie = '';
  const get = (path: string, headers: Record<string, string> = {}) => fetch(new URL(path, ctl.url), { headers });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(new URL(path, ctl.url), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const login = (token: string) => post('/console/login', { token });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-console-'));
    await pki.seed(join(dir, 'ctl'));
    // The UI's own shell when the checkout has it, else a fixture with an import map.
    let consoleShell: string | undefined;
    if (!existsSync(SHELL)) {
      consoleShell = join(dir, 'index.html');
      writeFileSync(consoleShell, FIXTURE_SHELL);
    }
    ctl = await runController({ dataDir: join(dir, 'ctl'), adminToken: ADMIN, ...(consoleShell ? { consoleShell } : {}) });
  });
  after(async () => {
    await ctl.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the shell without a credential, its import map allowed by hash in the CSP', async () => {
    const res = await get('/');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const html = await res.text();
    const map = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1];
    assert.ok(map !== undefined, 'the shell has an import map');
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.ok(csp.includes(`script-src 'self' 'sha256-${createHash('sha256').update(map).digest('base64')}'`), csp);
    assert.ok(csp.includes("frame-ancestors 'none'"));
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  it('serves the vendor libraries from the allowlist, and nothing outside the asset roots', async () => {
    const preact = await get('/console/assets/vendor/preact.mjs');
    assert.equal(preact.status, 200);
    assert.match(preact.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(await preact.text(), /export/);
    const css = await get('/console/assets/vendor/uplot.css');
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.equal((await get('/console/assets/vendor/preact.module.js')).status, 404);
    // Raw requests: fetch and URL would normalise the dots away before sending.
    for (const path of ['/console/assets/app/../../../package.json', '/console/assets/static/%2e%2e/%2e%2e/%2e%2e/package.json', '/console/assets/static/..%2f..%2f..%2fpackage.json']) {
      const ca = (await pki.ca()).certPem;
      const status = await new Promise<number>((resolve, reject) => {
        const { hostname, port } = new URL(ctl.url);
        request({ hostname, port, path, ca, checkServerIdentity: () => undefined }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        }).on('error', reject).end();
      });
      assert.ok(status === 404 || status === 400, `${path}: ${status}`);
    }
  });

  it('refuses a wrong token with 401, and many with 429', async () => {
    const first = await login('wrong');
    assert.equal(first.status, 401);
    assert.equal(first.headers.get('set-cookie'), null);
    let last = first;
    for (let i = 0; i < 10 && last.status !== 429; i++) last = await login('wrong');
    assert.equal(last.status, 429);
    assert.ok(Number(last.headers.get('retry-after')) > 0);
    assert.match(((await last.json()) as { error: { message: string } }).error.message, /too many failed logins/);
  });

  it('logs in with the admin token and sets the session cookie', async () => {
    // The wrong tokens above emptied this address's bucket: wait until a try is forgiven.
    const res = await waitFor('login', async () => {
      const r = await login(ADMIN);
      return r.status === 429 ? undefined : r;
    }, { timeoutMs: 30_000, everyMs: 25 });
    assert.equal(res.status, 204);
    const set = res.headers.get('set-cookie') ?? '';
    assert.match(set, /^ferry_session=[A-Za-z0-9_-]+; Secure; HttpOnly; SameSite=Strict; Path=\/; Max-Age=\d+$/);
    cookie = set.split(';')[0]!;
    const session = await get('/console/session', { cookie });
    assert.equal(session.status, 200);
    assert.ok(Date.parse(((await session.json()) as { expiresAt: string }).expiresAt) > Date.now());
    assert.equal((await get('/console/session')).status, 401);
  });

  it('opens /api/v1 with the cookie, and a change needs the x-ferry-console header', async () => {
    assert.equal((await get('/api/v1/vms', { cookie })).status, 200);
    assert.equal((await get('/api/v1/vms')).status, 401);
    assert.equal((await get('/api/v1/vms', { cookie: 'ferry_session=made-up' })).status, 401);
    const refused = await post('/api/v1/tasks/nope/abort', {}, { cookie });
    assert.equal(refused.status, 403);
    assert.match(((await refused.json()) as { error: { message: string } }).error.message, /x-ferry-console: 1/);
    const passed = await post('/api/v1/tasks/nope/abort', {}, { cookie, 'x-ferry-console': '1' });
    assert.equal(passed.status, 404, 'past authentication: the task does not exist');
    assert.equal((await get('/internal/v1/heartbeat', { cookie })).status, 401, 'the cookie does not open the agents\' API');
  });

  it('streams events to the cookie, among them the periodic load', async () => {
    const ac = new AbortController();
    const res = await fetch(new URL('/api/v1/events', ctl.url), { headers: { cookie }, signal: ac.signal });
    assert.equal(res.status, 200);
    let text = '';
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        if (/event: load\ndata: /.test(text)) break;
      }
    } finally {
      ac.abort();
    }
    const data = /event: load\ndata: (.*)\n/.exec(text)?.[1];
    assert.ok(data, text);
    const load = JSON.parse(data) as { type: string; at: number; hosts: object; vms: object };
    assert.equal(load.type, 'load');
    assert.deepEqual([typeof load.hosts, typeof load.vms], ['object', 'object']);
  });

  it('logs out: the cookie no longer works', async () => {
    const res = await post('/console/logout', {}, { cookie });
    assert.equal(res.status, 204);
    assert.match(res.headers.get('set-cookie') ?? '', /^ferry_session=; .*Max-Age=0$/);
    assert.equal((await get('/api/v1/vms', { cookie })).status, 401);
    assert.equal((await get('/console/session', { cookie })).status, 401);
  });
});
