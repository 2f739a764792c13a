// The settling rules (settle.ts) against scripted agents: every answer, refusal and silence a
// real agent can give. What each test checks is the invariant: the source is told to resume
// (targetGone) only after the target said its copy is gone, and a committed target is never undone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FerryError } from '../../contracts/errors.js';
import type { MigrationProgress } from '../../contracts/migration.js';
import { commitTarget, rollBack, unanswered, type SettleIo } from './settle.js';

const hosts = { source: 'h1', target: 'h2' };
const prog = (o: Partial<MigrationProgress>): MigrationProgress => ({
  id: 'mig-1', role: 'target', state: 'active', qemuStatus: 'active', percent: 0, rounds: 1, memoryBytes: 1, remainingBytes: 0,
  streamBytes: 0, wireBytes: 0, dirtyRateBytesPerSec: 0, switchedToPostcopy: false, ...o,
});
const silent = (): never => {
  throw new FerryError('HOST_DOWN', 'host h2 does not answer');
};
const refused = (why: string): never => {
  throw new FerryError('INVALID_STATE', why);
};

type Answer<T> = T | (() => T);
/** An agent scripted call by call: each call takes the next answer (the last one repeats). */
function script<T>(answers: Answer<T>[]): () => Promise<T> {
  let i = 0;
  return async () => {
    const a = answers[Math.min(i++, answers.length - 1)]!;
    return typeof a === 'function' ? (a as () => T)() : a;
  };
}

function fakeIo(o: Partial<Record<'targetProgress' | 'commitTarget' | 'abortTarget' | 'abortSource' | 'abortSourceGone', Answer<MigrationProgress>[]>> & { holds?: boolean }) {
  const calls: string[] = [];
  const rec = <T>(name: string, f: () => Promise<T>) => async () => (calls.push(name), f());
  const src = script(o.abortSource ?? [prog({ role: 'source', state: 'aborted' })]);
  const gone = script(o.abortSourceGone ?? [prog({ role: 'source', state: 'aborted' })]);
  const io: SettleIo = {
    targetProgress: rec('target?', script(o.targetProgress ?? [prog({ state: 'aborted' })])),
    targetHoldsVm: rec('holds?', async () => o.holds ?? false),
    commitTarget: rec('commit', script(o.commitTarget ?? [prog({ state: 'committed' })])),
    abortTarget: rec('abort-target', script(o.abortTarget ?? [prog({ state: 'aborted' })])),
    abortSource: async (targetGone) => (calls.push(targetGone ? 'resume-source' : 'abort-source'), targetGone ? gone() : src()),
    pause: async () => void calls.push('pause'),
    waiting: () => undefined,
    log: () => undefined,
  };
  return { io, calls };
}

describe('settling a commit', () => {
  it('a lost commit reply: the target is asked and says committed; nothing is undone', async () => {
    const { io, calls } = fakeIo({ commitTarget: [silent], targetProgress: [prog({ state: 'committed' })] });
    assert.deepEqual(await commitTarget(io, hosts), { outcome: 'committed' });
    assert.deepEqual(calls, ['commit', 'target?']);
  });

  it('a silent target is asked until it answers; the source is not resumed meanwhile', async () => {
    const { io, calls } = fakeIo({ commitTarget: [silent], targetProgress: [silent, silent, prog({ state: 'committed' })] });
    assert.deepEqual(await commitTarget(io, hosts), { outcome: 'committed' });
    assert.deepEqual(calls, ['commit', 'target?', 'pause', 'target?', 'pause', 'target?']);
  });

  it('a target still paused awaiting the commit gets it again', async () => {
    const { io, calls } = fakeIo({ commitTarget: [silent, prog({ state: 'committed' })], targetProgress: [prog({ state: 'completed' })] });
    assert.deepEqual(await commitTarget(io, hosts), { outcome: 'committed' });
    assert.deepEqual(calls, ['commit', 'target?', 'pause', 'commit']);
  });

  it('a target whose commit timer discarded the VM: the source resumes, told targetGone', async () => {
    const { io, calls } = fakeIo({
      commitTarget: [() => refused('migration mig-1: aborted -> committing refused')],
      targetProgress: [prog({ state: 'aborted', error: { code: 'ABORTED', message: 'no commit within 60000 ms' } })],
    });
    const s = await commitTarget(io, hosts);
    assert.equal(s.outcome, 'rolled-back');
    assert.match(s.outcome === 'rolled-back' ? s.why : '', /no commit within/);
    assert.deepEqual(calls, ['commit', 'target?', 'resume-source']);
  });

  it('a restarted target that forgot the migration but runs the VM counts as committed', async () => {
    const { io, calls } = fakeIo({ commitTarget: [silent], targetProgress: [() => { throw new FerryError('NOT_FOUND', 'no migration'); }], holds: true });
    assert.deepEqual(await commitTarget(io, hosts), { outcome: 'committed' });
    assert.deepEqual(calls, ['commit', 'target?', 'holds?']);
  });

  it('a silent source is asked to resume until it answers', async () => {
    const { io, calls } = fakeIo({ commitTarget: [() => refused('aborted')], targetProgress: [prog({ state: 'aborted' })], abortSourceGone: [silent, prog({ role: 'source', state: 'aborted' })] });
    assert.equal((await commitTarget(io, hosts)).outcome, 'rolled-back');
    assert.deepEqual(calls, ['commit', 'target?', 'resume-source', 'pause', 'resume-source']);
  });
});

describe('rolling back', () => {
  it('a source whose QEMU had not completed resumes by itself; the target is not waited for', async () => {
    const { io, calls } = fakeIo({});
    assert.deepEqual(await rollBack(io, hosts, 'link broke'), { outcome: 'rolled-back', why: 'link broke' });
    assert.deepEqual(calls, ['abort-source']);
  });

  it('a completed source refuses; the target aborts; then the source resumes with targetGone', async () => {
    const { io, calls } = fakeIo({ abortSource: [() => refused('QEMU completed the migration')] });
    assert.equal((await rollBack(io, hosts, 'aborted by the user')).outcome, 'rolled-back');
    assert.deepEqual(calls, ['abort-source', 'abort-target', 'resume-source']);
  });

  it('a target that committed meanwhile refuses the abort: the migration goes forward, the source is never resumed', async () => {
    const { io, calls } = fakeIo({
      abortSource: [() => refused('QEMU completed the migration')],
      abortTarget: [() => refused('vm runs here')],
      targetProgress: [prog({ state: 'committed' })],
    });
    assert.deepEqual(await rollBack(io, hosts, 'commit reply lost'), { outcome: 'committed' });
    assert.ok(!calls.includes('resume-source'));
  });

  it('a silent source and a silent target: nobody is resumed until the target answers', async () => {
    const { io, calls } = fakeIo({ abortSource: [silent], abortTarget: [silent, silent, prog({ state: 'aborted' })] });
    assert.equal((await rollBack(io, hosts, 'controller restarted')).outcome, 'rolled-back');
    assert.deepEqual(calls, ['abort-source', 'abort-target', 'pause', 'abort-target', 'pause', 'abort-target', 'resume-source']);
  });

  it('post-copy: the guest switched to the target, so the migration waits for the last pages and commits', async () => {
    const { io, calls } = fakeIo({
      abortSource: [() => refused('switched to post-copy')],
      abortTarget: [() => refused('vm runs here')],
      targetProgress: [prog({ state: 'active', switchedToPostcopy: true }), prog({ state: 'completed', switchedToPostcopy: true })],
    });
    assert.deepEqual(await rollBack(io, hosts, 'controller restarted'), { outcome: 'committed' });
    assert.ok(calls.includes('commit') && !calls.includes('resume-source'));
  });

  it('a migration the source never started: nothing to resume', async () => {
    const { io, calls } = fakeIo({ abortSource: [() => { throw new FerryError('NOT_FOUND', 'no migration'); }] });
    assert.equal((await rollBack(io, hosts, 'reservation failed')).outcome, 'rolled-back');
    assert.deepEqual(calls, ['abort-source']);
  });

  it('shutting down ends the waiting (the record stays running for the next start)', async () => {
    const { io } = fakeIo({ abortSource: [silent], abortTarget: [silent] });
    io.pause = async () => {
      throw new FerryError('ABORTED', 'the controller is shutting down');
    };
    await assert.rejects(rollBack(io, hosts, 'x'), /shutting down/);
  });
});

describe('what counts as no answer', () => {
  it('unreachable and timed out do; a refusal or not-found does not', () => {
    assert.equal(unanswered(new FerryError('HOST_DOWN', 'x')), true);
    assert.equal(unanswered(new FerryError('TIMEOUT', 'x')), true);
    assert.equal(unanswered(new Error('socket hang up')), true);
    assert.equal(unanswered(new FerryError('INVALID_STATE', 'x')), false);
    assert.equal(unanswered(new FerryError('NOT_FOUND', 'x')), false);
  });
});
