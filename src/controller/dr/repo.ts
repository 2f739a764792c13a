// SQL for the DR tables: protections, checkpoint records and failover reports, each kept as the
// wire record's JSON (the record is the contract; only the keys are queried). A protection also
// carries a little controller-only state (`meta`) that the API does not show.
import type { CheckpointRecord, FailoverReport, Protection } from '../../contracts/dr.js';
import type { Db } from '../db.js';
import { storedFailure } from '../errors.js';

/** Checkpoint records kept per VM (the DR store keeps only `keep` points in time; these are history). */
export const RECORDS_KEPT = 500;

export interface ProtectionMeta {
  /** While failed over: the host the VM ran on before, where failback brings it. */
  homeHost?: string;
  /** Since when the DR site has held no checkpoint of the VM's current life (protect, failback). */
  syncingSince: string;
  /**
   * The checkpoint job running now, noted before the agents are asked to start it: a controller
   * that takes over after this one died (a restart, or a new leader) aborts it on both hosts
   * before it replicates again (DrService.start), so the job is never left half-done.
   */
  checkpointInFlight?: { jobId: string; from: string; to: string };
}

export interface ProtectionRow {
  protection: Protection;
  meta: ProtectionMeta;
}

export class DrRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      insertP: db.prepare<[string, string, string]>('INSERT INTO dr_protections (vm, record, meta) VALUES (?, ?, ?)'),
      updateP: db.prepare<[string, string, string]>('UPDATE dr_protections SET record = ?, meta = ? WHERE vm = ?'),
      getP: db.prepare<[string], { record: string; meta: string }>('SELECT record, meta FROM dr_protections WHERE vm = ?'),
      listP: db.prepare<[], { record: string; meta: string }>('SELECT record, meta FROM dr_protections ORDER BY vm'),
      removeP: db.prepare<[string]>('DELETE FROM dr_protections WHERE vm = ?'),
      addC: db.prepare<[string, number, string]>('INSERT INTO dr_checkpoints (vm, checkpoint, record) VALUES (?, ?, ?)'),
      listC: db.prepare<[string, number], { record: string }>('SELECT record FROM dr_checkpoints WHERE vm = ? ORDER BY seq DESC LIMIT ?'),
      lastC: db.prepare<[string], { last: number | null }>('SELECT MAX(checkpoint) AS last FROM dr_checkpoints WHERE vm = ?'),
      pruneC: db.prepare<[string, string, number]>(
        'DELETE FROM dr_checkpoints WHERE vm = ? AND seq NOT IN (SELECT seq FROM dr_checkpoints WHERE vm = ? ORDER BY seq DESC LIMIT ?)',
      ),
      removeC: db.prepare<[string]>('DELETE FROM dr_checkpoints WHERE vm = ?'),
      addR: db.prepare<[string, string, string]>(
        'INSERT INTO dr_reports (id, vm, record) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record',
      ),
      listR: db.prepare<[number], { record: string }>('SELECT record FROM dr_reports ORDER BY seq DESC LIMIT ?'),
      listRByVm: db.prepare<[string, number], { record: string }>('SELECT record FROM dr_reports WHERE vm = ? ORDER BY seq DESC LIMIT ?'),
    };
  }

  /** Throws better-sqlite3's SQLITE_CONSTRAINT_PRIMARYKEY if the VM is protected already. */
  insert(p: Protection, meta: ProtectionMeta): void {
    this.q.insertP.run(p.vm, JSON.stringify(p), JSON.stringify(meta));
  }

  get(vm: string): ProtectionRow | undefined {
    const row = this.q.getP.get(vm);
    return row ? { protection: protectionOf(row.record), meta: JSON.parse(row.meta) as ProtectionMeta } : undefined;
  }

  list(): ProtectionRow[] {
    return this.q.listP.all().map((row) => ({ protection: protectionOf(row.record), meta: JSON.parse(row.meta) as ProtectionMeta }));
  }

  /**
   * Read, change, write in one synchronous step (so nothing else changes the row in between).
   * Returns the row after the change, or undefined if the VM is no longer protected.
   */
  update(vm: string, change: (r: ProtectionRow) => ProtectionRow, now = new Date().toISOString()): ProtectionRow | undefined {
    const before = this.get(vm);
    if (!before) return undefined;
    const after = change(before);
    const p: Protection = { ...after.protection, updatedAt: now };
    delete p.ageMs;
    this.q.updateP.run(JSON.stringify(p), JSON.stringify(after.meta), vm);
    return { protection: p, meta: after.meta };
  }

  remove(vm: string): boolean {
    return this.q.removeP.run(vm).changes > 0;
  }

  addCheckpoint(r: CheckpointRecord): void {
    this.q.addC.run(r.vm, r.seq, JSON.stringify(r));
    this.q.pruneC.run(r.vm, r.vm, RECORDS_KEPT);
  }

  /** Newest first. */
  checkpoints(vm: string, limit = 100): CheckpointRecord[] {
    return this.q.listC.all(vm, limit).map((row) => JSON.parse(row.record) as CheckpointRecord);
  }

  /** The highest checkpoint seq recorded for the VM. */
  lastSeq(vm: string): number | undefined {
    return this.q.lastC.get(vm)?.last ?? undefined;
  }

  removeCheckpoints(vm: string): void {
    this.q.removeC.run(vm);
  }

  saveReport(r: FailoverReport): void {
    this.q.addR.run(r.id, r.vm, JSON.stringify(r));
  }

  /** Newest first. */
  reports(vm: string | undefined, limit = 100): FailoverReport[] {
    const rows = vm === undefined ? this.q.listR.all(limit) : this.q.listRByVm.all(vm, limit);
    return rows.map((row) => reportOf(row.record));
  }
}

// Stored records, their failure codes made ours (an older controller kept an agent's code verbatim).
function protectionOf(json: string): Protection {
  const p = JSON.parse(json) as Protection;
  return p.lastError ? { ...p, lastError: storedFailure(p.lastError) } : p;
}

function reportOf(json: string): FailoverReport {
  const r = JSON.parse(json) as FailoverReport;
  return r.error ? { ...r, error: storedFailure(r.error) } : r;
}
