import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { withDefaults } from '../../contracts/vm-spec.js';
import type { Vm } from '../../contracts/controller-api.js';
import type { MigrationProgress, MigrationRecord, OutgoingMigrationRequest } from '../../contracts/migration.js';
import { LiveTask } from '../task.js';
import { runMigration, type MigrationInput, type MigrationIo } from './orchestrator.js';

const spec = withDefaults({ name: 'web', memoryMiB: 64 }, '00000000-0000-4000-8000-000000000001');
const vm: Vm = { name: 'web', uuid: spec.uuid, state: 'running', host: 'h1', site: 'main', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't' };
const inp: MigrationInput = { id: 'mig-00000001', vm, to: 'h2', targetDataUrl: 'ferry-wire://x', planner: { vm: 'web', from: 'h1', to: 'h2', maxDowntimeMs: 300, strategy: 'auto', transport: 'auto' } };
const prog = (o: Partial<MigrationProgress>): MigrationProgress => ({ id: inp.id, role: 'source', state: 'active', qemuStatus: 'active', percent: 0, rounds: 1, memoryBytes: 64 << 20, remainingBytes: 0, streamBytes: 0, wireBytes: 0, dirtyRateBytesPerSec: 0, switchedToPostcopy: false, ...o });

function fakeIo(o: { reports?: MigrationProgress[]; failCommitTarget?: boolean; failCommitSource?: boolean; listenPort?: number | null } = {}) {
  const calls: string[] = [];
  const outgoing: OutgoingMigrationRequest[] = [];
  const saved: MigrationRecord[] = [];
  const reports = [...(o.reports ?? [prog({ percent: 60 }), prog({ percent: 100, state: 'completed', qemuStatus: 'completed', rounds: 3, downtimeMs: 12, totalMs: 900 })])];
  const io: MigrationIo = {
    measure: async () => (calls.push('measure'), { memoryBytes: 64 << 20, dirtyRateBytesPerSec: 0, linkBytesPerSec: 1 << 30, rttMs: 1 }),
    incoming: async (req) => {
      calls.push('incoming');
      const port = o.listenPort === undefined ? 45678 : o.listenPort;
      return prog({ role: 'target', state: 'reserved', ...(req.transport === 'direct' && port !== null ? { listenPort: port } : {}) });
    },
    outgoing: async (req) => (calls.push('outgoing'), outgoing.push(req), prog({})),
    sourceProgress: async () => (calls.push('progress'), reports.shift() ?? prog({ state: 'completed', percent: 100 })),
    targetProgress: async () => (calls.push('target-progress'), prog({ role: 'target', state: 'completed' })),
    commitTarget: async () => {
      calls.push('commit-target');
      if (o.failCommitTarget) throw new Error('vm web is paused at the target, not running');
      return prog({ role: 'target', state: 'committed' });
    },
    commitSource: async () => {
      calls.push('commit-source');
      if (o.failCommitSource) throw new Error('source unreachable');
    },
    abortSource: async (targetGone) => (calls.push(targetGone ? 'abort-source-target-gone' : 'abort-source'), prog({ state: 'aborted' })),
    abortTarget: async () => (calls.push('abort-target'), prog({ role: 'target', state: 'aborted' })),
    targetHoldsVm: async () => false,
    cleanupTarget: () => void calls.push('cleanup-target'),
    pause: async () => undefined,
    waiting: () => undefined,
    activate: async () => void calls.push('activate'),
    save: (r) => void saved.push(r),
    log: () => {},
  };
  return { io, calls, saved, outgoing };
}

describe('migration orchestration', () => {
  it('runs the steps in order and returns the record', async () => {
    const { io, calls, saved } = fakeIo();
    const t = new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' });
    const rec = await runMigration(io, inp, t);
    assert.deepEqual(calls, ['measure', 'incoming', 'outgoing', 'progress', 'progress', 'target-progress', 'commit-target', 'commit-source', 'activate']);
    assert.equal(rec.outcome, 'succeeded');
    assert.equal(rec.downtimeMs, 12);
    assert.equal(rec.totalMs, 900);
    assert.deepEqual([...new Set(saved.map((r) => r.step))], ['pre-migration', 'reservation', 'initial-transfer', 'stop-and-copy', 'commitment', 'activation']);
  });

  it('direct transport: the port the target QEMU listens on goes to the source', async () => {
    const { io, outgoing } = fakeIo({ listenPort: 41234 });
    await runMigration(io, inp, new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' }));
    assert.equal(outgoing[0]?.transport, 'direct');
    assert.equal(outgoing[0]?.targetDirectPort, 41234);
  });

  it('direct transport without a port from the target: rolls back before any byte moves', async () => {
    const { io, calls } = fakeIo({ listenPort: null });
    await assert.rejects(runMigration(io, inp, new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' })), /named no port/);
    assert.deepEqual(calls, ['measure', 'incoming', 'abort-source', 'cleanup-target']);
  });

  it('a failure reported by the source rolls back (the source resumes, the target is cleaned up) and never activates', async () => {
    const { io, calls, saved } = fakeIo({ reports: [prog({ state: 'failed', error: { code: 'QEMU_FAILED', message: 'Broken pipe' } })] });
    const t = new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' });
    await assert.rejects(runMigration(io, inp, t), /Broken pipe/);
    assert.ok(calls.includes('abort-source') && calls.includes('cleanup-target') && !calls.includes('activate') && !calls.includes('commit-target'));
    assert.deepEqual(saved.at(-1)?.error, { code: 'QEMU_FAILED', message: 'Broken pipe' });
    assert.equal(saved.at(-1)?.outcome, 'failed');
  });

  it('a code the agent reports that Ferry does not declare becomes INTERNAL; the words stay', async () => {
    const { io, saved } = fakeIo({ reports: [prog({ state: 'failed', error: { code: 'EPIPE', message: 'Broken pipe' } })] });
    await assert.rejects(runMigration(io, inp, new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' })), { code: 'INTERNAL', message: 'Broken pipe' });
    assert.deepEqual(saved.at(-1)?.error, { code: 'INTERNAL', message: 'Broken pipe' });
  });

  it('a source that reports failure without a cause: MIGRATION_FAILED', async () => {
    const { io, saved } = fakeIo({ reports: [prog({ state: 'failed' })] });
    await assert.rejects(runMigration(io, inp, new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' })), { code: 'MIGRATION_FAILED' });
    assert.equal(saved.at(-1)?.error?.code, 'MIGRATION_FAILED');
  });

  it('a target that refuses the commit and says its copy is gone: the source resumes (told targetGone); the record stays at the source', async () => {
    const { io, calls, saved } = fakeIo({ failCommitTarget: true });
    let asked = 0;
    io.targetProgress = async () => (calls.push('target-progress'), prog({ role: 'target', ...(asked++ === 0 ? { state: 'completed' } : { state: 'aborted', error: { code: 'ABORTED', message: 'no commit within 60000 ms' } }) }));
    await assert.rejects(runMigration(io, inp, new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' })), /no commit within 60000 ms/);
    assert.deepEqual(calls.slice(-3), ['commit-target', 'target-progress', 'abort-source-target-gone']);
    assert.ok(!calls.includes('activate') && !calls.includes('commit-source'));
    assert.equal(saved.at(-1)?.outcome, 'failed');
  });

  it('after the target committed, a source that cannot discard its copy does not undo the move', async () => {
    const { io, calls } = fakeIo({ failCommitSource: true });
    const rec = await runMigration(io, inp, new LiveTask({ id: 't', kind: 'vm.migrate', target: 'vm/web' }));
    assert.equal(rec.outcome, 'succeeded');
    assert.ok(calls.includes('activate') && !calls.some((c) => c.startsWith('abort')));
  });
});

describe('transfer steps from agent reports', () => {
  it("derives the step from QEMU's status, the state and the rounds", async () => {
    const { transferStep, transferPercent } = await import('./steps.js');
    assert.equal(transferStep(prog({ qemuStatus: 'active', rounds: 3 })), 'iterative-transfer');
    assert.equal(transferStep(prog({ qemuStatus: 'active', rounds: 2 })), 'iterative-transfer');
    assert.equal(transferStep(prog({ qemuStatus: 'completed', state: 'completed' })), 'stop-and-copy');
    assert.equal(transferStep(prog({ qemuStatus: 'completed', state: 'active' })), 'stop-and-copy');
    assert.equal(transferStep(prog({ qemuStatus: 'device', rounds: 4 })), 'stop-and-copy');
    assert.equal(transferStep(prog({ qemuStatus: 'pre-switchover', rounds: 1 })), 'stop-and-copy');
    assert.equal(transferStep(prog({ qemuStatus: 'setup', rounds: 1 })), 'initial-transfer');
    assert.equal(transferStep(prog({ qemuStatus: 'mirroring-disks', rounds: 0 })), 'initial-transfer');
    assert.equal(transferStep(prog({ qemuStatus: 'setup', rounds: 4 })), 'iterative-transfer');
    // Post-copy: pages still flow while the VM runs at the target; the rounds before it name the step.
    assert.equal(transferStep(prog({ qemuStatus: 'postcopy-active', rounds: 1, switchedToPostcopy: true })), 'initial-transfer');
    assert.equal(transferStep(prog({ qemuStatus: 'postcopy-active', rounds: 3, switchedToPostcopy: true })), 'iterative-transfer');
    assert.equal(transferPercent(prog({ percent: 50 })), 50);
    assert.equal(transferPercent(prog({ percent: 100 })), 90);
  });
});
