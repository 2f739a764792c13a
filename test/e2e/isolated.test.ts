// `ferry up --isolated` end to end (root): the controller and each agent in a network namespace
// of its own on a management bridge, reached from here over that bridge only. Every control-plane
// URL is https:// at a bridge address (no loopback); a VM running the http workload is exposed
// through a service endpoint at the controller's address and live-migrated between the two
// hosts: its heartbeat keeps counting with bad=0 and a client polling the endpoint sees only
// heartbeats in order. `ferry down` leaves no namespace behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { ClusterStatus, Host, Vm } from '../../src/contracts/controller-api.js';
import type { ServiceEndpoint } from '../../src/contracts/endpoints.js';
import type { MigrationRecord } from '../../src/contracts/migration.js';
import { EndpointPoller } from '../../src/testing/endpoint-poller.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestCluster } from './harness.js';

const VM = 'web';
const LOOPBACK = /^(https|tcp|ferry-wire):\/\/(127\.|\[::1\]|localhost)/;
const namespaces = (id: string): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`ferry-${id}-`));

describe('ferry up --isolated: a migration and an endpoint across namespaces', { timeout: 10 * 60_000, skip: process.getuid?.() !== 0 ? 'needs root (network namespaces)' : false }, () => {
  const c = new TestCluster();
  let id = '';

  before(async () => {
    await c.ok(['up', '--isolated', '--hosts', '2', '--accel', 'tcg']);
    id = c.clusterFile().isolated!.id;
  });
  after(async () => {
    await c.cleanup();
    if (id) assert.deepEqual(namespaces(id), [], 'ferry down removed every namespace');
  });

  it('every control-plane URL is https:// at its own bridge address', async () => {
    const net = c.clusterFile().isolated!;
    const status = await c.json<ClusterStatus & { url?: string }>(['status']);
    const ctlUrl = status.controller?.url ?? c.clusterFile().url;
    assert.equal(ctlUrl, `https://${net.members.find((m) => m.name === 'controller')!.address}:7440`);
    const hosts = await c.json<Host[]>(['host', 'list']);
    assert.deepEqual(hosts.map((h) => h.name).sort(), ['host1', 'host2']);
    for (const h of hosts) {
      const member = net.members.find((m) => m.name === h.name)!;
      assert.equal(h.state, 'up');
      assert.match(h.url, new RegExp(`^https://${member.address.replace(/\./g, '\\.')}:\\d+$`));
      assert.doesNotMatch(h.url, LOOPBACK);
    }
    assert.equal(namespaces(id).length, 4, 'mgmt, controller and two hosts');
  });

  it('a VM exposed through an endpoint migrates between the namespaces; the endpoint and the heartbeat keep going', async () => {
    const vm = await c.json<Vm>(['vm', 'create', VM, '--memory', '128', '--workload', 'http', '--host', 'host1']);
    assert.equal(vm.state, 'running');
    const before = await c.waitBeat(VM, 1);
    const ep = await c.json<ServiceEndpoint>(['vm', 'expose', VM, '--port', '80']);
    assert.doesNotMatch(ep.url, LOOPBACK);
    const poller = new EndpointPoller(ep.url);
    poller.start();
    try {
      await poller.answerAfter(performance.now(), 60_000);
      const rec = await c.json<MigrationRecord>(['vm', 'migrate', VM, '--to', 'host2']);
      const t1 = performance.now();
      assert.equal(rec.outcome, 'succeeded', JSON.stringify(rec));
      assert.equal((await c.json<Vm>(['vm', 'show', VM])).host, 'host2');
      const after = await c.waitBeat(VM, before.seq + 2);
      assert.equal(after.bad, 0);
      await poller.answerAfter(t1, 30_000);
      const seq = poller.maxSeq;
      await waitFor('a newer heartbeat through the endpoint from host2', async () => poller.maxSeq > seq, { timeoutMs: 30_000, everyMs: 200 });
      assert.deepEqual(poller.wrong, [], 'only heartbeats, in order');
      console.log(`isolated migration host1 -> host2: downtime ${rec.downtimeMs} ms, transport ${rec.transport}`);
    } finally {
      await poller.stop();
    }
  });
});
