import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isHotspot, meanOf, spread, volume } from './profiles.js';

const s = (cpu: number, net = 0, mem = 0) => ({ cpu, net, mem });

describe('isHotspot (k of the last n samples over the threshold)', () => {
  const cases: { name: string; samples: number[]; k: number; n: number; want: boolean }[] = [
    { name: 'k of n over', samples: [0.9, 0.5, 0.9, 0.9], k: 3, n: 4, want: true },
    { name: 'k-1 of n over', samples: [0.9, 0.5, 0.5, 0.9], k: 3, n: 4, want: false },
    { name: 'only the last n count', samples: [0.9, 0.9, 0.9, 0.5, 0.5, 0.9], k: 3, n: 3, want: false },
    { name: 'a spike is not a hotspot', samples: [0.1, 0.1, 0.1, 0.1, 0.99], k: 2, n: 5, want: false },
    { name: 'at the threshold is not over', samples: [0.85, 0.85, 0.85], k: 1, n: 3, want: false },
    { name: 'fewer samples than k', samples: [0.95], k: 2, n: 5, want: false },
  ];
  for (const c of cases) it(c.name, () => assert.equal(isHotspot(c.samples.map((u) => s(u)), 0.85, c.k, c.n), c.want));
  it('any resource counts', () => assert.equal(isHotspot([s(0.1, 0.9), s(0.1, 0, 0.95)], 0.85, 2, 2), true));
});

describe('volume', () => {
  const cases: { u: [number, number, number]; want: number }[] = [
    { u: [0, 0, 0], want: 1 },
    { u: [0.5, 0, 0], want: 2 },
    { u: [0.5, 0.5, 0.5], want: 8 },
    { u: [1, 0, 0], want: 100 }, // clamped below 1: finite
  ];
  for (const c of cases) it(`${c.u.join('/')} → ${c.want}`, () => assert.ok(Math.abs(volume(s(...c.u)) - c.want) < 1e-9));
});

describe('meanOf and spread', () => {
  it('mean over the window', () => assert.deepEqual(meanOf([s(1), s(0.2), s(0.4)], 2), s(0.30000000000000004)));
  it('no samples', () => assert.equal(meanOf([], 3), undefined));
  it('spread of equal volumes is 0', () => assert.equal(spread([2, 2, 2]), 0));
  it('spread', () => assert.equal(spread([1, 3]), 1));
});
