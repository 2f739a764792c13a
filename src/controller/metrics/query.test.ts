import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FerryError } from '../../contracts/errors.js';
import { formatMs, parseDurationMs, planQuery } from './query.js';

const refused = (fn: () => unknown, field: string) =>
  assert.throws(fn, (e: unknown) => e instanceof FerryError && e.code === 'INVALID_REQUEST' && e.message.startsWith(field));

describe('metrics: queries', () => {
  const tiers: [string, number, number | undefined, number, number][] = [
    // name, window, step, tier, step answered
    ['10 min: raw', 600_000, undefined, 0, 0],
    ['10 min with a 30 s step: raw re-bucketed', 600_000, 30_000, 0, 30_000],
    ['11 min: 10 s buckets', 660_000, undefined, 1, 10_000],
    ['6 h: 10 s buckets', 6 * 3_600_000, undefined, 1, 10_000],
    ['7 h: 5 min buckets', 7 * 3_600_000, undefined, 2, 300_000],
    ['14 days, 1 h step', 14 * 86_400_000, 3_600_000, 2, 3_600_000],
  ];
  for (const [name, w, step, tier, stepMs] of tiers) it(name, () => assert.deepEqual(planQuery(w, step), { tier, stepMs }));

  it('refuses what it cannot answer, naming the field', () => {
    refused(() => planQuery(15 * 86_400_000), 'querystring.window');
    refused(() => planQuery(0), 'querystring.window');
    refused(() => planQuery(3_600_000, 1000), 'querystring.step');
    refused(() => planQuery(600_000, 700_000), 'querystring.step');
  });

  it('durations', () => {
    assert.deepEqual(['90s', '10m', '1h', '2d', '500ms', '250'].map((d) => parseDurationMs(d, 'f')), [90_000, 600_000, 3_600_000, 172_800_000, 500, 250]);
    refused(() => parseDurationMs('1h30m', 'querystring.window'), 'querystring.window');
    refused(() => parseDurationMs('soon', 'querystring.step'), 'querystring.step');
    assert.deepEqual([600_000, 90_000, 1500, 172_800_000].map(formatMs), ['10m', '90s', '1500ms', '2d']);
  });
});
