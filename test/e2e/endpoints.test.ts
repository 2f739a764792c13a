// Service endpoints end to end through the real CLI on `ferry up --sites main:2,dr:1`: a VM
// running the http workload is exposed on a stable loopback address, and a client polling it
// every 100 ms across a live migration and then a planned DR failover gets only heartbeat lines
// whose seq never goes backwards. The longest gap per move is reported, not asserted (timings
// belong in bench/endpoints.ts).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../../src/contracts/controller-api.js';
import type { CheckpointRecord, FailoverReport } from '../../src/contracts/dr.js';
import type { ServiceEndpoint, VmLocation } from '../../src/contracts/endpoints.js';
import type { MigrationRecord } from '../../src/contracts/migration.js';
import { forwardPortsOf } from '../../src/contracts/vm-spec.js';
import { EndpointPoller } from '../../src/testing/endpoint-poller.js';
import { TestCluster } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

const VM = 'web';
type Shown = Vm & { location?: VmLocation };

describe('service endpoints, end to end', { timeout: 6 * 60_000 }, () => {
  const c = new TestCluster();
  let url = '';
  let poller: EndpointPoller | undefined;

  before(async () => {
    await c.ok(['up', '--sites', 'main:2,dr:1', '--port', '0', '--accel', 'tcg']);
    const vm = await c.json<Vm>(['vm', 'create', VM, '--memory', '128', '--workload', 'http', '--host', 'host1']);
    assert.equal(vm.state, 'running');
    await c.waitBeat(VM, 1);
  });

  after(async () => {
    await poller?.stop();
    await c.cleanup();
  });

  it('expose prints a stable endpoint (idempotent); endpoints --json lists {port, url}; show has the location', async () => {
    const text = (await c.ok(['vm', 'expose', VM, '--port', '80'])).trim();
    assert.match(text, /^tcp:\/\/127\.0\.0\.1:\d+ -> web:80$/);
    url = text.split(' ')[0]!;
    const again = await c.json<ServiceEndpoint>(['vm', 'expose', VM, '--port', '80']);
    assert.equal(again.url, url);
    const list = await c.json<ServiceEndpoint[]>(['vm', 'endpoints', VM]);
    assert.deepEqual(list.map((e) => ({ port: e.port, url: e.url })), [{ port: 80, url }]);
    const shown = await c.json<Shown>(['vm', 'show', VM]);
    assert.equal(shown.location?.host, 'host1');
    assert.deepEqual(shown.location?.ports, [80]);
    assert.match(await c.ok(['vm', 'show', VM]), /location:\s+host1 \(site main\)/);
  });

  it('a client polling the endpoint sees only heartbeats in order across a live migration and a planned failover', async () => {
    assert.ok(url, 'exposed by the previous test');
    const p = (poller = new EndpointPoller(url));
    p.start();
    await p.answerAfter(performance.now(), 30_000);

    let t0 = performance.now();
    const rec = await c.json<MigrationRecord>(['vm', 'migrate', VM, '--to', 'host2']);
    let t1 = performance.now();
    assert.equal(rec.outcome, 'succeeded', JSON.stringify(rec));
    await p.answerAfter(t1, 30_000);
    // The VM at host2 keeps answering with newer heartbeats through the same endpoint.
    const seqMigrated = p.maxSeq;
    await waitFor('a newer heartbeat through the endpoint after the migration', async () => p.maxSeq > seqMigrated, { timeoutMs: 30_000, everyMs: 100 });
    console.log(`migration host1 -> host2: longest gap ${p.longestGap(t0, t1)} ms (VM downtime ${rec.downtimeMs} ms, observed ${rec.observedDowntimeMs ?? '-'} ms)`);
    const moved = await c.json<Shown>(['vm', 'show', VM]);
    assert.equal(moved.location?.host, 'host2');
    assert.equal(moved.location?.reason, 'migrated');

    await c.ok(['dr', 'protect', VM, '--to', 'dr', '--rpo', '30s']);
    await waitFor('a checkpoint at the DR site', async () => (await c.json<CheckpointRecord[]>(['dr', 'checkpoints', VM])).length > 0, { timeoutMs: 120_000, everyMs: 1000 });
    t0 = performance.now();
    const report = await c.json<FailoverReport>(['dr', 'failover', VM, '--planned']);
    t1 = performance.now();
    assert.equal(report.outcome, 'succeeded', JSON.stringify(report));
    const seqBefore = p.maxSeq;
    await p.answerAfter(t1, 30_000);
    await waitFor('a newer heartbeat through the endpoint from the DR site', async () => p.maxSeq > seqBefore, { timeoutMs: 30_000, everyMs: 100 });
    console.log(`planned failover host2 -> host3: longest gap ${p.longestGap(t0, t1)} ms (time to running ${report.timeToRunningMs} ms, data window ${report.dataWindowMs} ms)`);
    await p.stop();
    const failed = await c.json<Shown>(['vm', 'show', VM]);
    assert.equal(failed.location?.host, 'host3');
    assert.equal(failed.location?.site, 'dr');
    assert.equal(failed.location?.reason, 'failover');
    assert.deepEqual(p.wrong, [], 'no wrong answers');
    assert.ok(p.okAt.length > 10, `answers: ${p.okAt.length}, failed polls: ${p.failures}`);
    console.log(`client: ${p.okAt.length} answers, ${p.failures} polls without one, last seq ${p.maxSeq}`);
  });

  it('exposing a port the spec lacks adds the forward to the running VM and its spec', async () => {
    const e = await c.json<ServiceEndpoint>(['vm', 'expose', VM, '--port', '8080']);
    assert.equal(e.port, 8080);
    const vm = await c.json<Shown>(['vm', 'show', VM]);
    assert.ok(forwardPortsOf(vm.spec.nics[0]).includes(8080), JSON.stringify(vm.spec.nics));
    assert.ok(vm.endpoints.some((x) => x.guestPort === 8080), JSON.stringify(vm.endpoints));
    await c.ok(['vm', 'unexpose', VM, '--port', '8080']);
    assert.deepEqual((await c.json<ServiceEndpoint[]>(['vm', 'endpoints', VM])).map((x) => x.port), [80]);
  });
});
