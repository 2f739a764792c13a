// The migration half of the fake agent (src/contracts/migration.ts agent routes): no QEMU and no
// data plane, just the states a real agent goes through, so the controller's orchestration can
// be tested. A source advances `stepPercent` per progress poll and completes at 100; a test
// can make the transfer fail at some percent with a given error. Requests arrive validated and
// replies are checked against the route table (contract-server.ts).
import type { FailureCode } from '../../contracts/errors.js';
import type { IncomingMigrationRequest, MeasureRequest, MeasureResult, MigrationProgress, OutgoingMigrationRequest } from '../../contracts/migration.js';
import type { VmStatus } from '../../contracts/vm-spec.js';
import { fail, ok, type FakeReply } from './contract-server.js';

type FakeSession = MigrationProgress & { vm: string; incoming?: IncomingMigrationRequest };

export class FakeMigrations {
  readonly sessions = new Map<string, FakeSession>();
  measure: Omit<MeasureResult, 'memoryBytes'> = { dirtyRateBytesPerSec: 1024 * 1024, linkBytesPerSec: 1024 ** 3, rttMs: 0.2 };
  stepPercent = 50;
  /** The transfer fails when it reaches this percent, with this error. */
  failAt: { percent: number; code: FailureCode; message: string } | undefined;

  constructor(private readonly vms: Map<string, VmStatus>) {}

  measureVm(req: MeasureRequest): FakeReply {
    const vm = this.vms.get(req.vm);
    if (!vm) return fail('NOT_FOUND', `no VM ${req.vm}`);
    return ok({ memoryBytes: vm.spec.memoryMiB * 1024 * 1024, ...this.measure });
  }

  incoming(req: IncomingMigrationRequest): FakeReply {
    const listen = req.transport === 'direct' ? { listenPort: 40000 + this.sessions.size } : {};
    this.sessions.set(req.migrationId, { ...blank(req.migrationId, 'target', req.spec.memoryMiB), ...listen, vm: req.spec.name, incoming: req });
    // Like a real agent, the target now reports the incoming copy (paused) in its heartbeats.
    this.vms.set(req.spec.name, { name: req.spec.name, uuid: req.spec.uuid, state: 'paused', spec: req.spec, endpoints: [] });
    return ok(this.view(req.migrationId));
  }

  outgoing(req: OutgoingMigrationRequest): FakeReply {
    const vm = this.vms.get(req.vm);
    if (!vm) return fail('NOT_FOUND', `no VM ${req.vm}`);
    if (req.transport === 'direct' && req.targetDirectPort === undefined) return fail('INVALID_REQUEST', 'transport direct needs targetDirectPort (body.targetDirectPort)');
    this.sessions.set(req.migrationId, { ...blank(req.migrationId, 'source', vm.spec.memoryMiB), vm: req.vm, state: 'active', qemuStatus: 'active' });
    return ok(this.view(req.migrationId));
  }

  progress(id: string): FakeReply {
    const s = this.sessions.get(id);
    if (!s) return noSession(id);
    if (s.role === 'source' && s.state === 'active') this.advance(s);
    // The target has received everything once asked (the fake has no stream to wait for).
    if (s.role === 'target' && s.state === 'reserved') Object.assign(s, { state: 'completed', qemuStatus: 'completed', percent: 100, remainingBytes: 0 });
    return ok(this.view(s.id));
  }

  commit(id: string): FakeReply {
    const s = this.sessions.get(id);
    if (!s) return noSession(id);
    if (s.role === 'target' && s.incoming) {
      const spec = s.incoming.spec;
      this.vms.set(spec.name, { name: spec.name, uuid: spec.uuid, state: 'running', spec, endpoints: [] });
    } else this.vms.delete(s.vm);
    s.state = 'committed';
    return ok(this.view(s.id));
  }

  /** Like the real source: once its QEMU completed, the VM resumes only with targetGone. */
  abort(id: string, opts: { targetGone?: boolean } = {}): FakeReply {
    const s = this.sessions.get(id);
    if (!s) return noSession(id);
    if (s.role === 'source' && s.state === 'completed' && !opts.targetGone) return fail('INVALID_STATE', `migration ${id}: completed -> aborted refused: the target may run the VM (abort with targetGone)`);
    if (s.state === 'committed' && s.role === 'target') return fail('INVALID_STATE', `migration ${id}: committed -> aborted refused: the VM runs here`);
    if (s.state !== 'committed') {
      s.state = 'aborted';
      if (s.role === 'target') this.vms.delete(s.vm);
    }
    return ok(this.view(s.id));
  }

  private advance(s: MigrationProgress): void {
    s.percent = Math.min(100, s.percent + this.stepPercent);
    s.rounds += 1;
    s.streamBytes += s.memoryBytes / 2;
    s.wireBytes += s.memoryBytes / 2 + 4096;
    s.remainingBytes = Math.max(0, s.memoryBytes * (1 - s.percent / 100));
    if (this.failAt && s.percent >= this.failAt.percent) {
      s.state = 'failed';
      s.error = { code: this.failAt.code, message: this.failAt.message };
      return;
    }
    if (s.percent >= 100) Object.assign(s, { state: 'completed', qemuStatus: 'completed', downtimeMs: 42, totalMs: 1234 });
  }

  private view(id: string): MigrationProgress {
    const p: Partial<FakeSession> = { ...this.sessions.get(id)! };
    delete p.vm;
    delete p.incoming;
    return p as MigrationProgress;
  }
}

function blank(id: string, role: 'source' | 'target', memoryMiB: number): MigrationProgress {
  const memoryBytes = memoryMiB * 1024 * 1024;
  return { id, role, state: 'reserved', qemuStatus: 'none', percent: 0, rounds: 0, memoryBytes, remainingBytes: memoryBytes, streamBytes: 0, wireBytes: 0, dirtyRateBytesPerSec: 1024 * 1024, switchedToPostcopy: false };
}

const noSession = (id: string): FakeReply => fail('NOT_FOUND', `no migration ${id}`);
