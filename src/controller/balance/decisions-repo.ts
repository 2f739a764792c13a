// The balancer's persistent state: its config (one row) and the log of its decisions, which
// `ferry balance status` and the console show. The log is trimmed to the newest KEEP_DECISIONS.
import type { BalanceConfig, BalanceDecision } from '../../contracts/balance.js';
import type { Db } from '../db.js';

const KEEP_DECISIONS = 10_000;

export class BalanceRepo {
  constructor(private readonly db: Db) {}

  config(): BalanceConfig | undefined {
    const row = this.db.prepare('SELECT record FROM balance_config WHERE id = 1').get() as { record: string } | undefined;
    return row ? (JSON.parse(row.record) as BalanceConfig) : undefined;
  }

  saveConfig(c: BalanceConfig): void {
    this.db.prepare('INSERT INTO balance_config (id, record) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record').run(JSON.stringify(c));
  }

  /** Appends a decision and answers it with its id. */
  append(d: Omit<BalanceDecision, 'id'>): BalanceDecision {
    const info = this.db.prepare('INSERT INTO balance_decisions (at, vm, record) VALUES (?, ?, ?)').run(d.at, d.vm ?? null, JSON.stringify(d));
    const id = Number(info.lastInsertRowid);
    if (id % 100 === 0) this.db.prepare('DELETE FROM balance_decisions WHERE id <= ?').run(id - KEEP_DECISIONS);
    return { id, ...d };
  }

  /** Newest first. */
  list(limit: number, vm?: string): BalanceDecision[] {
    const rows = (
      vm === undefined
        ? this.db.prepare('SELECT id, record FROM balance_decisions ORDER BY id DESC LIMIT ?').all(limit)
        : this.db.prepare('SELECT id, record FROM balance_decisions WHERE vm = ? ORDER BY id DESC LIMIT ?').all(vm, limit)
    ) as { id: number; record: string }[];
    return rows.map((r) => ({ id: r.id, ...(JSON.parse(r.record) as Omit<BalanceDecision, 'id'>) }));
  }
}
