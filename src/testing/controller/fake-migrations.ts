// The migration half of the fake agent (src/contracts/migration.ts agent routes): no QEMU and no
// data plane, just the states a real agent goes through, so the controller's orchestration can
// be tested. A source advances `stepPercent` per progress poll and completes at 100; a test
// can make the transfer fail at some percent with a given error.
import type { IncomingMigrationRequest, MeasureResult, MigrationProgress, OutgoingMigrationRequest } from '../../contracts/migration.js';
import type { VmStatus } from '../../contracts/vm-spec.js';

type Reply = { status: number; body?: unknown };
type FakeSession = MigrationProgress & { vm: string; incoming?: IncomingMigrationRequest };

export class FakeMigrations {
  readonly sessions = new Map<string, FakeSession>();
  measure: Omit<MeasureResult, 'memoryBytes'> = { dirtyRateBytesPerSec: 1024 * 1024, linkBytesPerSec: 1024 ** 3, rttMs: 0.2 };
  stepPercent = 50;
  /** The transfer fails when it reaches this percent, with this error. */
  failAt: { percent: number; code: string; message: string } | undefined;

  constructor(private readonly vms: Map<string, VmStatus>) {}

  /** `parts` after /agent/v1/migrations; undefined if this is not a migration route. */
  handle(method: string, parts: string[], body: Record<string, unknown>): Reply {
    const [first, verb] = parts;
    if (method === 'POST' && first === 'measure') {
      const vm = this.vms.get(String(body.vm));
      if (!vm) return err(404, 'NOT_FOUND', `no VM ${String(body.vm)}`);
      return ok({ memoryBytes: vm.spec.memoryMiB * 1024 * 1024, ...this.measure });
    }
    if (method === 'POST' && first === 'incoming') {
      const req = body as unknown as IncomingMigrationRequest;
      const listen = req.transport === 'direct' ? { listenPort: 40000 + this.sessions.size } : {};
      this.sessions.set(req.migrationId, { ...blank(req.migrationId, 'target', req.spec.memoryMiB), ...listen, vm: req.spec.name, incoming: req });
      // Like a real agent, the target now reports the incoming copy (paused) in its heartbeats.
      this.vms.set(req.spec.name, { name: req.spec.name, uuid: req.spec.uuid, state: 'paused', spec: req.spec, endpoints: [] });
      return ok(this.view(req.migrationId));
    }
    if (method === 'POST' && first === 'outgoing') {
      const req = body as unknown as OutgoingMigrationRequest;
      const vm = this.vms.get(req.vm);
      if (!vm) return err(404, 'NOT_FOUND', `no VM ${req.vm}`);
      if (req.transport === 'direct' && req.targetDirectPort === undefined) return err(400, 'INVALID_REQUEST', 'transport direct needs targetDirectPort (body.targetDirectPort)');
      this.sessions.set(req.migrationId, { ...blank(req.migrationId, 'source', vm.spec.memoryMiB), vm: req.vm, state: 'active', qemuStatus: 'active' });
      return ok(this.view(req.migrationId));
    }
    const s = first ? this.sessions.get(first) : undefined;
    if (!s) return err(404, 'NOT_FOUND', `no migration ${first}`);
    if (method === 'GET' && verb === undefined) {
      if (s.role === 'source' && s.state === 'active') this.advance(s);
      // The target has received everything once asked (the fake has no stream to wait for).
      if (s.role === 'target' && s.state === 'reserved') Object.assign(s, { state: 'completed', qemuStatus: 'completed', percent: 100, remainingBytes: 0 });
      return ok(this.view(s.id));
    }
    if (method === 'POST' && verb === 'commit') {
      if (s.role === 'target' && s.incoming) {
        const spec = s.incoming.spec;
        this.vms.set(spec.name, { name: spec.name, uuid: spec.uuid, state: 'running', spec, endpoints: [] });
      } else this.vms.delete(s.vm);
      s.state = 'committed';
      return ok(this.view(s.id));
    }
    if (method === 'POST' && verb === 'abort') {
      if (s.state !== 'committed') {
        s.state = 'aborted';
        if (s.role === 'target') this.vms.delete(s.vm);
      }
      return ok(this.view(s.id));
    }
    return err(404, 'NOT_FOUND', `no route ${method} ${parts.join('/')}`);
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

const ok = (body: unknown): Reply => ({ status: 200, body });
const err = (status: number, code: string, message: string): Reply => ({ status, body: { error: { code, message } } });
