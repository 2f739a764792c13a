import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, blockedBy, decide, type ScheduleDecision, type ScheduleInput } from './scheduler.js';

const MiB = 1024 * 1024;
const T = 1_000_000; // "now" in the cases below
const base: ScheduleInput = { rpoMs: 30_000, syncingSince: T - 5_000, recent: [], now: T, running: false };

const cases: { name: string; in: Partial<ScheduleInput>; want: Partial<ScheduleDecision> & { alarmMatch?: RegExp } }[] = [
  { name: 'first checkpoint: start at once', in: {}, want: { startNow: true, state: 'syncing', dueAt: T - 5_000, alarm: undefined } },
  { name: 'first checkpoint already running', in: { running: true }, want: { startNow: false, state: 'syncing' } },
  {
    name: 'first checkpoint not committed within the RPO: alarm',
    in: { syncingSince: T - 31_000, running: true },
    want: { startNow: false, state: 'syncing', alarmMatch: /no checkpoint has committed within the RPO of 30 s/ },
  },
  {
    name: 'fresh checkpoint, fast link: wait until takenAt + rpo − 1.5 × expected',
    in: { newestTakenAt: T - 2_000, recent: [{ durationMs: 2_000, wireBytes: MiB }] },
    want: { startNow: false, state: 'protected', dueAt: T - 2_000 + 30_000 - 3_000, expectedMs: 2_000, alarm: undefined },
  },
  {
    name: 'due: start',
    in: { newestTakenAt: T - 27_000, recent: [{ durationMs: 2_000, wireBytes: MiB }] },
    want: { startNow: true, state: 'protected', alarm: undefined },
  },
  {
    name: 'expected is the slowest of the last three',
    in: { newestTakenAt: T - 20_000, recent: [{ durationMs: 1_000, wireBytes: 0 }, { durationMs: 8_000, wireBytes: 0 }, { durationMs: 2_000, wireBytes: 0 }, { durationMs: 25_000, wireBytes: 0 }] },
    want: { startNow: true, expectedMs: 8_000, dueAt: T - 20_000 + 30_000 - 12_000 },
  },
  {
    name: 'never more often than the minimum interval',
    in: { newestTakenAt: T - 500, recent: [{ durationMs: 25_000, wireBytes: 0 }], lastStartAt: T - 500 },
    want: { startNow: false, dueAt: T + 500 },
  },
  {
    name: 'zero-loss mode (RPO 0): the next checkpoint starts as soon as one commits, with no RPO alarm',
    in: { rpoMs: 0, newestTakenAt: T - 6_000, recent: [{ durationMs: 5_000, wireBytes: 30 * MiB }], lastStartAt: T - 6_000 },
    want: { startNow: true, state: 'protected', alarm: undefined },
  },
  {
    name: 'zero-loss mode with failing checkpoints: the alarm says output is held',
    in: { rpoMs: 0, newestTakenAt: T - 20_000, recent: [{ durationMs: 5_000, wireBytes: 30 * MiB }], lastError: 'DR host h2 is full' },
    want: { state: 'protected', alarmMatch: /^zero-loss mode: checkpoints are failing \(DR host h2 is full\); the guest's output is held meanwhile, the newest committed checkpoint is 20 s old$/ },
  },
  {
    name: 'a checkpoint takes longer than the RPO: alarm says why, with size and rate',
    in: { newestTakenAt: T - 1_000, recent: [{ durationMs: 42_000, wireBytes: 180 * MiB }], rpoMs: 30_000 },
    want: { startNow: true, state: 'protected', alarmMatch: /^a checkpoint takes 42 s \(180\.0 MiB at 4\.3 MiB\/s\) but the RPO is 30 s$/ },
  },
  {
    name: 'older than the RPO while a checkpoint runs: behind, alarm',
    in: { newestTakenAt: T - 31_000, recent: [{ durationMs: 2_000, wireBytes: 0 }], running: true },
    want: { startNow: false, state: 'behind', alarmMatch: /older than the RPO of 30 s$/ },
  },
  {
    name: 'behind because attempts fail: the alarm names the failure; backoff holds the retry',
    in: { newestTakenAt: T - 40_000, recent: [{ durationMs: 2_000, wireBytes: 0 }], lastError: 'cannot reach h3', retryAt: T + 4_000 },
    want: { startNow: false, state: 'behind', dueAt: T + 4_000, alarmMatch: /the last attempt failed: cannot reach h3/ },
  },
  {
    name: 'back within the RPO: no alarm',
    in: { newestTakenAt: T - 1_000, recent: [{ durationMs: 20_000, wireBytes: 0 }], lastError: 'old failure' },
    want: { state: 'protected', alarm: undefined },
  },
  {
    name: 'blocked (VM paused): no start, alarm says why even within the RPO',
    in: { newestTakenAt: T - 1_000, blocked: 'VM web is paused: checkpoints wait until it runs' },
    want: { startNow: false, state: 'protected', alarm: 'VM web is paused: checkpoints wait until it runs' },
  },
];

describe('replication scheduler', () => {
  for (const c of cases) {
    it(c.name, () => {
      const d = decide({ ...base, ...c.in });
      const { alarmMatch, ...want } = c.want;
      for (const [k, v] of Object.entries(want)) assert.deepEqual(d[k as keyof ScheduleDecision], v, `${k} of ${JSON.stringify(d)}`);
      if (alarmMatch) assert.match(d.alarm ?? '', alarmMatch);
    });
  }

  it('backs off exponentially up to a minute', () => {
    assert.deepEqual([1, 2, 3, 4, 10].map(backoffMs), [1000, 2000, 4000, 8000, 60_000]);
  });

  it('says what blocks a protection', () => {
    const up = (h: string) => h !== 'h9';
    const b = (o: Partial<Parameters<typeof blockedBy>[0]>) => blockedBy({ vm: 'web', record: { state: 'running', host: 'h1' }, hostUp: up, targetHost: 'h3', targetDataUrl: 'ferry-wire://x', ...o });
    assert.equal(b({}), undefined);
    assert.match(b({ record: undefined }) ?? '', /no longer exists/);
    assert.match(b({ record: { state: 'stopped', host: 'h1' } }) ?? '', /is stopped/);
    assert.match(b({ record: { state: 'running', host: 'h9' } }) ?? '', /host h9 of VM web is down/);
    assert.match(b({ targetHost: 'h9' }) ?? '', /DR host h9 is down/);
    assert.match(b({ targetDataUrl: undefined }) ?? '', /no data endpoint/);
  });
});
