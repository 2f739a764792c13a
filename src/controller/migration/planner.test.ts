import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTransport, MAX_ROUNDS, plan, type PlannerInput } from './planner.js';

const MiB = 1024 * 1024;
const base: PlannerInput = {
  vm: 'web',
  from: 'host1',
  to: 'host2',
  memoryBytes: 256 * MiB,
  dirtyRateBytesPerSec: 0,
  linkBytesPerSec: 1024 * MiB,
  rttMs: 1,
  maxDowntimeMs: 300,
  strategy: 'auto',
  transport: 'auto',
};

interface Case {
  name: string;
  in: Partial<PlannerInput>;
  chosen: string;
  meets: boolean;
  transport?: string;
  why?: RegExp;
}

const cases: Case[] = [
  { name: 'idle guest on a fast LAN: pre-copy, one round', in: {}, chosen: 'precopy', meets: true, transport: 'direct', why: /converges after 1 round/ },
  { name: 'moderate dirtying converges in a few rounds', in: { dirtyRateBytesPerSec: 32 * MiB, linkBytesPerSec: 100 * MiB }, chosen: 'precopy', meets: true, transport: 'direct' },
  { name: 'slow link picks chunked transport', in: { dirtyRateBytesPerSec: 1 * MiB, linkBytesPerSec: 10 * MiB }, chosen: 'precopy', meets: true, transport: 'chunked' },
  { name: 'dirtying faster than the link: auto goes hybrid', in: { dirtyRateBytesPerSec: 200 * MiB, linkBytesPerSec: 100 * MiB }, chosen: 'hybrid', meets: true, why: /post-copy fetches/ },
  { name: 'explicit pre-copy is honoured and converges only by throttling', in: { dirtyRateBytesPerSec: 200 * MiB, linkBytesPerSec: 100 * MiB, strategy: 'precopy' }, chosen: 'precopy', meets: true, why: /throttled/ },
  { name: 'without auto-converge pre-copy never converges', in: { dirtyRateBytesPerSec: 200 * MiB, linkBytesPerSec: 100 * MiB, strategy: 'precopy', autoConverge: false }, chosen: 'precopy', meets: false, why: new RegExp(`does not converge in ${MAX_ROUNDS} rounds`) },
  { name: 'explicit post-copy is honoured', in: { dirtyRateBytesPerSec: 1 * MiB, strategy: 'postcopy' }, chosen: 'postcopy', meets: true, why: /risk/ },
  { name: 'post-copy cannot beat an RTT above the limit', in: { strategy: 'postcopy', rttMs: 500 }, chosen: 'postcopy', meets: false },
  { name: 'bandwidth cap slows the link and the transport follows', in: { bandwidthBytesPerSec: 8 * MiB }, chosen: 'precopy', meets: true, transport: 'chunked' },
  { name: 'requested transport is honoured', in: { transport: 'chunked' }, chosen: 'precopy', meets: true, transport: 'chunked' },
];

describe('migration planner', () => {
  for (const c of cases) {
    it(c.name, () => {
      const p = plan({ ...base, ...c.in });
      assert.equal(p.chosen.strategy, c.chosen, JSON.stringify(p, null, 1));
      assert.equal(p.chosen.meetsMaxDowntime, c.meets, JSON.stringify(p.chosen));
      if (c.transport) assert.equal(p.transport, c.transport);
      if (c.why) assert.match(p.chosen.why, c.why);
      assert.deepEqual(p.candidates.map((x) => x.strategy), ['precopy', 'postcopy', 'hybrid']);
      for (const x of p.candidates) {
        assert.ok(x.predictedTotalMs >= x.predictedDowntimeMs, `${x.strategy}: total ≥ downtime`);
        assert.ok(x.predictedWireBytes >= p.memoryBytes, `${x.strategy}: every page crosses at least once`);
      }
    });
  }

  it('pre-copy sends more and takes longer as the dirty rate grows', () => {
    const at = (d: number) => plan({ ...base, dirtyRateBytesPerSec: d * MiB, linkBytesPerSec: 100 * MiB }).candidates[0]!;
    const [a, b, c] = [at(0), at(16), at(48)];
    assert.ok(a.predictedWireBytes < b.predictedWireBytes && b.predictedWireBytes < c.predictedWireBytes);
    assert.ok(a.predictedTotalMs < b.predictedTotalMs && b.predictedTotalMs < c.predictedTotalMs);
  });

  it('idle pre-copy: total ≈ memory / link, wire ≈ memory', () => {
    const p = plan({ ...base, linkBytesPerSec: 128 * MiB }).candidates[0]!;
    assert.ok(Math.abs(p.predictedTotalMs - 2000) < 50, String(p.predictedTotalMs));
  });

  it('transport auto switches at about 1 Gbit/s', () => {
    assert.equal(chooseTransport('auto', 99 * MiB), 'chunked');
    assert.equal(chooseTransport('auto', 100 * MiB), 'direct');
    assert.equal(chooseTransport('passthrough', 1), 'passthrough');
    // A bridged VM's QEMU in a host namespace cannot reach the other QEMU: the agents relay.
    assert.equal(chooseTransport('auto', 100 * MiB, 'in a namespace'), 'passthrough');
    assert.equal(chooseTransport('auto', 1 * MiB, 'in a namespace'), 'chunked');
  });

  it('a strategy that may switch to post-copy goes direct on any link when it can: only that stream outlives an agent restart', () => {
    assert.equal(chooseTransport('auto', 1 * MiB, undefined, 'precopy'), 'chunked');
    assert.equal(chooseTransport('auto', 1 * MiB, undefined, 'postcopy'), 'direct');
    assert.equal(chooseTransport('auto', 1 * MiB, undefined, 'hybrid'), 'direct');
    assert.equal(chooseTransport('auto', 1 * MiB, 'in a namespace', 'hybrid'), 'chunked');
    assert.equal(chooseTransport('chunked', 1 * MiB, undefined, 'postcopy'), 'chunked', 'asked for explicitly');
    const slow = plan({ ...base, linkBytesPerSec: 1 * MiB, strategy: 'postcopy' });
    assert.equal(slow.transport, 'direct');
  });
});
