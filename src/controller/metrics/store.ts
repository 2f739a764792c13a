// The coarse tiers in SQLite (table metric_points, db.ts): closed buckets are written in one
// transaction per batch, pruned by each tier's retention, and read back at start so history
// survives a controller restart. Raw samples are never written: they are 10 minutes deep and
// come every second. A bucket written again (reopened after a restart) replaces its row.
import type { Db } from '../db.js';

export type SeriesKind = 'vm' | 'host';

export interface StoredPoint {
  kind: SeriesKind;
  name: string;
  stepMs: number;
  /** The point's wire object (VmPoint or HostPoint), `t` = bucket start. */
  point: { t: number };
}

interface Row {
  kind: SeriesKind;
  name: string;
  step_ms: number;
  point: string;
}

export class MetricsStore {
  private readonly q;
  private readonly writeAll: (points: readonly StoredPoint[]) => void;

  constructor(db: Db) {
    this.q = {
      upsert: db.prepare<[string, string, number, number, string]>(
        'INSERT INTO metric_points (kind, name, step_ms, t, point) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET point = excluded.point',
      ),
      prune: db.prepare<[number, number]>('DELETE FROM metric_points WHERE step_ms = ? AND t < ?'),
      forget: db.prepare<[string, string]>('DELETE FROM metric_points WHERE kind = ? AND name = ?'),
      load: db.prepare<[number, number], Row>('SELECT kind, name, step_ms, point FROM metric_points WHERE step_ms = ? AND t >= ? ORDER BY kind, name, t'),
    };
    this.writeAll = db.transaction((points: readonly StoredPoint[]) => {
      for (const p of points) this.q.upsert.run(p.kind, p.name, p.stepMs, p.point.t, JSON.stringify(p.point));
    });
  }

  write(points: readonly StoredPoint[]): void {
    if (points.length > 0) this.writeAll(points);
  }

  /** Drops the points of tier `stepMs` older than `before` (epoch ms); returns how many. */
  prune(stepMs: number, before: number): number {
    return this.q.prune.run(stepMs, before).changes;
  }

  forget(kind: SeriesKind, name: string): void {
    this.q.forget.run(kind, name);
  }

  /** Every point of tier `stepMs` since `since`, grouped by series, oldest first. */
  load(stepMs: number, since: number): StoredPoint[] {
    return this.q.load.all(stepMs, since).map((r) => ({ kind: r.kind, name: r.name, stepMs: r.step_ms, point: JSON.parse(r.point) as { t: number } }));
  }
}
