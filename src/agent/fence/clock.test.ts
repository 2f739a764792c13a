import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { monoNowMs } from './clock.js';

test('CLOCK_MONOTONIC readings of two processes are comparable (the feed crosses processes)', () => {
  const before = monoNowMs();
  const child = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(Number(process.hrtime.bigint() / 1000n) / 1000))'], { encoding: 'utf8' }));
  const after = monoNowMs();
  assert.ok(before <= child && child <= after, `parent ${before} <= child ${child} <= parent ${after}`);
});

test('a wall-clock step does not move the lease clock', () => {
  const realNow = Date.now;
  try {
    const a = monoNowMs();
    Date.now = () => realNow() - 3_600_000; // stepped back an hour
    const b = monoNowMs();
    Date.now = () => realNow() + 3_600_000; // and forward an hour
    const c = monoNowMs();
    assert.ok(a <= b && b <= c && c - a < 60_000, `${a} ${b} ${c}`);
  } finally {
    Date.now = realNow;
  }
});
