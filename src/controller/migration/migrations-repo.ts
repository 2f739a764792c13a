// SQL for the `migrations` table: one MigrationRecord per migration, kept as JSON (the record
// is the contract; only `id` and `vm` are queried).
import type { MigrationRecord } from '../../contracts/migration.js';
import type { Db } from '../db.js';
import { storedFailure } from '../errors.js';

export class MigrationsRepo {
  private readonly q;
  constructor(db: Db) {
    this.q = {
      upsert: db.prepare<[string, string, string]>(
        `INSERT INTO migrations (id, vm, record) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record`,
      ),
      get: db.prepare<[string], { record: string }>('SELECT record FROM migrations WHERE id = ?'),
      byVm: db.prepare<[string, number], { record: string }>('SELECT record FROM migrations WHERE vm = ? ORDER BY seq DESC LIMIT ?'),
      all: db.prepare<[number], { record: string }>('SELECT record FROM migrations ORDER BY seq DESC LIMIT ?'),
      unfinished: db.prepare<[], { record: string }>(`SELECT record FROM migrations WHERE json_extract(record, '$.outcome') = 'running'`),
    };
  }

  save(r: MigrationRecord): void {
    this.q.upsert.run(r.id, r.vm, JSON.stringify(r));
  }

  get(id: string): MigrationRecord | undefined {
    const row = this.q.get.get(id);
    return row ? fromJson(row.record) : undefined;
  }

  /** Newest first. */
  list(vm: string | undefined, limit = 100): MigrationRecord[] {
    const rows = vm === undefined ? this.q.all.all(limit) : this.q.byVm.all(vm, limit);
    return rows.map((r) => fromJson(r.record));
  }

  /** Migrations a previous controller left running (it stopped or died during them). */
  unfinished(): MigrationRecord[] {
    return this.q.unfinished.all().map((row) => fromJson(row.record));
  }
}

/** A stored record, its failure code one of ours (an older controller kept an agent's code verbatim). */
function fromJson(json: string): MigrationRecord {
  const r = JSON.parse(json) as MigrationRecord;
  return r.error ? { ...r, error: storedFailure(r.error) } : r;
}
