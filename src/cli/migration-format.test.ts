import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Task } from '../contracts/controller-api.js';
import type { MigrationPlan, MigrationRecord } from '../contracts/migration.js';
import { formatPlan, formatRecord, progressBar } from './migration-format.js';

const task = (progress: number, message: string): Task => ({ id: 't', kind: 'vm.migrate', target: 'vm/web', state: 'running', progress, message, createdAt: 'x' });

test('progress bar', () => {
  assert.equal(progressBar(task(50, 'iterative-transfer: 50%, ETA 2 s'), 10), '[#####.....]  50% iterative-transfer: 50%, ETA 2 s');
  assert.equal(progressBar(task(100, 'done'), 4), '[####] 100% done');
});

test('a plan lists every candidate and marks the chosen one', () => {
  const c = (strategy: 'precopy' | 'postcopy' | 'hybrid', meets: boolean) => ({ strategy, predictedTotalMs: 2000, predictedDowntimeMs: 30, predictedWireBytes: 1 << 27, meetsMaxDowntime: meets, why: `${strategy} why` });
  const p: MigrationPlan = { vm: 'web', from: 'h1', to: 'h2', memoryBytes: 1 << 27, dirtyRateBytesPerSec: 1 << 24, linkBytesPerSec: 1 << 30, rttMs: 0.3, maxDowntimeMs: 300, transport: 'direct', candidates: [c('precopy', true), c('postcopy', true), c('hybrid', false)], chosen: c('precopy', true) };
  const out = formatPlan(p);
  assert.match(out, /^plan: web h1 -> h2/);
  assert.match(out, /precopy \*\s+2\.0 s\s+30 ms\s+128\.0 MiB\s+yes\s+precopy why/);
  assert.match(out, /hybrid\s+.*no/);
  assert.match(out, /chosen: precopy$/);
});

test('a record shows both downtimes, or says the observed one is missing', () => {
  const r: MigrationRecord = { id: 'm1', vm: 'web', from: 'h1', to: 'h2', strategy: 'precopy', transport: 'passthrough', outcome: 'succeeded', step: 'activation', rounds: 3, dirtyRateBytesPerSec: 0, predictedDowntimeMs: 20, predictedTotalMs: 900, downtimeMs: 42, observedDowntimeMs: 310, totalMs: 1500, memoryBytes: 1 << 27, streamBytes: 1 << 27, wireBytes: 1 << 26, switchedToPostcopy: false, startedAt: 'x' };
  assert.match(formatRecord(r), /downtime:\s+42 ms \(QEMU\), 310 ms observed/);
  const noObs: MigrationRecord = { ...r };
  delete noObs.observedDowntimeMs;
  assert.match(formatRecord(noObs), /not observed/);
});
