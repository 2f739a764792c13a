// SQL for the `vms` table. Rows map straight to the wire `Vm` (memoryMiB, vcpus and workload
// are read from the spec, so they can never disagree with it). A VM's live metrics are readings,
// not state: every heartbeat brings them again, so they stay in memory and are never written (a
// row rewritten per VM per heartbeat was 2,000 writes a second at 2,000 VMs, replicated to
// PostgreSQL — enough to cost the leader its lease). The `metrics` column stays for old files.
import type { Vm } from '../contracts/controller-api.js';
import type { Endpoint, VmMetrics, VmSpec, VmState } from '../contracts/vm-spec.js';
import type { Db } from './db.js';

interface Row {
  uuid: string;
  name: string;
  host: string;
  site: string;
  state: string;
  spec: string;
  metrics: string | null;
  endpoints: string;
  error: string | null;
  created_at: string;
  updated_at: string;
}

function fromRow(r: Row, metrics: VmMetrics | undefined): Vm {
  const spec = JSON.parse(r.spec) as VmSpec;
  return {
    name: r.name,
    uuid: r.uuid,
    state: r.state as VmState,
    host: r.host,
    site: r.site,
    memoryMiB: spec.memoryMiB,
    vcpus: spec.vcpus,
    workload: spec.workload,
    spec,
    ...(metrics ? { metrics } : {}),
    endpoints: JSON.parse(r.endpoints) as Endpoint[],
    ...(r.error !== null ? { error: r.error } : {}),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function toParams(vm: Vm): Record<string, unknown> {
  return {
    uuid: vm.uuid,
    name: vm.name,
    host: vm.host,
    site: vm.site,
    state: vm.state,
    spec: JSON.stringify(vm.spec),
    metrics: null,
    endpoints: JSON.stringify(vm.endpoints),
    error: vm.error ?? null,
    createdAt: vm.createdAt,
    updatedAt: vm.updatedAt,
  };
}

/** Fields that change after creation. `error: undefined` clears the error. */
export type VmPatch = Partial<Pick<Vm, 'host' | 'site' | 'state' | 'metrics' | 'endpoints' | 'error' | 'spec'>>;

/** Does the patch change anything but the live metrics? */
function changesRecord(before: Vm, patch: VmPatch): boolean {
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'metrics') continue;
    const differs = k === 'error' && v === undefined ? before.error !== undefined : JSON.stringify(before[k as keyof Vm]) !== JSON.stringify(v);
    if (differs) return true;
  }
  return false;
}

function withoutReadings(vm: Vm): Vm {
  const stored = { ...vm };
  delete stored.metrics;
  return stored;
}

export class VmsRepo {
  private readonly q;
  /** Live readings by VM name, from the heartbeats (see the top of the file). */
  private readonly metrics = new Map<string, VmMetrics>();
  /**
   * Every row, parsed, by name, in name order; undefined until read. Reads are the hot path —
   * every heartbeat reconciles against the whole list and every placement sums it; parsing 2,000
   * rows per heartbeat was three quarters of a busy controller's CPU — and this repo is the only
   * writer of its table, except a standby's follower, which calls invalidate() after each batch.
   */
  private rows: Map<string, Vm> | undefined;

  constructor(db: Db) {
    this.q = {
      insert: db.prepare(
        `INSERT INTO vms (uuid, name, host, site, state, spec, metrics, endpoints, error, created_at, updated_at)
         VALUES (@uuid, @name, @host, @site, @state, @spec, @metrics, @endpoints, @error, @createdAt, @updatedAt)`,
      ),
      update: db.prepare(
        `UPDATE vms SET host = @host, site = @site, state = @state, spec = @spec, metrics = @metrics,
           endpoints = @endpoints, error = @error, updated_at = @updatedAt WHERE uuid = @uuid`,
      ),
      list: db.prepare<[], Row>('SELECT * FROM vms ORDER BY name'),
      remove: db.prepare<[string]>('DELETE FROM vms WHERE name = ?'),
    };
  }

  /** The table changed under this repo (a standby applied the leader's changes): read it again. */
  invalidate(): void {
    this.rows = undefined;
  }

  private all(): Map<string, Vm> {
    this.rows ??= new Map(this.q.list.all().map((r) => [r.name, fromRow(r, undefined)]));
    return this.rows;
  }

  /** A copy for the caller (who may change it), with the live readings. */
  private view(vm: Vm): Vm {
    const metrics = this.metrics.get(vm.name);
    return { ...vm, ...(metrics ? { metrics } : {}) };
  }

  /** Throws better-sqlite3's SQLITE_CONSTRAINT_UNIQUE if the name or uuid is taken. */
  insert(vm: Vm): void {
    this.q.insert.run(toParams(vm));
    if (vm.metrics) this.metrics.set(vm.name, vm.metrics);
    if (!this.rows) return;
    const entries: [string, Vm][] = [...this.rows, [vm.name, withoutReadings(vm)]];
    this.rows = new Map(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  get(name: string): Vm | undefined {
    const vm = this.all().get(name);
    return vm ? this.view(vm) : undefined;
  }

  list(): Vm[] {
    return [...this.all().values()].map((vm) => this.view(vm));
  }

  /** Applies the patch and returns the record before and after, or undefined if it is gone. */
  update(name: string, patch: VmPatch, now = new Date().toISOString()): { before: Vm; after: Vm } | undefined {
    const before = this.get(name);
    if (!before) return undefined;
    if (patch.metrics) this.metrics.set(name, patch.metrics);
    if (!changesRecord(before, patch)) return { before, after: { ...before, ...(patch.metrics ? { metrics: patch.metrics } : {}) } };
    const after: Vm = { ...before, ...patch, updatedAt: now };
    if (patch.spec) Object.assign(after, { memoryMiB: patch.spec.memoryMiB, vcpus: patch.spec.vcpus, workload: patch.spec.workload });
    if ('error' in patch && patch.error === undefined) delete after.error;
    this.q.update.run(toParams(after));
    this.rows?.set(name, withoutReadings(after));
    return { before, after };
  }

  remove(name: string): boolean {
    this.metrics.delete(name);
    this.rows?.delete(name);
    return this.q.remove.run(name).changes > 0;
  }
}
