import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BalancePolicy, VmRule } from '../../contracts/balance.js';
import { DEFAULT_POLICY, plan, type BalanceHistory, type BalanceHost, type BalanceSnapshot, type BalanceVm, type PastMigration } from './planner.js';

const NOW = 1_000_000_000;
const DAY = 86_400_000;

/** A host with 8 cpus, 16 GiB and five identical samples of `cpu` (and `mem`). */
const host = (name: string, cpu: number, o: Partial<BalanceHost> & { mem?: number } = {}): BalanceHost => {
  const { mem = 0.2, ...rest } = o;
  return { name, up: true, cpus: 8, memoryMiB: 16384, netBytesPerSec: 125_000_000, samples: Array.from({ length: 5 }, () => ({ cpu, net: 0.1, mem })), ...rest };
};
const vm = (name: string, h: string, memoryMiB: number, cpuCores: number, o: Partial<BalanceVm> = {}): BalanceVm => ({
  name,
  host: h,
  memoryMiB,
  vcpus: 2,
  cpuCores,
  netBytesPerSec: 1_000_000,
  residentMiB: memoryMiB,
  dirtyBytesPerSec: 10 * 1024 * 1024,
  ...o,
});
const past = (v: string, agoMs: number, wireBytes: number, totalMs: number): PastMigration => ({ vm: v, atMs: NOW - agoMs, succeeded: true, wireBytes, totalMs });

interface Case {
  name: string;
  hosts: BalanceHost[];
  vms: BalanceVm[];
  policy?: Partial<BalancePolicy>;
  rules?: VmRule[];
  history?: PastMigration[];
  /** Moves as `vm:from>to`, in plan order. */
  want: string[];
  kinds?: string[];
  steps?: (number | undefined)[];
  hotspots?: string[];
  powerOff?: string[];
  note?: RegExp;
  reason?: RegExp;
}

const cases: Case[] = [
  {
    name: 'single move off a hot host to the least loaded one',
    hosts: [host('h1', 0.95), host('h2', 0.2), host('h3', 0.4)],
    vms: [vm('a', 'h1', 1024, 2), vm('b', 'h1', 1024, 1)],
    want: ['a:h1>h2'],
    hotspots: ['h1'],
    reason: /h1 is hot \(cpu 95%.*in 5 of the last 5 samples.*move a.*to h2, the least loaded host/,
  },
  {
    name: 'a short spike (1 of 5 samples) is not a hotspot',
    hosts: [host('h1', 0.5, { samples: [0.5, 0.5, 0.5, 0.5, 0.99].map((cpu) => ({ cpu, net: 0, mem: 0.2 })) }), host('h2', 0.2)],
    vms: [vm('a', 'h1', 1024, 2)],
    want: [],
    hotspots: [],
  },
  {
    name: 'picks the highest volume-to-size ratio, not the biggest VM',
    hosts: [host('h1', 0.95, { mem: 0.6 }), host('h2', 0.1)],
    vms: [vm('big', 'h1', 8192, 3), vm('small', 'h1', 1024, 2)],
    want: ['small:h1>h2'],
  },
  {
    name: 'respects capacity: the least loaded host lacks memory',
    hosts: [host('h1', 0.95), host('h2', 0.1, { memoryMiB: 2048 }), host('h3', 0.4)],
    vms: [vm('a', 'h1', 2048, 2)],
    want: ['a:h1>h3'],
  },
  {
    name: 'a bridged VM moves only within its segment, past a less loaded host on another',
    hosts: [host('h1', 0.95, { segment: 'a' }), host('h2', 0.1, { segment: 'b' }), host('h3', 0.4, { segment: 'a' })],
    vms: [vm('web', 'h1', 1024, 2, { segment: 'a' })],
    want: ['web:h1>h3'],
  },
  {
    name: 'a bridged VM with no host left on its segment stays',
    hosts: [host('h1', 0.95, { segment: 'a' }), host('h2', 0.1)],
    vms: [vm('web', 'h1', 1024, 2, { segment: 'a' })],
    want: [],
  },
  {
    name: 'respects vCPU overcommit',
    hosts: [host('h1', 0.95), host('h2', 0.1, { cpus: 1 }), host('h3', 0.4)],
    vms: [vm('a', 'h1', 1024, 2, { vcpus: 6 }), vm('x', 'h2', 512, 0, { vcpus: 1 })],
    policy: { cpuOvercommit: 4 },
    want: ['a:h1>h3'],
  },
  {
    name: 'a target must not become hot',
    hosts: [host('h1', 0.95), host('h2', 0.7)],
    vms: [vm('a', 'h1', 1024, 2)],
    want: [],
    note: /h2 would become hot/,
  },
  {
    name: 'anti-affinity blocks a target',
    hosts: [host('h1', 0.95), host('h2', 0.1), host('h3', 0.4)],
    vms: [vm('a', 'h1', 1024, 2), vm('x', 'h2', 512, 0)],
    rules: [{ kind: 'apart', vms: ['a', 'x'] }],
    want: ['a:h1>h3'],
  },
  {
    name: 'affinity: a group moves together',
    hosts: [host('h1', 0.95), host('h2', 0.1)],
    vms: [vm('a', 'h1', 1024, 2), vm('b', 'h1', 1024, 1), vm('c', 'h1', 4096, 0.5)],
    rules: [{ kind: 'together', vms: ['a', 'b'] }],
    want: ['a:h1>h2', 'b:h1>h2'],
    kinds: ['group', 'group'],
  },
  {
    name: 'affinity: a group that does not fit is not split',
    hosts: [host('h1', 0.95), host('h2', 0.1, { memoryMiB: 2048 })],
    vms: [vm('a', 'h1', 1024, 2), vm('b', 'h1', 1024, 1), vm('c', 'h1', 1024, 2)],
    rules: [{ kind: 'together', vms: ['a', 'b'] }],
    want: ['c:h1>h2'],
  },
  {
    name: 'cooldown skips a recently moved VM',
    hosts: [host('h1', 0.95), host('h2', 0.1)],
    vms: [vm('a', 'h1', 1024, 3), vm('b', 'h1', 1024, 2)],
    history: [past('a', 60_000, 1e9, 10_000)],
    want: ['b:h1>h2'],
    note: /a was moved less than 600 s ago; it stays on h1 \(cooldown\)/,
  },
  {
    name: 'cooldown over: the VM may move again',
    hosts: [host('h1', 0.95), host('h2', 0.1)],
    vms: [vm('a', 'h1', 1024, 3), vm('b', 'h1', 1024, 2)],
    history: [past('a', DAY, 1e9, 10_000)],
    want: ['a:h1>h2'],
  },
  {
    name: 'nothing fits → swap a hot VM with a cooler one; the side that fits goes first',
    // h1 has 1 GiB free: y fits there at once, and once y has left h2 has room for x.
    hosts: [host('h1', 0.95, { memoryMiB: 4096, mem: 0.6 }), host('h2', 0.05, { memoryMiB: 4096, mem: 0.6 })],
    vms: [vm('x', 'h1', 1536, 4), vm('w', 'h1', 1024, 1), vm('y', 'h2', 1024, 0.2), vm('z', 'h2', 2048, 0.2)],
    want: ['y:h2>h1', 'x:h1>h2'],
    kinds: ['swap', 'swap'],
    steps: [1, 2],
    reason: /no host can take x as it is, so it swaps places with y from h2/,
  },
  {
    name: 'two full hosts swap through a staging host; the cheaper VM steps aside',
    // Neither x nor y fits on the other host first. h3 has room but is too busy to keep x; y
    // (barely dirtying memory, so the cheaper migration) waits there while x moves, then goes on.
    hosts: [host('h1', 0.95, { memoryMiB: 4096, mem: 0.75 }), host('h2', 0.05, { memoryMiB: 4096, mem: 0.75 }), host('h3', 0.8)],
    vms: [vm('x', 'h1', 1536, 4), vm('w', 'h1', 1536, 3.6), vm('y', 'h2', 1536, 0.2, { dirtyBytesPerSec: 0 }), vm('z', 'h2', 1536, 0.2)],
    want: ['y:h2>h3', 'x:h1>h2', 'y:h3>h1'],
    kinds: ['swap', 'swap', 'swap'],
    steps: [1, 2, 3],
    reason: /y steps aside to h3 first: neither side of the swap between h1 and h2 fits/,
  },
  {
    name: 'two full hosts and no host to stage through → the swap is dropped, with why',
    hosts: [host('h1', 0.95, { memoryMiB: 4096, mem: 0.75 }), host('h2', 0.05, { memoryMiB: 4096, mem: 0.75 })],
    vms: [vm('x', 'h1', 1536, 4), vm('w', 'h1', 1536, 3.6), vm('y', 'h2', 1536, 0.2), vm('z', 'h2', 1536, 0.2)],
    want: [],
    note: /swap of x \(h1\) with y \(h2\) dropped: neither side fits first \(h2 has 512 MiB free, 1536 MiB needed; h1 has 512 MiB free, 1536 MiB needed\), and no third host has room to stage one of them/,
  },
  {
    name: 'staging counts against the move limit',
    hosts: [host('h1', 0.95, { memoryMiB: 4096, mem: 0.75 }), host('h2', 0.05, { memoryMiB: 4096, mem: 0.75 }), host('h3', 0.8)],
    vms: [vm('x', 'h1', 1536, 4), vm('w', 'h1', 1536, 3.6), vm('y', 'h2', 1536, 0.2), vm('z', 'h2', 1536, 0.2)],
    policy: { maxMoves: 2 },
    want: [],
    note: /dropped: neither side fits first .*, and staging needs 3 moves, 2 left/,
  },
  {
    name: 'nothing fits at all → empty plan with the reason',
    hosts: [host('h1', 0.95, { memoryMiB: 4096 }), host('h2', 0.05, { memoryMiB: 1024 })],
    vms: [vm('x', 'h1', 1536, 4), vm('w', 'h1', 1536, 3.6)],
    want: [],
    note: /h1 is hot.*nothing fits and no swap helps — w: no host can take it \(least loaded: h2 has 512 MiB free, 1536 MiB needed\); x: /,
  },
  {
    name: 'density packs VMs and names emptied hosts',
    hosts: [host('h1', 0.1), host('h2', 0.2), host('h3', 0.5), host('h4', 0, { mem: 0 })],
    vms: [vm('a', 'h1', 1024, 0.8), vm('b', 'h2', 1024, 1.6), vm('c', 'h3', 1024, 4)],
    policy: { mode: 'density' },
    want: ['a:h1>h3', 'b:h2>h3'],
    powerOff: ['h4', 'h1', 'h2'],
    reason: /Density: drain h1 .* so it can be powered off; a goes to h3/,
  },
  {
    name: 'density drains a host completely or not at all',
    hosts: [host('h1', 0.1), host('h2', 0.6, { memoryMiB: 2048 })],
    vms: [vm('a', 'h1', 512, 0.4), vm('b', 'h1', 1024, 0.4), vm('x', 'h2', 512, 0.1)],
    policy: { mode: 'density' },
    // a would fit on h2 but b would not: a's tentative move is undone; h2 then drains onto h1.
    want: ['x:h2>h1'],
    powerOff: ['h2'],
    note: /h1 cannot be drained: no host can take b/,
  },
  {
    name: 'concurrency limit on moves per plan',
    hosts: [host('h1', 0.98), host('h2', 0.95), host('h3', 0.9), host('h4', 0.1), host('h5', 0.2), host('h6', 0.3)],
    vms: [vm('a1', 'h1', 1024, 2), vm('a2', 'h2', 1024, 2), vm('a3', 'h3', 1024, 2)],
    policy: { maxMoves: 2 },
    want: ['a1:h1>h4', 'a2:h2>h5'],
    note: /concurrency limit of 2 moves reached; still hot: h3/,
  },
  {
    name: 'equal VMs, no history: by name',
    hosts: [host('h1', 0.95), host('h2', 0.1)],
    vms: [vm('a', 'h1', 1024, 2), vm('b', 'h1', 1024, 2)],
    want: ['a:h1>h2'],
  },
  {
    name: 'history makes a cheaper VM preferred',
    hosts: [host('h1', 0.95), host('h2', 0.1)],
    vms: [vm('a', 'h1', 1024, 2), vm('b', 'h1', 1024, 2)],
    history: [past('a', DAY, 20e9, 100_000), past('a', 2 * DAY, 18e9, 90_000)],
    want: ['b:h1>h2'],
  },
  {
    name: 'a slightly higher VSR loses to a much cheaper move (near-equal)',
    hosts: [host('h1', 0.95), host('h2', 0.1)],
    vms: [vm('a', 'h1', 1024, 2.1, { dirtyBytesPerSec: 100 * 1024 * 1024 }), vm('b', 'h1', 1024, 2)],
    want: ['b:h1>h2'],
    reason: /chosen over a .* because it migrates cheaper/,
  },
];

const run = (c: Case, history?: PastMigration[]) => {
  const snapshot: BalanceSnapshot = { hosts: c.hosts, vms: c.vms };
  const policy: BalancePolicy = { ...DEFAULT_POLICY, ...c.policy, rules: c.rules ?? [] };
  const h: BalanceHistory = { nowMs: NOW, migrations: history ?? c.history ?? [] };
  return plan(snapshot, policy, h);
};

describe('plan', () => {
  for (const c of cases) {
    it(c.name, () => {
      const p = run(c);
      const why = JSON.stringify({ moves: p.moves.map((m) => m.reason), notes: p.notes }, null, 1);
      assert.deepEqual(p.moves.map((m) => `${m.vm}:${m.from}>${m.to}`), c.want, why);
      if (c.kinds) assert.deepEqual(p.moves.map((m) => m.kind), c.kinds);
      if (c.steps) assert.deepEqual(p.moves.map((m) => m.step), c.steps);
      if (c.hotspots) assert.deepEqual(p.hotspots, c.hotspots);
      if (c.powerOff) assert.deepEqual(p.powerOff, c.powerOff);
      if (c.note) assert.ok(p.notes.some((n) => c.note!.test(n)), why);
      if (c.reason) assert.ok(p.moves.some((m) => c.reason!.test(m.reason)), why);
      for (const m of p.moves) {
        assert.ok(m.cost.bytes > 0 && m.cost.seconds > 0, 'every move has a predicted cost');
        if (c.policy?.mode !== 'density' && m.kind !== 'swap') assert.ok(m.gain.fromVolumeAfter < m.gain.fromVolumeBefore, 'the hot host gets cooler');
      }
    });
  }

  it('learns a VM\'s migration cost from its history', () => {
    const c = cases[0]!;
    const model = run(c).moves[0]!.cost;
    assert.equal(model.learned, false);
    assert.ok(model.bytes >= 1024 * 1024 * 1024, 'at least its memory');
    const learned = run(c, [past('a', DAY, 3e9, 30_000), past('a', 2 * DAY, 1e9, 10_000)]).moves[0]!.cost;
    assert.deepEqual(learned, { bytes: 2e9, seconds: 20, learned: true });
  });

  it('a failed migration teaches nothing but still starts the cooldown', () => {
    const c = cases[0]!;
    const failed: PastMigration = { ...past('a', 60_000, 5e9, 50_000), succeeded: false };
    assert.deepEqual(run(c, [failed]).moves.map((m) => m.vm), ['b']);
  });

  it('the same input in another order gives the same plan', () => {
    for (const c of cases) {
      const a = run(c);
      const b = run({ ...c, hosts: [...c.hosts].reverse(), vms: [...c.vms].reverse() });
      assert.deepEqual(b, a, c.name);
    }
  });
});
