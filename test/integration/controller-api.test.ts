// The controller's REST API without agents doing real work: authentication on every route,
// validation errors naming the field, host registration by heartbeat, a silent host going
// down and coming back, the SSE stream, and the typed refusals (404 / 409 / 503 / 507).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { call, openEvents, beatAs } from '../../src/testing/controller/client.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';
import { MAX_STREAMS_PER_CLIENT } from '../../src/controller/sse.js';
import { get as httpsGet } from 'node:https';

const ADMIN = 'admin-token-for-tests';

/** The status of GET /api/v1/events sent from another loopback address (a different client); the stream is closed at once. */
async function streamStatusFrom(base: string, localAddress: string): Promise<number> {
  const ca = (await pki.ca()).certPem;
  return new Promise((resolve, reject) => {
    const req = httpsGet(new URL('/api/v1/events', base), { localAddress, ca, checkServerIdentity: () => undefined, headers: { authorization: `Bearer ${ADMIN}` } }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
  });
}

const pki = new TestPki();

const ROUTES: [string, string][] = [
  ['GET', '/api/v1/status'],
  ['GET', '/api/v1/hosts'],
  ['GET', '/api/v1/vms'],
  ['POST', '/api/v1/vms'],
  ['GET', '/api/v1/vms/a'],
  ['DELETE', '/api/v1/vms/a'],
  ['POST', '/api/v1/vms/a/start'],
  ['POST', '/api/v1/vms/a/stop'],
  ['POST', '/api/v1/vms/a/clone'],
  ['POST', '/api/v1/vms/a/resize'],
  ['GET', '/api/v1/vms/a/console'],
  ['GET', '/api/v1/tasks'],
  ['GET', '/api/v1/tasks/x'],
  ['POST', '/api/v1/tasks/x/abort'],
  ['GET', '/api/v1/events'],
  ['GET', '/api/v1/openapi.json'],
  ['POST', '/internal/v1/heartbeat'],
  ['GET', '/no/such/route'],
];

describe('controller API', () => {
  let dir: string;
  let ctl: RunningController;
  const agent = new FakeAgent('h1', pki);
  const beat = (a: FakeAgent = agent) => beatAs(ctl.url, ADMIN, pki, a);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-api-'));
    await pki.seed(dir);
    await agent.listen();
    ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 300 });
  });
  after(async () => {
    await ctl.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes controller.json with its pid and url', () => {
    const info = JSON.parse(readFileSync(join(dir, 'controller.json'), 'utf8')) as { pid: number; url: string };
    assert.equal(info.pid, process.pid);
    assert.equal(info.url, ctl.url);
  });

  it('answers nothing without the right credential', async () => {
    for (const [method, path] of ROUTES) {
      for (const token of [undefined, 'wrong']) {
        const r = await call(ctl.url, method, path, { ...(token ? { token } : {}), ...(method === 'POST' ? { body: {} } : {}) });
        assert.equal(r.status, 401, `${method} ${path} with ${token ?? 'no'} token`);
        assert.equal(r.body?.error?.code, 'UNAUTHORIZED');
      }
    }
  });

  it('does not take the cluster secret on /api/v1, nor the admin token on /internal/v1', async () => {
    assert.equal((await call(ctl.url, 'GET', '/api/v1/status', { token: 'not-the-admin-token' })).status, 401);
    assert.equal((await call(ctl.url, 'GET', '/api/v1/openapi.json', { token: 'not-the-admin-token' })).status, 401);
    assert.equal((await call(ctl.url, 'POST', '/internal/v1/heartbeat', { token: ADMIN, body: agent.heartbeat() })).status, 401);
  });

  it('names the bad field when a request does not validate', async () => {
    let r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'web1', memoryMiB: 'lots' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, 'INVALID_REQUEST');
    assert.equal(r.body.error.field, 'body.memoryMiB');
    r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'web1', memoryMiB: 128, colour: 'blue' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'body.colour');
    assert.match(r.body.error.message, /colour/);
    r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { memoryMiB: 128 } });
    assert.equal(r.body.error.field, 'body.name');
    r = await call(ctl.url, 'POST', '/api/v1/vms/a/stop', { token: ADMIN, body: { force: true, hard: 1 } });
    assert.equal(r.body.error.field, 'body.hard');
    r = await call(ctl.url, 'GET', '/api/v1/tasks?limit=0', { token: ADMIN });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.field, 'querystring.limit');
  });

  it('serves its OpenAPI document with the bearer scheme', async () => {
    const r = await call(ctl.url, 'GET', '/api/v1/openapi.json', { token: ADMIN });
    assert.equal(r.status, 200);
    assert.match(r.body.openapi, /^3\./);
    assert.deepEqual(r.body.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer' });
    assert.ok(r.body.paths['/api/v1/vms/{name}/clone']);
  });

  it('registers a host on its first heartbeat and streams a host event', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    try {
      assert.equal(events.status, 200);
      const r = await beat();
      assert.equal(r.status, 200);
      assert.equal(r.body.intervalMs, 1000);
      const ev = await events.next((e) => e.event === 'host' && e.data.host.name === 'h1');
      assert.equal(ev.data.type, 'host');
      assert.equal(ev.data.host.state, 'up');
      const hosts = (await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body;
      assert.equal(hosts.length, 1);
      assert.equal(hosts[0].name, 'h1');
      assert.equal(hosts[0].site, 'main');
      assert.equal(hosts[0].memoryMiB, 8192);
    } finally {
      events.close();
    }
  });

  it('marks a silent host down, and up again on its next heartbeat', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    try {
      await beat();
      const down = await events.next((e) => e.event === 'host' && e.data.host.state === 'down');
      assert.equal(down.data.host.name, 'h1');
      const status = (await call(ctl.url, 'GET', '/api/v1/status', { token: ADMIN })).body;
      assert.deepEqual(status.hosts, { up: 0, down: 1 });
      await beat();
      const up = await events.next((e) => e.event === 'host' && e.data.host.state === 'up' && Number(e.id) > Number(down.id));
      assert.equal(up.data.host.name, 'h1');
      assert.ok(Number(up.id) > Number(down.id), 'event ids increase');
    } finally {
      events.close();
    }
  });

  it('caps event streams per client: the next one is a 429, another client still gets its stream', async () => {
    const streams = [];
    try {
      for (let i = 0; i < MAX_STREAMS_PER_CLIENT; i++) streams.push(await openEvents(ctl.url, ADMIN));
      assert.ok(streams.every((s) => s.status === 200));
      const refused = await call(ctl.url, 'GET', '/api/v1/events', { token: ADMIN });
      assert.equal(refused.status, 429);
      assert.equal(refused.body.error.code, 'RATE_LIMITED');
      assert.equal(await streamStatusFrom(ctl.url, '127.0.0.2'), 200, 'another address is not refused');
      streams.pop()!.close();
      const again = await waitFor('a stream once one closed', async () => {
        const s = await openEvents(ctl.url, ADMIN);
        if (s.status === 200) return s;
        s.close();
        return undefined;
      });
      streams.push(again);
    } finally {
      for (const s of streams) s.close();
    }
  });

  it('refuses with typed errors before creating a task', async () => {
    // Keep h1 up for this test: the sweep marks it down after 300 ms of silence.
    const keepAlive = setInterval(() => void beat(), 100);
    try {
      await beat();
      let r = await call(ctl.url, 'POST', '/api/v1/vms/nope/start', { token: ADMIN, body: {} });
      assert.equal(r.status, 404);
      assert.equal(r.body.error.code, 'NOT_FOUND');
      assert.equal((await call(ctl.url, 'GET', '/api/v1/tasks/nope', { token: ADMIN })).status, 404);

      r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'huge', memoryMiB: 100_000 } });
      assert.equal(r.status, 507);
      assert.equal(r.body.error.code, 'NO_CAPACITY');
      assert.match(r.body.error.message, /h1: needs 100000 MiB/);

      r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'x', memoryMiB: 64, host: 'h9' } });
      assert.equal(r.status, 404);

      r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'web1', memoryMiB: 128, start: false } });
      assert.equal(r.status, 202);
      assert.equal(r.body.kind, 'vm.create');
      const taskId = r.body.id as string;
      const done = await waitFor('create task', async () => {
        const t = (await call(ctl.url, 'GET', `/api/v1/tasks/${taskId}`, { token: ADMIN })).body;
        return t.state === 'succeeded' || t.state === 'failed' ? t : undefined;
      }, { timeoutMs: 10_000, everyMs: 25 });
      assert.equal(done.state, 'succeeded');

      r = await call(ctl.url, 'POST', '/api/v1/vms', { token: ADMIN, body: { name: 'web1', memoryMiB: 128 } });
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'CONFLICT');

      r = await call(ctl.url, 'POST', '/api/v1/vms/web1/pause', { token: ADMIN, body: {} });
      assert.equal(r.status, 409);
      assert.equal(r.body.error.code, 'INVALID_STATE');
      assert.match(r.body.error.message, /cannot pause VM web1: it is stopped/);
      r = await call(ctl.url, 'POST', '/api/v1/vms/web1/restore', { token: ADMIN, body: {} });
      assert.equal(r.body.error.code, 'INVALID_STATE');

      const vm = (await call(ctl.url, 'GET', '/api/v1/vms/web1', { token: ADMIN })).body;
      assert.equal(vm.host, 'h1');
      assert.equal(vm.site, 'main');
      assert.equal(vm.state, 'stopped');
      assert.equal(vm.spec.memoryMiB, 128);
    } finally {
      clearInterval(keepAlive);
    }
    // Once h1 is down, acting on its VM is refused with HOST_DOWN.
    await waitFor('h1 down', async () => ((await call(ctl.url, 'GET', '/api/v1/hosts', { token: ADMIN })).body[0].state === 'down' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    const r = await call(ctl.url, 'POST', '/api/v1/vms/web1/start', { token: ADMIN, body: {} });
    assert.equal(r.status, 503);
    assert.equal(r.body.error.code, 'HOST_DOWN');
  });
});
