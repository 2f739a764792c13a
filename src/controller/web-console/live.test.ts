// Live events: `load` only while someone listens, with every host's and VM's load; `migration`
// at most once per gap per migration (the latest report wins), and always the final one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ClusterEvent } from '../../contracts/controller-api.js';
import type { MigrationRecord } from '../../contracts/migration.js';
import { initialRecord } from '../migration/orchestrator.js';
import { LoadPublisher, MigrationEvents, loadEvent } from './live.js';

const HOST = { cpu: 0.5, net: 0.1, mem: 0.3, volume: 3.2, hot: false };
const VM = { cpuCores: 0.2, rssMiB: 100, diskBps: 0, netBps: 0 };

function record(id: string): MigrationRecord {
  const vm = { name: 'web', host: 'h1', memoryMiB: 64 } as Parameters<typeof initialRecord>[0]['vm'];
  return initialRecord({ id, vm, to: 'h2', targetDataUrl: 'x', planner: { vm: 'web', from: 'h1', to: 'h2', maxDowntimeMs: 300, strategy: 'auto', transport: 'auto' } });
}
const live = (percent: number) => ({ percent, rounds: 1, remainingBytes: 0, dirtyRateBytesPerSec: 0 });

describe('console live events', () => {
  it('a load event holds every host and VM that has a load', () => {
    const e = loadEvent({ listeners: () => 1, hosts: () => ['h1', 'h2'], vms: () => ['a', 'b'], hostLoad: (h) => (h === 'h1' ? HOST : undefined), vmLoad: () => VM }, 42);
    assert.deepEqual(e, { type: 'load', at: 42, hosts: { h1: HOST }, vms: { a: VM, b: VM } });
  });

  it('publishes load only while someone listens, and stops on close', async () => {
    let listeners = 0;
    const got: ClusterEvent[] = [];
    const p = new LoadPublisher({ listeners: () => listeners, hosts: () => ['h1'], vms: () => [], hostLoad: () => HOST, vmLoad: () => undefined }, (e) => got.push(e), 20);
    p.start();
    await sleep(70);
    assert.equal(got.length, 0);
    listeners = 1;
    await sleep(70);
    assert.ok(got.length >= 1);
    p.close();
    p.close();
    const n = got.length;
    await sleep(60);
    assert.equal(got.length, n);
  });

  it('throttles migration progress per migration, sends the latest held one later, and always the end', async () => {
    const got: ClusterEvent[] = [];
    let now = 0;
    const ev = new MigrationEvents((e) => got.push(e), 50, () => now);
    const r = record('m1');
    ev.live(r, live(10));
    ev.live(r, live(20));
    ev.live(r, live(30));
    ev.live(record('m2'), live(5));
    assert.deepEqual(got.map((e) => e.type === 'migration' && [e.record.id, e.live?.percent]), [['m1', 10], ['m2', 5]]);
    now = 50;
    await sleep(80);
    assert.deepEqual(got.slice(2).map((e) => e.type === 'migration' && [e.record.id, e.live?.percent]), [['m1', 30]]);
    ev.live(r, live(40));
    ev.ended({ ...r, outcome: 'succeeded' });
    await sleep(80);
    const last = got.at(-1)!;
    assert.ok(last.type === 'migration' && last.live === undefined && last.record.outcome === 'succeeded');
    assert.equal(got.length, 4, 'the held report is dropped once the migration ended');
    ev.close();
  });
});
