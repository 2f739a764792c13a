// High availability through the controller against fake agents (real HTTP, no QEMU; the agent's
// self-fencing is tested with real VMs in agent-fencing.test.ts): heartbeat replies lease the
// host's protected VMs with HA on and nothing else; when a host goes silent, its protected VM
// is failed over to the DR host by itself — not when the host is marked down, only once the
// lease has run out with the margin — and the report says high availability started it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runController, type RunningController } from '../../src/controller/index.js';
import { controllerClient, openEvents, type SseEvent } from '../../src/testing/controller/client.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { FakeAgent } from '../../src/testing/controller/fake-agent.js';
import { TestPki } from '../../src/testing/pki.js';
import type { HeartbeatReply } from '../../src/contracts/controller-api.js';

const ADMIN = 'admin-token-for-tests';
const pki = new TestPki();
const LEASE_MS = 1000;

describe('controller high availability', () => {
  const agents = [new FakeAgent('h1', pki, 'main'), new FakeAgent('h2', pki, 'main'), new FakeAgent('h3', pki, 'dr')] as const;
  const [h1, , h3] = agents;
  const silent = new Set<FakeAgent>();
  /** The last reply each agent got to its heartbeat. */
  const replies = new Map<string, HeartbeatReply>();
  let dir: string;
  let ctl: RunningController;
  let beating: NodeJS.Timeout | undefined;
  const { api, beat, finished } = controllerClient(() => ctl.url, ADMIN, pki, 20_000);
  const vmRecord = async (vm: string) => (await api('GET', `/vms/${vm}`)).body;
  const beatAll = () =>
    Promise.all(
      agents.filter((a) => !silent.has(a)).map(async (a) => {
        const r = await beat(a);
        if (r.status === 200) replies.set(a.name, r.body as HeartbeatReply);
      }),
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-ctl-ha-'));
    await pki.seed(dir);
    for (const a of agents) await a.listen();
    // Down after 1 s of silence; failover no sooner than 1 s + 3 s after the last reply.
    ctl = await runController({ dataDir: dir, adminToken: ADMIN, hostDownAfterMs: 1000, drTickMs: 100, drHeartbeatWaitMs: 3000, haLeaseMs: LEASE_MS, haMarginMs: 3000 });
    await beatAll();
    beating = setInterval(() => void beatAll().catch(() => undefined), 200);
    for (const [name, host] of [['web', 'h1'], ['db', 'h1'], ['solo', 'h1'], ['app', 'h2']]) {
      const r = await api('POST', '/vms', { name, memoryMiB: 128, host });
      assert.equal((await finished(r.body.id)).state, 'succeeded');
    }
  });
  after(async () => {
    clearInterval(beating);
    await ctl.close();
    for (const a of agents) await a.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('heartbeat replies lease each host\'s protected VMs with HA on, and nothing else', async () => {
    for (const [vm, ha] of [['web', undefined], ['solo', false], ['app', undefined]] as const) {
      const r = await api('POST', '/dr/protections', { vm, toSite: 'dr', rpoMs: 3000, ...(ha === false ? { ha } : {}) });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.body.ha, ha ?? true);
    }
    await waitFor('a checkpoint of web and app', async () => {
      const list = (await api('GET', '/dr/protections')).body as { vm: string; checkpoints: number }[];
      return list.filter((p) => p.vm !== 'solo').every((p) => p.checkpoints >= 1) ? true : undefined;
    }, { timeoutMs: 20_000, everyMs: 25 });
    await waitFor('replies with the leases', async () => (replies.get('h2')?.fence ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    assert.deepEqual(replies.get('h1')?.fence, { leaseMs: LEASE_MS, vms: ['web'] }, 'not db (unprotected) nor solo (HA off)');
    assert.deepEqual(replies.get('h2')?.fence, { leaseMs: LEASE_MS, vms: ['app'] });
    assert.equal(replies.get('h3')?.fence, undefined, 'the DR host runs nothing protected');
  });

  it('a silent host\'s protected VM fails over to the DR host by itself, only after the lease and margin', async () => {
    const events = await openEvents(ctl.url, ADMIN);
    try {
      silent.add(h1);
      const down = await events.next((e) => e.event === 'host' && e.data.host.name === 'h1' && e.data.host.state === 'down', 10_000);
      // The host is down now, but its agent may still hold the lease: nothing may run web elsewhere.
      const tasks = (await api('GET', '/tasks?limit=50')).body as { kind: string; target: string }[];
      assert.ok(!tasks.some((t) => t.kind === 'dr.failover'), 'no failover when the host is marked down');
      assert.equal((await vmRecord('web')).host, 'h1');
      assert.ok(!h3.vms.has('web'));

      const started = await events.next((e) => e.event === 'dr.ha' && e.data.vm === 'web' && e.data.action === 'failover', 20_000);
      const waiting = events.events.find((e) => e.event === 'dr.ha' && e.data.vm === 'web' && e.data.action === 'waiting');
      const at = (e: SseEvent | undefined) => events.events.indexOf(e!);
      assert.ok(at(down) < at(waiting) && at(waiting) < at(started), 'host down, then waiting for the lease, then the failover');
      assert.match(started.data.reason, /host h1 of VM web is down and its lease ran out/);

      const t = await finished(started.data.taskId);
      assert.equal(t.state, 'succeeded', JSON.stringify(t));
      assert.equal(t.kind, 'dr.failover');
      const rep = t.result;
      assert.deepEqual([rep.kind, rep.outcome, rep.from, rep.to], ['unplanned', 'succeeded', 'h1', 'h3']);
      assert.equal(rep.ha.reason, started.data.reason);
      assert.deepEqual((await api('GET', '/dr/reports?vm=web')).body[0], rep, 'the report is kept, saying HA started it');
      const vm = await vmRecord('web');
      assert.deepEqual([vm.host, vm.site, vm.state], ['h3', 'dr', 'running']);
      assert.equal((await api('GET', '/dr/protections/web')).body.state, 'failed-over');

      // solo (HA off) and db (unprotected) stay where they were; app's host never went silent.
      for (const [name, host] of [['solo', 'h1'], ['db', 'h1'], ['app', 'h2']] as const) assert.equal((await vmRecord(name)).host, host, name);
      assert.ok(!events.events.some((e) => e.event === 'dr.ha' && e.data.vm !== 'web'), 'nothing to say about the others');
      assert.equal(h3.dr.restores.length, 1);
      await waitFor('a reply to h3 after the failover', async () => ((await beat(h3)).body.fence === undefined ? true : undefined), { timeoutMs: 10_000, everyMs: 25 });
    } finally {
      events.close();
    }
  });
});
