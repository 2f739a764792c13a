import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../../contracts/controller-api.js';
import type { CheckpointRecord, FailoverReport, RestoreRequest, StoredCheckpoint } from '../../contracts/dr.js';
import { withDefaults, type VmStatus } from '../../contracts/vm-spec.js';
import { LiveTask } from '../task.js';
import { nothingLost, testCopyName } from './checks.js';
import { runFailover, type FailoverInput, type FailoverIo } from './failover.js';

const spec = withDefaults({ name: 'web', memoryMiB: 64 }, '00000000-0000-4000-8000-000000000001');
const vm: Vm = { name: 'web', uuid: spec.uuid, state: 'running', host: 'h1', site: 'main', memoryMiB: 64, vcpus: 1, workload: 'idle', spec, endpoints: [], createdAt: 't', updatedAt: 't' };
const T0 = Date.parse('2026-01-01T00:01:00.000Z');
const stored = (seq: number, takenAt: string, guestSeq?: number): StoredCheckpoint => ({ vm: 'web', uuid: spec.uuid, seq, takenAt, committedAt: takenAt, memoryBytes: 64 << 20, diskBytes: 0, ...(guestSeq !== undefined ? { guestSeq } : {}) });
const status = (name: string, state: VmStatus['state'] = 'running'): VmStatus => ({ name, uuid: spec.uuid, state, spec: { ...spec, name }, endpoints: [] });
const beats = (...seqs: number[]) => seqs.map((s) => `ferry-heartbeat seq=${s} bad=0\n`).join('');
const task = () => new LiveTask({ id: 't', kind: 'dr.failover', target: 'vm/web' });

interface FakeOpts {
  stored?: StoredCheckpoint[];
  consoles?: Record<string, string>;
  failRestore?: boolean;
  statuses?: Record<string, VmStatus>;
  /** HTTP answers of forwarded guest ports, per `host/name`: a status, or undefined for no answer. */
  probes?: Record<string, number | undefined>;
}

function fakeIo(o: FakeOpts = {}) {
  const calls: string[] = [];
  const restores: RestoreRequest[] = [];
  const saved: FailoverReport[] = [];
  let seq = 10;
  const io: FailoverIo = {
    stored: async (host) => (calls.push(`stored ${host}`), o.stored ?? [stored(3, '2026-01-01T00:00:30.000Z', 40), stored(4, '2026-01-01T00:00:50.000Z', 60)]),
    checkpoint: async (from, to, leavePaused) => {
      calls.push(`checkpoint ${from}->${to}${leavePaused ? ' paused' : ''}`);
      const rec: CheckpointRecord = { vm: 'web', seq: ++seq, host: to, takenAt: new Date().toISOString(), committedAt: '', pauseMs: 5, durationMs: 100, memoryBytes: 64 << 20, diskBytes: 0, wireBytes: 1000, newBytes: 0, guestSeq: 70 };
      return rec;
    },
    restore: async (host, req) => {
      calls.push(`restore ${host}`);
      restores.push(req);
      if (o.failRestore) throw new Error('qemu-system-x86_64: cannot load state');
      return status(req.asName ?? req.vm);
    },
    status: async (host, name) => (calls.push(`status ${host} ${name}`), o.statuses?.[`${host}/${name}`]),
    console: async (host, name) => (calls.push(`console ${host} ${name}`), o.consoles?.[`${host}/${name}`] ?? beats(70, 71)),
    probe: async (host, name, guestPort) => {
      calls.push(`probe ${host} ${name} ${guestPort}`);
      const status = o.probes?.[`${host}/${name}`];
      return status === undefined ? { guestPort, answered: false, ms: 1, error: 'connection refused' } : { guestPort, answered: true, status, ms: 3 };
    },
    resume: async (host) => void calls.push(`resume ${host}`),
    discard: async (host, name) => void calls.push(`discard ${host} ${name}`),
    moved: (host) => void calls.push(`moved ${host}`),
    replication: () => ({ name: 'replication untouched', passed: true, detail: 'x' }),
    save: (r) => void saved.push(r),
    log: () => {},
  };
  return { io, calls, restores, saved };
}

const input = (o: Partial<FailoverInput>): FailoverInput => ({ id: 'r1', kind: 'unplanned', vm, from: 'h1', to: 'h3', commandAt: T0, heartbeatWaitMs: 300, ...o });
const names = (r: FailoverReport) => Object.fromEntries(r.checks.map((c) => [c.name, c.passed]));

describe('unplanned failover', () => {
  it('restores the newest checkpoint the DR host holds and moves the record', async () => {
    const { io, calls, restores, saved } = fakeIo();
    const r = await runFailover(io, input({}), task());
    assert.deepEqual(restores, [{ vm: 'web', seq: 4 }]);
    assert.deepEqual(calls.slice(0, 3), ['stored h3', 'restore h3', 'moved h3']);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.checkpointSeq, 4);
    assert.equal(r.dataWindowMs, 10_000, 'command 10 s after the checkpoint was taken');
    assert.deepEqual(names(r), { heartbeat: true, memory: true });
    assert.deepEqual(saved, [r]);
  });

  it('a heartbeat that restarted below the checkpoint fails the report (the VM still moved)', async () => {
    const { io, calls, saved } = fakeIo({ consoles: { 'h3/web': beats(1, 2) } });
    await assert.rejects(runFailover(io, input({}), task()), (e: Error & { code?: string }) => e.code === 'CHECK_FAILED' && /seq=1; the checkpoint was taken at seq=60/.test(e.message));
    assert.ok(calls.includes('moved h3'));
    assert.equal(saved[0]?.outcome, 'failed');
    assert.equal(names(saved[0]!).heartbeat, false);
  });

  it('nothing to restore: refused, reported, nothing moved', async () => {
    const { io, calls, saved } = fakeIo({ stored: [] });
    await assert.rejects(runFailover(io, input({}), task()), /holds no committed checkpoint/);
    assert.deepEqual(calls, ['stored h3']);
    assert.equal(saved[0]?.error?.code, 'INVALID_STATE');
  });

  it('no heartbeat within the wait: the check fails and says so', async () => {
    const { io, saved } = fakeIo({ consoles: { 'h3/web': 'booting\n' } });
    await assert.rejects(runFailover(io, input({}), task()), /no heartbeat line/);
    assert.equal(saved[0]?.outcome, 'failed');
  });

  it('a guest without the demo heartbeat is checked by its state only', async () => {
    const other = { ...vm, spec: { ...spec, boot: { kind: 'disk' as const } } };
    const { io, calls } = fakeIo();
    const r = await runFailover(io, input({ vm: other }), task());
    assert.deepEqual(names(r), { running: true });
    assert.ok(!calls.some((c) => c.startsWith('console')));
  });

  it('a guest without the demo heartbeat, where health can be read: the report has what was seen, waited for until it passes', async () => {
    const other = { ...vm, spec: { ...spec, boot: { kind: 'disk' as const } } };
    const { io } = fakeIo();
    let reads = 0;
    io.health = async () => {
      reads++;
      const up = reads >= 2; // the service comes up after the first look
      return { ok: up, items: [{ name: 'qemu', ok: true, detail: 'QEMU reports running' }, { name: 'port 6379', ok: up, detail: up ? 'open' : 'closed at once' }] };
    };
    const r = await runFailover(io, input({ vm: other }), task());
    assert.deepEqual(names(r), { qemu: true, 'port 6379': true });
    assert.equal(reads, 2);
    io.health = async () => ({ ok: false, items: [{ name: 'guest-agent', ok: false, detail: 'no answer within 5000 ms' }] });
    await assert.rejects(runFailover(io, input({ vm: other }), task()), /guest-agent|no answer/);
  });
});

describe('planned failover and failback', () => {
  it('warm-up, final paused checkpoint, restore, discard the source, move; nothing lost', async () => {
    const { io, calls, restores } = fakeIo({ consoles: { 'h1/web': beats(69, 70), 'h3/web': beats(71, 72) } });
    const r = await runFailover(io, input({ kind: 'planned', warmUp: true }), task());
    assert.deepEqual(calls, ['status h3 web', 'checkpoint h1->h3', 'checkpoint h1->h3 paused', 'console h1 web', 'restore h3', 'discard h1 web', 'moved h3', 'console h3 web']);
    assert.deepEqual(restores, [{ vm: 'web', seq: 12 }]);
    assert.equal(r.outcome, 'succeeded');
    assert.equal(r.wireBytes, 2000);
    assert.equal(r.dataWindowMs, 0);
    assert.deepEqual(names(r), { heartbeat: true, memory: true, 'nothing lost': true, 'source discarded': true });
  });

  it('a destination that goes on from an older point is caught: the seconds lost are the data window', async () => {
    const { io, saved } = fakeIo({ consoles: { 'h1/web': beats(69, 70), 'h3/web': beats(68, 69) } });
    await assert.rejects(runFailover(io, input({ kind: 'planned' }), task()), /nothing lost: the last heartbeat at the source was seq=70, the first at the destination seq=68/);
    assert.equal(saved[0]?.dataWindowMs, 3000);
  });

  it('a restore that fails resumes the source, which stays the VM of record', async () => {
    const { io, calls } = fakeIo({ failRestore: true });
    await assert.rejects(runFailover(io, input({ kind: 'planned' }), task()), /cannot load state/);
    assert.deepEqual(calls.slice(-2), ['restore h3', 'resume h1']);
    assert.ok(!calls.some((c) => c.startsWith('discard') || c.startsWith('moved')));
  });

  it('failback: a stopped copy left from before at home is deleted first; a running one is refused', async () => {
    const stale = fakeIo({ statuses: { 'h1/web': status('web', 'crashed') }, consoles: { 'h3/web': beats(70), 'h1/web': beats(71, 72) } });
    const r = await runFailover(stale.io, input({ kind: 'failback', from: 'h3', to: 'h1', warmUp: true }), task());
    assert.deepEqual(stale.calls.slice(0, 3), ['status h1 web', 'discard h1 web', 'checkpoint h3->h1']);
    assert.equal(r.kind, 'failback');
    const live = fakeIo({ statuses: { 'h1/web': status('web', 'running') } });
    await assert.rejects(runFailover(live.io, input({ kind: 'failback', from: 'h3', to: 'h1' }), task()), /from before is running on h1/);
    assert.ok(!live.calls.some((c) => c.startsWith('checkpoint')));
  });

  it('measures the data window from the heartbeat counters', () => {
    assert.deepEqual(nothingLost(70, 71), { check: { name: 'nothing lost', passed: true, detail: 'the last heartbeat at the source was seq=70, the first at the destination seq=71' }, dataWindowMs: 0 });
    assert.equal(nothingLost(70, 75).check.passed, true, 'the first poll came late: still nothing lost');
    assert.equal(nothingLost(73, 71).dataWindowMs, 3000);
    assert.equal(nothingLost(73, 71).check.passed, false);
    assert.equal(nothingLost(undefined, 73).check.passed, true);
  });
});

describe('DR test', () => {
  it('an isolated copy under another name, checked, then torn down; production looked at, not touched', async () => {
    const { io, calls, restores } = fakeIo({ statuses: { 'h1/web': status('web') }, consoles: { 'h3/web-drtest-1': beats(60, 61) } });
    const r = await runFailover(io, input({ kind: 'test', testName: 'web-drtest-1' }), task());
    assert.deepEqual(restores, [{ vm: 'web', seq: 4, asName: 'web-drtest-1', isolated: true }]);
    assert.equal(calls.at(-1), 'discard h3 web-drtest-1');
    assert.ok(!calls.some((c) => c.startsWith('moved') || c.startsWith('checkpoint') || c === 'discard h1 web'));
    assert.deepEqual(names(r), { heartbeat: true, memory: true, 'production untouched': true, 'torn down': true, 'replication untouched': true });
    assert.equal(r.outcome, 'succeeded');
  });

  it('a VM serving http: the copy must answer on its forwarded port', async () => {
    const httpVm: Vm = { ...vm, workload: 'http', spec: { ...vm.spec, workload: 'http', nics: [{ network: 'user', forwardPorts: [80] }] } };
    const consoles = { 'h3/web-drtest-3': beats(60, 61) };
    const ok = fakeIo({ statuses: { 'h1/web': status('web') }, consoles, probes: { 'h3/web-drtest-3': 200 } });
    const r = await runFailover(ok.io, input({ kind: 'test', testName: 'web-drtest-3', vm: httpVm }), task());
    assert.equal(names(r)['service answered'], true);
    assert.match(r.checks.find((c) => c.name === 'service answered')!.detail, /guest port 80 of web-drtest-3 answered HTTP 200/);
    const silent = fakeIo({ statuses: { 'h1/web': status('web') }, consoles });
    const bad = await runFailover(silent.io, input({ kind: 'test', testName: 'web-drtest-3', vm: httpVm }), task()).catch((e: unknown) => e);
    const report = silent.saved.at(-1)!;
    assert.equal(names(report)['service answered'], false, JSON.stringify(report.checks));
    assert.equal(report.outcome, 'failed', String(bad));
    assert.equal(silent.calls.at(-1), 'discard h3 web-drtest-3');
  });

  it('tears the copy down even when the restore fails', async () => {
    const { io, calls, saved } = fakeIo({ failRestore: true });
    await assert.rejects(runFailover(io, input({ kind: 'test', testName: 'web-drtest-2' }), task()), /cannot load state/);
    assert.equal(calls.at(-1), 'discard h3 web-drtest-2');
    assert.deepEqual(names(saved[0]!), { 'torn down': true, 'replication untouched': true });
  });

  it('names copies that are valid VM names', () => {
    assert.equal(testCopyName('web', 3), 'web-drtest-3');
    const long = testCopyName(`a${'b'.repeat(62)}`, 12);
    assert.equal(long.length, 63);
    assert.ok(long.endsWith('-drtest-12'));
  });
});
