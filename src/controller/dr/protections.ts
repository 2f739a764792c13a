// The one place protection records change, so each change that matters is published on the
// event stream: `dr.state` when a protection appears, changes state or goes away, `dr.alarm`
// when its alarm is raised, changes its reason or clears, `dr.checkpoint` for each commit.
// `ageMs` is computed when a protection is read, never stored.
import type { CheckpointRecord, Protection, ProtectionState } from '../../contracts/dr.js';
import type { FailureSummary } from '../../contracts/errors.js';
import { NotFoundError } from '../errors.js';
import type { EventBus } from '../events.js';
import type { DrRepo, ProtectionMeta, ProtectionRow } from './repo.js';

export class Protections {
  constructor(
    readonly repo: DrRepo,
    private readonly bus: EventBus,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** The protection as the API shows it: with the age of its newest checkpoint now. */
  view(p: Protection): Protection {
    const taken = p.lastCheckpoint ? Date.parse(p.lastCheckpoint.takenAt) : NaN;
    return Number.isFinite(taken) ? { ...p, ageMs: Math.max(0, this.now() - taken) } : p;
  }

  list(): Protection[] {
    return this.repo.list().map((r) => this.view(r.protection));
  }

  row(vm: string): ProtectionRow {
    const r = this.repo.get(vm);
    if (!r) throw new NotFoundError(`protection of VM ${vm}`);
    return r;
  }

  get(vm: string): Protection {
    return this.view(this.row(vm).protection);
  }

  create(p: Protection, meta: ProtectionMeta): void {
    this.repo.insert(p, meta);
    this.bus.publish({ type: 'dr.state', vm: p.vm, protection: this.view(p) });
  }

  remove(vm: string): void {
    if (this.repo.remove(vm)) this.bus.publish({ type: 'dr.state', vm });
  }

  /**
   * Applies a change; publishes `dr.state` if the state, DR host or last error changed, and
   * `dr.alarm` if the alarm was raised, changed its reason or cleared.
   */
  change(vm: string, fn: (r: ProtectionRow) => ProtectionRow): ProtectionRow | undefined {
    const before = this.repo.get(vm)?.protection;
    const after = this.repo.update(vm, fn, new Date(this.now()).toISOString());
    if (!before || !after) return after;
    const a = after.protection;
    if (before.state !== a.state || before.targetHost !== a.targetHost || before.lastError?.at !== a.lastError?.at) {
      this.bus.publish({ type: 'dr.state', vm, protection: this.view(a) });
    }
    const reason = a.alarm?.reason;
    if (before.alarm?.reason !== reason) this.bus.publish({ type: 'dr.alarm', vm, raised: reason !== undefined, ...(reason !== undefined ? { reason } : {}) });
    return after;
  }

  /** A checkpoint committed; `atDrSite` is false for failback's reverse checkpoints. */
  committed(rec: CheckpointRecord, atDrSite: boolean): void {
    if (!this.repo.get(rec.vm)) return; // unprotected meanwhile: the copy is being freed
    this.repo.addCheckpoint(rec);
    this.bus.publish({ type: 'dr.checkpoint', checkpoint: rec });
    this.change(rec.vm, ({ protection: p, meta }) => {
      const next: Protection = { ...p, checkpoints: p.checkpoints + 1, bytesSent: p.bytesSent + rec.wireBytes };
      delete next.lastError;
      if (atDrSite) {
        next.lastCheckpoint = rec;
        if (p.state !== 'failed-over') next.state = this.now() - Date.parse(rec.takenAt) > p.rpoMs ? 'behind' : 'protected';
      }
      return { protection: next, meta };
    });
  }

  failed(vm: string, error: FailureSummary): void {
    this.change(vm, ({ protection, meta }) => ({ protection: { ...protection, lastError: { ...error, at: new Date(this.now()).toISOString() } }, meta }));
  }

  /** The scheduler's verdict: state and alarm. Writes (and publishes) only what changed. */
  schedule(vm: string, state: Exclude<ProtectionState, 'failed-over'>, alarm: string | undefined): void {
    const cur = this.repo.get(vm)?.protection;
    if (!cur || cur.state === 'failed-over') return;
    if (cur.state === state && cur.alarm?.reason === alarm) return;
    this.change(vm, ({ protection: p, meta }) => {
      const next: Protection = { ...p, state };
      if (alarm === undefined) delete next.alarm;
      else next.alarm = { since: p.alarm?.since ?? new Date(this.now()).toISOString(), reason: alarm };
      return { protection: next, meta };
    });
  }
}
