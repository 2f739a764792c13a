// Load balancing end to end, through the CLI, with real TCG guests on a 2-host cluster.
// host1 is crowded: a VM that keeps one CPU busy and two idle ones; host2 is empty. With
// auto mode on (hot above 60 % of the host's CPUs in 3 of the last 5 samples of 2 s), nothing
// moves while host1 is merely busy. Then a second CPU-burning VM starts on host1: host1 becomes
// a hotspot, the balancer moves one burning VM to host2, the hotspot clears, and the moved VM's
// heartbeat went on counting through the move (seq never went back, bad=0). Every decision is in
// the log with its reason. No wall-clock asserts: the timing is in bench/balance-hotspot.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BalanceDecision, BalancePlan, BalanceStatus } from '../../src/contracts/balance.js';
import type { Vm } from '../../src/contracts/controller-api.js';
import type { VmSeries } from '../../src/contracts/metrics.js';
import { TestCluster, type Heartbeat } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

const POLICY = ['--threshold', '0.6', '--k', '3', '--n', '5', '--sample', '2s', '--interval', '2s', '--cooldown', '5m', '--max-moves', '1'];

describe('ferry balance, end to end', { timeout: 15 * 60_000 }, () => {
  const c = new TestCluster();
  /** Every heartbeat seen per VM, in the order polled. */
  const beats = new Map<string, Heartbeat[]>();
  let polling = true;
  let poller: Promise<void> | undefined;

  const watch = (vms: string[]): Promise<void> =>
    (async () => {
      while (polling) {
        for (const vm of vms) {
          const hb = await c.heartbeat(vm);
          if (hb) (beats.get(vm) ?? beats.set(vm, []).get(vm)!).push(hb);
        }
        await sleep(500);
      }
    })();

  before(async () => {
    await c.ok(['up', '--hosts', '2', '--port', '0', '--accel', 'tcg']);
    await c.ok(['vm', 'create', 'steady', '--memory', '128', '--host', 'host1', '--workload', 'cpu']);
    await c.ok(['vm', 'create', 'quiet1', '--memory', '128', '--host', 'host1']);
    await c.ok(['vm', 'create', 'quiet2', '--memory', '128', '--host', 'host1']);
    await c.waitBeat('steady', 2);
    await c.ok(['balance', 'config', ...POLICY]);
  });
  after(async () => {
    polling = false;
    await poller;
    await c.cleanup();
  });

  it('metrics show the busy VM busy and the idle ones idle', async () => {
    // The idle guests burn CPU while they boot; compare the last few points once that is over.
    const recent = (s: VmSeries): number => {
      const last = s.points.slice(-3);
      return last.reduce((a, p) => a + p.cpuCores, 0) / Math.max(1, last.length);
    };
    const seen = await waitFor('the busy VM to show busy and the idle one idle', async () => {
      const busy = await c.json<VmSeries>(['metrics', 'steady', '--window', '1m']);
      const idle = await c.json<VmSeries>(['metrics', 'quiet1', '--window', '1m']);
      if (busy.points.length < 3 || idle.points.length < 3) return undefined;
      return recent(busy) > 4 * recent(idle) ? { busy: recent(busy), idle: recent(idle) } : undefined;
    }, { timeoutMs: 60_000, everyMs: 2000 });
    assert.ok(seen.busy > 0.3, `the cpu VM keeps most of a core busy: ${seen.busy.toFixed(3)}`);
    const text = await c.ok(['metrics', 'steady', '--window', '1m']);
    assert.match(text, /cpu/i);
  });

  it('a busy host that is not hot: auto mode plans and moves nothing', async () => {
    await c.ok(['balance', 'auto', 'on']);
    // Long enough for a full window of samples and several auto rounds.
    await sleep(14_000);
    const s = await c.json<BalanceStatus>(['balance', 'status']);
    assert.equal(s.config.auto, true);
    // First what the balancer did, with its reasons: a move would also explain a cool host1.
    const decisions = await c.json<BalanceDecision[]>(['balance', 'decisions']);
    assert.equal(decisions.filter((d) => d.kind === 'move-started').length, 0, JSON.stringify({ decisions, hosts: s.hosts }));
    const h1 = s.hosts.find((h) => h.name === 'host1')!;
    assert.ok(h1.samples >= 3, `host1 has a profile: ${JSON.stringify(h1)}`);
    assert.equal(h1.hot, false, `host1 with one busy VM is below 60 %: ${JSON.stringify(h1)}`);
    assert.ok(h1.load.cpu > 0.2, `the busy VM shows in host1's load: ${JSON.stringify(h1)}`);
    assert.deepEqual(s.running, []);
    for (const vm of ['steady', 'quiet1', 'quiet2']) assert.equal((await c.json<Vm>(['vm', 'show', vm])).host, 'host1');
  });

  it('a CPU burner starts on the crowded host: the balancer moves a VM off it and the hotspot clears', async () => {
    await c.ok(['vm', 'create', 'burner', '--memory', '128', '--host', 'host1', '--workload', 'cpu']);
    await c.waitBeat('burner', 1);
    poller = watch(['steady', 'burner']);

    const done = await waitFor('a move off host1', async () => {
      const d = await c.json<BalanceDecision[]>(['balance', 'decisions']);
      const failed = d.find((x) => x.kind === 'move-failed');
      if (failed) throw new Error(`a move failed: ${failed.reason}`);
      return d.find((x) => x.kind === 'move-done' && x.from === 'host1');
    }, { timeoutMs: 180_000, everyMs: 1000 });
    assert.equal(done.to, 'host2');
    assert.ok(['steady', 'burner'].includes(done.vm!), `a burning VM moved (the highest volume-to-size ratio): ${done.vm}`);

    const log = await c.json<BalanceDecision[]>(['balance', 'decisions', '--vm', done.vm!]);
    const started = log.find((x) => x.kind === 'move-started');
    assert.ok(started, 'the start of the move is logged');
    assert.match(started.reason, /host1/, `the reason names the hot host: ${started.reason}`);
    assert.ok(log.some((x) => x.kind === 'move-done' && x.migrationId), 'the move names its migration record');
    assert.equal((await c.json<Vm>(['vm', 'show', done.vm!])).host, 'host2');

    // The hotspot clears: host1 is no longer hot once its profile has only its remaining VMs.
    const cleared = await waitFor('host1 to cool down', async () => {
      const s = await c.json<BalanceStatus>(['balance', 'status']);
      const h1 = s.hosts.find((h) => h.name === 'host1')!;
      return !h1.hot && s.hosts.every((h) => !h.hot) ? s : undefined;
    }, { timeoutMs: 60_000, everyMs: 1000 });
    assert.deepEqual(cleared.running, []);

    // The moved VM's heartbeat kept counting through the move and after it.
    const last = beats.get(done.vm!)?.at(-1)?.seq ?? 0;
    await c.waitBeat(done.vm!, last + 2);
    polling = false;
    await poller;
    const seen = beats.get(done.vm!) ?? [];
    assert.ok(seen.length >= 4, `heartbeats polled: ${seen.length}`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.seq >= seen[i - 1]!.seq, `seq never goes back: ${seen[i - 1]!.seq} then ${seen[i]!.seq}`);
    assert.ok(seen.every((b) => b.bad === 0), 'bad=0 throughout');
  });

  it('no thrashing: with the hotspot gone, the next plans move nothing', async () => {
    await sleep(6_000);
    const plan = await c.json<BalancePlan>(['balance', 'plan']);
    assert.deepEqual(plan.hotspots, [], JSON.stringify(plan));
    assert.deepEqual(plan.moves, []);
    const moves = (await c.json<BalanceDecision[]>(['balance', 'decisions'])).filter((d) => d.kind === 'move-started');
    assert.equal(moves.length, 1, `exactly one migration: ${moves.map((m) => m.vm).join(', ')}`);
    await c.ok(['balance', 'auto', 'off']);
    const text = await c.ok(['balance', 'status']);
    assert.match(text, /auto off/);
    assert.match(text, /move-done/);
  });
});
