// Service endpoints on a real controller with a fake agent (no QEMU): a TCP server stands in for
// the VM's forwarded guest port. Expose is idempotent and validated, the endpoint pipes to the
// VM's forward, the location registry lists it, and the endpoint keeps its port across a
// controller restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController } from '../../src/controller/index.js';
import { controllerClient } from '../../src/testing/controller/client.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';
import { askLine } from '../../src/testing/controller/tcp.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();

/** Sends a line through `url` (tcp://host:port) and resolves with what came back ('' if nothing). */
const ask = (url: string): Promise<string> => askLine(Number(new URL(url).port));

describe('service endpoints on the controller', () => {
  let dir: string;
  let backend: Server;
  let backendPort = 0;
  const agent = new FakeAgent('h1', pki);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-endpoints-'));
    await pki.seed(dir);
    await agent.listen();
    backend = createServer((s) => {
      s.once('data', () => s.end('ferry-heartbeat seq=7 bad=0\n'));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    backendPort = (backend.address() as { port: number }).port;
  });
  after(async () => {
    await agent.close();
    await new Promise((r) => backend.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('exposes a declared port, routes to the forward, lists the location, and keeps its port across a restart', async () => {
    const opts = { dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 5000 };
    let ctl = await runController(opts);
    const c = controllerClient(() => ctl.url, ADMIN, pki);
    let url: string;
    try {
      await c.beat(agent);
      const created = await c.api('POST', '/vms', { name: 'web', memoryMiB: 64, workload: 'http' });
      await c.finished(created.body.id);
      agent.vms.get('web')!.endpoints = [{ guestPort: 80, host: '127.0.0.1', port: backendPort }];
      await c.beat(agent);

      const first = await c.api('POST', '/vms/web/expose', { port: 80 });
      assert.equal(first.status, 201, first.text);
      url = first.body.url as string;
      assert.match(url, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      const again = await c.api('POST', '/vms/web/expose', { port: 80 });
      assert.equal(again.status, 200);
      assert.equal(again.body.url, url);
      assert.equal((await c.api('POST', '/vms/web/expose', { port: 0 })).status, 400);
      assert.equal((await c.api('POST', '/vms/web/expose', { port: 80, extra: 1 })).status, 400);
      assert.equal((await c.api('POST', '/vms/nope/expose', { port: 80 })).status, 404);

      assert.equal(await ask(url), 'ferry-heartbeat seq=7 bad=0');
      const list = (await c.api('GET', '/vms/web/endpoints')).body as { port: number; url: string; target?: string }[];
      assert.deepEqual(list.map((e) => [e.port, e.url, e.target]), [[80, url, `127.0.0.1:${backendPort}`]]);
      const loc = ((await c.api('GET', '/locations')).body as { vm: string; host: string; ports: number[]; addresses: { forwards: unknown[] } }[]).find((l) => l.vm === 'web');
      assert.equal(loc?.host, 'h1');
      assert.deepEqual(loc?.ports, [80]);
      assert.deepEqual(loc?.addresses.forwards, [{ guestPort: 80, host: '127.0.0.1', port: backendPort }]);
    } finally {
      await ctl.close();
    }
    assert.equal(await ask(url), '', 'the listener closed with the controller');

    ctl = await runController(opts);
    try {
      await c.beat(agent);
      assert.equal(await ask(url), 'ferry-heartbeat seq=7 bad=0', 'the same address after a restart');
      assert.equal((await c.api('DELETE', '/vms/web/expose/80')).status, 204);
      assert.deepEqual((await c.api('GET', '/vms/web/endpoints')).body, []);
      assert.equal((await c.api('DELETE', '/vms/web/expose/80')).status, 404);
      await waitFor('listener closed', async () => ((await ask(url)) === '' ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    } finally {
      await ctl.close();
    }
  });
});
