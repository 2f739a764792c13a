// Totals over every migration record, for the Prometheus endpoint: counts by outcome, bytes on
// the wire, and each VM's last successful migration. Summed in SQL over the `migrations` table
// (migrations-repo.ts keeps one MigrationRecord JSON a row) so a scrape never parses the whole
// history, and the totals stay exact across controller restarts.
import type { Db } from '../db.js';

export interface LastMigration {
  vm: string;
  downtimeMs: number;
  totalMs: number;
}

export class MigrationStats {
  private readonly q;

  constructor(db: Db) {
    this.q = {
      outcomes: db.prepare<[], { outcome: string; n: number; bytes: number }>(
        `SELECT json_extract(record, '$.outcome') AS outcome, count(*) AS n, coalesce(sum(json_extract(record, '$.wireBytes')), 0) AS bytes
         FROM migrations GROUP BY outcome`,
      ),
      last: db.prepare<[], LastMigration>(
        `SELECT vm, json_extract(record, '$.downtimeMs') AS downtimeMs, json_extract(record, '$.totalMs') AS totalMs
         FROM migrations WHERE seq IN (SELECT max(seq) FROM migrations WHERE json_extract(record, '$.outcome') = 'succeeded' GROUP BY vm)`,
      ),
    };
  }

  /** Migrations and their wire bytes, by outcome (running ones included). */
  byOutcome(): { outcome: string; n: number; bytes: number }[] {
    return this.q.outcomes.all();
  }

  lastSucceeded(): LastMigration[] {
    return this.q.last.all();
  }
}
