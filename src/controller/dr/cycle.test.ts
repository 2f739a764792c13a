import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withDefaults } from '../../contracts/vm-spec.js';
import type { CheckpointProgress, CheckpointRecord, ReceiveCheckpointRequest, SendCheckpointRequest } from '../../contracts/dr.js';
import type { FailureCode } from '../../contracts/errors.js';
import { runCheckpoint, toRecord, type CheckpointInput, type CheckpointIo } from './cycle.js';

const spec = withDefaults({ name: 'web', memoryMiB: 64 }, '00000000-0000-4000-8000-000000000001');
const inp: CheckpointInput = { jobId: 'job-00000001', spec, seq: 4, sourceHost: 'h1', targetHost: 'h3', targetDataUrl: 'ferry-wire://h3', keep: 3 };
const prog = (o: Partial<CheckpointProgress>): CheckpointProgress => ({ id: inp.jobId, role: 'source', vm: 'web', seq: 4, state: 'capturing', memoryBytes: 64 << 20, diskBytes: 0, bytesDone: 0, bytesTotal: 64 << 20, wireBytes: 0, newBytes: 0, ...o });
const committedSource = prog({ state: 'committed', takenAt: '2026-01-01T00:00:00.000Z', pauseMs: 12, guestSeq: 77, bytesDone: 64 << 20, wireBytes: 5000, newBytes: 0 });
const committedTarget = prog({ role: 'target', state: 'committed', wireBytes: 6000, newBytes: 4096 });

function fakeIo(o: { reports?: CheckpointProgress[]; target?: CheckpointProgress[]; failReceive?: boolean } = {}) {
  const calls: string[] = [];
  const saved: CheckpointRecord[] = [];
  const sent: SendCheckpointRequest[] = [];
  const received: ReceiveCheckpointRequest[] = [];
  const reports = [...(o.reports ?? [prog({ state: 'sending', bytesDone: 1 }), committedSource])];
  const target = [...(o.target ?? [committedTarget])];
  const io: CheckpointIo = {
    receive: async (req) => {
      calls.push('receive');
      received.push(req);
      if (o.failReceive) throw new Error('h3: disk full');
      return prog({ role: 'target', state: 'waiting' });
    },
    send: async (req) => (calls.push('send'), sent.push(req), prog({})),
    sourceJob: async () => (calls.push('source'), reports.shift() ?? committedSource),
    targetJob: async () => (calls.push('target'), target.shift() ?? committedTarget),
    abortBoth: async () => void calls.push('abort-both'),
    committed: (r) => void saved.push(r),
    log: () => {},
  };
  return { io, calls, saved, sent, received };
}

describe('checkpoint cycle', () => {
  it('receive, send, poll the source, confirm on the target, record', async () => {
    const { io, calls, saved, sent, received } = fakeIo();
    const rec = await runCheckpoint(io, { ...inp, leavePaused: true, bandwidthBytesPerSec: 1 << 20 }, new AbortController().signal);
    assert.deepEqual(calls, ['receive', 'send', 'source', 'source', 'target']);
    assert.deepEqual(received[0], { jobId: inp.jobId, vm: 'web', seq: 4, sourceHost: 'h1', spec, keep: 3 });
    assert.deepEqual(sent[0], { jobId: inp.jobId, vm: 'web', seq: 4, targetHost: 'h3', targetDataUrl: 'ferry-wire://h3', bandwidthBytesPerSec: 1 << 20, leavePaused: true });
    assert.deepEqual(saved, [rec]);
    assert.equal(rec.host, 'h3');
    assert.equal(rec.takenAt, '2026-01-01T00:00:00.000Z');
    assert.deepEqual([rec.pauseMs, rec.guestSeq, rec.wireBytes, rec.newBytes], [12, 77, 6000, 4096], 'pause and seq from the source, bytes from the target');
  });

  it('a source that fails: both sides aborted, the error verbatim, nothing recorded', async () => {
    const { io, calls, saved } = fakeIo({ reports: [prog({ state: 'failed', error: { code: 'WIRE_CONNECTION_LOST', message: 'peer closed the session' } })] });
    await assert.rejects(runCheckpoint(io, inp, new AbortController().signal), (e: Error & { code?: string }) => e.code === 'WIRE_CONNECTION_LOST' && /peer closed/.test(e.message));
    assert.equal(calls.at(-1), 'abort-both');
    assert.equal(saved.length, 0);
  });

  it('a code the agent reports that Ferry does not declare becomes INTERNAL; none at all, CHECKPOINT_FAILED', async () => {
    const undeclared = fakeIo({ reports: [prog({ state: 'failed', error: { code: 'WIRE_BROKEN' as FailureCode /* what an agent's JSON could carry */, message: 'peer closed the session' } })] });
    await assert.rejects(runCheckpoint(undeclared.io, inp, new AbortController().signal), { code: 'INTERNAL', message: 'peer closed the session' });
    const none = fakeIo({ reports: [prog({ state: 'failed' })] });
    await assert.rejects(runCheckpoint(none.io, inp, new AbortController().signal), { code: 'CHECKPOINT_FAILED' });
  });

  it('a target that reports failure after the source committed: aborted, not recorded', async () => {
    const { io, calls, saved } = fakeIo({ target: [prog({ role: 'target', state: 'failed', error: { code: 'STORE_FULL', message: 'ENOSPC' } })] });
    await assert.rejects(runCheckpoint(io, inp, new AbortController().signal), /ENOSPC/);
    assert.deepEqual(calls.slice(-2), ['target', 'abort-both']);
    assert.equal(saved.length, 0);
  });

  it('waits for a target that lags behind the source', async () => {
    const { io, saved } = fakeIo({ target: [prog({ role: 'target', state: 'sending' }), committedTarget] });
    await runCheckpoint(io, inp, new AbortController().signal);
    assert.equal(saved.length, 1);
  });

  it('a receive the DR host refuses aborts both (nothing may stay half set up)', async () => {
    const { io, calls } = fakeIo({ failReceive: true });
    await assert.rejects(runCheckpoint(io, inp, new AbortController().signal), /disk full/);
    assert.deepEqual(calls, ['receive', 'abort-both']);
  });

  it('an abort while polling aborts both and throws the abort reason', async () => {
    const { io, calls } = fakeIo({ reports: Array.from({ length: 100 }, () => prog({ state: 'sending' })) });
    const ac = new AbortController();
    const run = runCheckpoint(io, inp, ac.signal);
    setTimeout(() => ac.abort(new Error('unprotected')), 300);
    await assert.rejects(run, /unprotected/);
    assert.equal(calls.at(-1), 'abort-both');
  });

  it('records a takenAt even when neither side reported one', () => {
    const r = toRecord(inp, prog({ state: 'committed' }), committedTarget, 1500, new Date('2026-01-01T00:00:10.000Z'));
    assert.equal(r.takenAt, '2026-01-01T00:00:08.500Z');
    assert.equal(r.guestSeq, undefined);
    assert.equal(r.durationMs, 1500);
  });
});
