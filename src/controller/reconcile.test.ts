import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../contracts/controller-api.js';
import { withDefaults, type VmStatus } from '../contracts/vm-spec.js';
import { missingMessage, reconcile, type ReconcileInput } from './reconcile.js';

const U1 = '00000000-0000-4000-8000-000000000001';
const U2 = '00000000-0000-4000-8000-000000000002';
const rec = (name: string, uuid: string, host = 'h1', o: Partial<Vm> = {}): Vm => {
  const spec = withDefaults({ name, memoryMiB: 64 }, uuid);
  return { name, uuid, state: 'running', host, site: 'main', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't', ...o };
};
const st = (name: string, uuid: string, o: Partial<VmStatus> = {}): VmStatus => ({ name, uuid, state: 'running', spec: withDefaults({ name, memoryMiB: 64 }, uuid), endpoints: [], ...o });
const run = (o: Partial<ReconcileInput>) => reconcile({ host: 'h1', records: [], reported: [], busy: () => false, recentlyRemoved: () => false, ...o });

describe('reconcile', () => {
  it('takes the agent state for a known VM', () => {
    const reported = st('a', U1, { state: 'paused', error: 'x' });
    const out = run({ records: [rec('a', U1)], reported: [reported] });
    assert.deepEqual(out, [{ kind: 'update', name: 'a', patch: { state: 'paused', endpoints: [], error: 'x' }, status: reported }]);
  });
  it('leaves a busy VM to its task', () => {
    assert.deepEqual(run({ records: [rec('a', U1)], reported: [st('a', U1)], busy: () => true }), []);
    assert.deepEqual(run({ records: [rec('a', U1)], reported: [], busy: () => true }), []);
  });
  it('adopts an unknown VM unless it was just deleted', () => {
    assert.equal(run({ reported: [st('a', U1)] })[0]?.kind, 'adopt');
    assert.equal(run({ reported: [st('a', U1)], recentlyRemoved: (u) => u === U1 })[0]?.kind, 'ignore');
  });
  it('skips a DR test copy without a word: not adopted, not applied', () => {
    assert.deepEqual(run({ reported: [st('a-drtest-1', U2)], foreign: (n) => n === 'a-drtest-1' }), []);
  });
  it('ignores a VM whose name belongs to another VM, or a dead copy of one that lives on another host', () => {
    assert.equal(run({ records: [rec('a', U2)], reported: [st('a', U1)] })[0]?.kind, 'ignore');
    for (const state of ['stopped', 'crashed', 'suspended'] as const) assert.equal(run({ records: [rec('a', U1, 'h2')], reported: [st('a', U1, { state })] })[0]?.kind, 'ignore', state);
  });
  it('kills on sight a live copy of a VM that runs on another host now (its host was cut off and HA moved it)', () => {
    for (const state of ['running', 'paused', 'starting'] as const) {
      const out = run({ records: [rec('a', U1, 'h2')], reported: [st('a', U1, { state })] });
      assert.deepEqual(out.map((c) => c.kind), ['kill'], state);
      assert.equal(out[0]?.kind === 'kill' && out[0].uuid, U1);
    }
    assert.deepEqual(run({ records: [rec('a', U1, 'h2', { state: 'stopped' })], reported: [st('a', U1)] }).map((c) => c.kind), ['kill'], 'the VM of record is on h2 even when stopped');
    assert.ok(!run({ records: [rec('a', U1, 'h2')], reported: [st('a', U1)], busy: () => true }).some((c) => c.kind === 'kill'), 'not while a task holds the VM (it may be that move)');
  });
  it('notes a VM the host no longer reports, once', () => {
    assert.deepEqual(run({ records: [rec('a', U1), rec('b', U2, 'h2')] }), [{ kind: 'missing', name: 'a', error: missingMessage('h1') }]);
    assert.deepEqual(run({ records: [rec('a', U1, 'h1', { error: missingMessage('h1') })] }), []);
  });
});

describe('reconcile during a migration', () => {
  it("skips the target's incoming copy and leaves the record at its source", () => {
    const out = run({ host: 'h2', records: [rec('a', U1, 'h1')], reported: [st('a', U1, { state: 'paused' })], busy: () => true, movingTo: () => 'h2' });
    assert.deepEqual(out, []);
  });

  it("does not let the source's report move the record either (the task owns it)", () => {
    const out = run({ host: 'h1', records: [rec('a', U1, 'h1')], reported: [st('a', U1, { state: 'paused' })], busy: () => true, movingTo: () => 'h2' });
    assert.deepEqual(out, []);
  });

  it('a copy on another host with a different uuid is still ignored and logged', () => {
    const out = run({ host: 'h2', records: [rec('a', U1, 'h1')], reported: [st('a', U2)], movingTo: () => 'h2' });
    assert.equal(out[0]?.kind, 'ignore');
  });
});

it('a report older than one already applied is skipped, a newer one applied', () => {
  const rec = { name: 'a', uuid: 'u1', host: 'h1', state: 'paused' } as unknown as Vm;
  const old = { name: 'a', uuid: 'u1', state: 'running', endpoints: [], rev: 4 } as unknown as VmStatus;
  const base = { host: 'h1', records: [rec], busy: () => false, recentlyRemoved: () => false, stale: (st: VmStatus) => (st.rev ?? 0) < 5 };
  assert.deepEqual(reconcile({ ...base, reported: [old] }), []);
  const fresh = { ...old, state: 'paused', rev: 6 } as VmStatus;
  assert.deepEqual(reconcile({ ...base, reported: [fresh] }).map((c) => c.kind), ['update']);
});
