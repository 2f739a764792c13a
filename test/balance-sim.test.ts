// Unit tests of the balancing simulation (bench/balance-sim/): the trace is reproducible, the
// executor carries a staged swap out in its listed order and drops a move that can never fit, and
// thrash counts a VM once per decision (the legs of one swap are one).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POLICY } from '../src/controller/balance/planner.js';
import { SimCluster, type Migration } from '../bench/balance-sim/cluster.js';
import { thrash } from '../bench/balance-sim/run.js';
import { DEFAULT_TRACE, generateTrace, type SimVmSpec, type Trace } from '../bench/balance-sim/trace.js';

const GiB = 1024;
const spec = (name: string, host: number, memoryMiB: number): SimVmSpec => ({ name, memoryMiB, vcpus: 1, service: 0, cpu: 0.5, net: 0, residentShare: 1, dirtyPerCore: 0, costFactor: 1, host });
/** Three 4 GiB hosts: h0 and h1 full (two 1.5 GiB VMs each, 512 MiB reserve), h2 empty. */
function fullHosts(): Trace {
  const hosts = [0, 1, 2].map((i) => ({ name: `h${i}`, cpus: 8, memoryMiB: 4 * GiB, netBytesPerSec: 1.25e9 }));
  const vms = [spec('x', 0, 1536), spec('w', 0, 1536), spec('y', 1, 1536), spec('z', 1, 1536)];
  return { opts: { ...DEFAULT_TRACE, hosts: 3, vms: 4 }, hosts, vms, services: [{ phase: 0, amplitude: 0 }], bursts: [], ticks: 10 };
}

describe('balance simulation', () => {
  it('the same seed gives the same trace; memory from 512 MiB to 16 GiB', () => {
    const o = { ...DEFAULT_TRACE, hosts: 20, vms: 400, hours: 1 };
    assert.deepEqual(generateTrace(o), generateTrace(o));
    const sizes = new Set(generateTrace(o).vms.map((v) => v.memoryMiB));
    assert.ok([...sizes].every((m) => m >= 512 && m <= 16384) && sizes.size >= 5, [...sizes].join());
  });

  it('carries out a staged swap in its listed order', () => {
    const c = new SimCluster(fullHosts(), DEFAULT_POLICY);
    c.enqueue(
      [
        { vm: 'y', to: 'h2', group: 's', step: 1 },
        { vm: 'x', to: 'h1', group: 's', step: 2 },
        { vm: 'y', to: 'h0', group: 's', step: 3 },
      ],
      1,
    );
    c.advance(60);
    assert.equal(c.dropped, 0);
    assert.deepEqual(c.migrations.map((m) => `${m.vm}>${m.to}`), ['2>2', '0>1', '2>0']);
    assert.deepEqual([...c.hostOf], [1, 0, 0, 1]);
    assert.ok(c.idle());
  });

  it('drops a move whose target never has room, with nothing running', () => {
    const c = new SimCluster(fullHosts(), DEFAULT_POLICY);
    c.enqueue([{ vm: 'x', to: 'h1', group: 's', step: 1 }, { vm: 'y', to: 'h0', group: 's', step: 2 }], 1);
    c.advance(60);
    assert.equal(c.migrations.length, 0);
    assert.equal(c.dropped, 2);
  });

  it('thrash: a VM moved again within 10 minutes by another decision', () => {
    const m = (vm: number, startSec: number, key: string): Migration => ({ vm, from: 0, to: 1, startSec, endSec: startSec + 5, bytes: 1, key });
    assert.equal(thrash([m(1, 0, '1:s'), m(1, 10, '1:s')]), 0, 'the legs of one swap');
    assert.equal(thrash([m(1, 0, '1:a'), m(1, 700, '9:a')]), 0, 'after the window');
    assert.equal(thrash([m(1, 0, '1:a'), m(1, 300, '4:a'), m(2, 0, '1:b')]), 1);
  });
});
