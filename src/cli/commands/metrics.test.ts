import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatSeries, hostLoadCells, sparkline, vmLoadCells } from './metrics.js';

describe('ferry metrics: output', () => {
  it('sparklines scale from zero to the highest value, at most `width` columns', () => {
    assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), '▁▂▃▄▅▆▇█');
    assert.equal(sparkline([2, 2, 2]), '███');
    assert.equal(sparkline([0, 0]), '▁▁');
    assert.equal(sparkline([]), '');
    assert.equal(sparkline(Array.from({ length: 600 }, (_, i) => i), 60).length, 60);
  });

  it('a host series: sparklines, then the table', () => {
    const p = { t: Date.UTC(2026, 0, 1, 12, 0, 0), cpu: 0.5, net: 0.1, mem: 0.25, volume: 2.96, memoryFreeMiB: 100, vmCount: 2, samples: 10 };
    const text = formatSeries({ kind: 'host', name: 'h1', stepMs: 10_000, from: 0, to: 600_000, points: [p, { ...p, t: p.t + 10_000, cpu: 1 }] });
    const lines = text.split('\n');
    assert.equal(lines[0], 'host h1: 2 points, 10 s each, times in UTC');
    assert.match(lines[1]!, /^cpu {5}▅█ {2}100% \(max 100%\)$/);
    assert.match(text, /^12:00:00 +50% +10% +25% +2\.96 +- +100 +2 +10$/m);
  });

  it('load columns, or dashes before the first samples', () => {
    assert.deepEqual(hostLoadCells({ cpu: 0.123, net: 0, mem: 0.5, volume: 2.28, hot: true }), ['12%', '0%', '50%', '2.28', 'yes']);
    assert.deepEqual(vmLoadCells(undefined), [undefined, undefined, undefined]);
    assert.deepEqual(vmLoadCells({ cpuCores: 0.5, rssMiB: 64.2, diskBps: 0, netBps: 0, dirtyMiBps: 32 }), ['0.50', '64 MiB', '32.0']);
  });
});
