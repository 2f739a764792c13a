// Monitoring through the controller's API, fed by a fake agent whose heartbeats carry growing
// counters: the series show the rates, hosts and VMs carry their load, /metrics speaks
// Prometheus and OpenMetrics behind the admin token, and the coarse tiers survive a restart.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { call, controllerClient } from '../../src/testing/controller/client.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();
const MIB = 1024 * 1024;

describe('controller metrics', () => {
  let dir: string;
  let ctl: RunningController;
  const agent = new FakeAgent('h1', pki);
  const c = controllerClient(() => ctl.url, ADMIN, pki);
  const start = async (): Promise<void> => {
    ctl = await runController({ dataDir: dir, adminToken: ADMIN });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-metrics-'));
    await pki.seed(dir);
    await agent.listen();
    await start();
    await c.beat(agent);
    const task = (await c.api('POST', '/vms', { name: 'web', memoryMiB: 64 })).body;
    assert.equal((await c.finished(task.id)).state, 'succeeded');
    // Sixteen samples a second apart, in the recent past: half a core, 1000 B/s received.
    const base = Date.now() - 20_000;
    for (let i = 0; i < 16; i++) {
      const st = agent.vms.get('web')!;
      const metrics = { cpuSeconds: i * 0.5, rssBytes: 64 * MIB, diskReadBytes: 0, diskWriteBytes: i * 2048, diskReadOps: 0, diskWriteOps: 0, netRxBytes: i * 1000, netTxBytes: 0, sampledAtMs: base + i * 1000 };
      agent.vms.set('web', { ...st, metrics });
      assert.equal((await c.beat(agent)).status, 200);
    }
  });
  after(async () => {
    await ctl.close();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a VM's series holds the rates between its samples", async () => {
    const r = await c.api('GET', '/metrics/vms/web?window=10m');
    assert.equal(r.status, 200);
    assert.equal(r.body.stepMs, 0);
    assert.equal(r.body.points.length, 15);
    for (const p of r.body.points) assert.deepEqual([p.cpuCores, p.rssMiB, p.netRxBps, p.diskWriteBps], [0.5, 64, 1000, 2048]);
    const coarse = await c.api('GET', '/metrics/vms/web?window=10m&step=1m');
    assert.equal(coarse.body.stepMs, 60_000);
    assert.equal(coarse.body.points.reduce((n: number, p: { samples: number }) => n + p.samples, 0), 15);
  });

  it("a host's series, and load on the host and VM lists", async () => {
    const h = await c.api('GET', '/metrics/hosts/h1?window=90s');
    assert.equal(h.status, 200);
    const last = h.body.points.at(-1);
    assert.equal(last.mem, 64 / 8192);
    assert.equal(last.cpu, 0.25, 'half a core of 2 cpus');
    const hosts = (await c.api('GET', '/hosts')).body;
    assert.equal(hosts[0].load.cpu, 0.25);
    assert.equal(hosts[0].load.hot, false);
    assert.ok(hosts[0].load.volume > 1);
    const vms = (await c.api('GET', '/vms')).body;
    assert.deepEqual(vms[0].load, { cpuCores: 0.5, rssMiB: 64, diskBps: 2048, netBps: 1000 });
    assert.deepEqual((await c.api('GET', '/vms/web')).body.load, vms[0].load);
  });

  it('refuses bad queries naming the field, and unknown names', async () => {
    const bad = await c.api('GET', '/metrics/vms/web?window=soon');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.field, 'querystring.window');
    const long = await c.api('GET', '/metrics/hosts/h1?window=15d');
    assert.equal(long.status, 400);
    assert.match(long.body.error.message, /^querystring\.window/);
    assert.equal((await c.api('GET', '/metrics/hosts/h1?window=1h&step=1s')).body.error.field, 'querystring.step');
    assert.equal((await c.api('GET', '/metrics/vms/nope')).status, 404);
  });

  it('/metrics needs the admin token and speaks Prometheus and OpenMetrics', async () => {
    assert.equal((await call(ctl.url, 'GET', '/metrics')).status, 401);
    assert.equal((await call(ctl.url, 'GET', '/metrics', { token: 'not-the-admin-token' })).status, 401);
    const r = await call(ctl.url, 'GET', '/metrics', { token: ADMIN });
    assert.equal(r.status, 200);
    assert.match(r.contentType, /^text\/plain/);
    assert.match(r.text, /^ferry_host_volume\{host="h1",site="main"\} /m);
    assert.match(r.text, /^ferry_vm_cpu_cores\{vm="web",host="h1"\} 0\.5$/m);
    assert.match(r.text, /^ferry_vm_running\{vm="web",host="h1",site="main"\} 1$/m);
    assert.match(r.text, /^ferry_host_up\{host="h1",site="main"\} 1$/m);
    assert.match(r.text, /^ferry_controller_process_cpu_seconds_total /m);
    const res = await fetch(new URL('/metrics', ctl.url), { headers: { authorization: `Bearer ${ADMIN}`, accept: 'application/openmetrics-text; version=1.0.0' } });
    assert.match(res.headers.get('content-type') ?? '', /^application\/openmetrics-text/);
    assert.match(await res.text(), /# EOF\n$/);
  });

  it('the coarse tiers survive a controller restart', async () => {
    await ctl.close();
    await start();
    const r = await c.api('GET', '/metrics/vms/web?window=1h');
    assert.equal(r.status, 200);
    assert.equal(r.body.stepMs, 10_000);
    assert.equal(r.body.points.reduce((n: number, p: { samples: number }) => n + p.samples, 0), 15);
    for (const p of r.body.points) assert.equal(p.cpuCores, 0.5);
    assert.ok((await c.api('GET', '/metrics/hosts/h1?window=1d')).body.points.length > 0);
  });
});
