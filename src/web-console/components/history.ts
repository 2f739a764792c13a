// Seeds a live chart's in-browser history (store.LoadSeries, fed by `load` events) with the
// controller's recent points, so a chart opened now is not empty. Only points older than the
// first live sample are prepended; the history keeps its length limit.
import { HISTORY_POINTS, type LoadSeries } from '../store.js';

export type SeedPoint = { t: number } & Record<string, number | undefined>;

export function seedHistory(series: LoadSeries<object>, name: string, points: readonly SeedPoint[]): void {
  const h = series.historyOf(name);
  const cur = h.value;
  const cut = cur.t[0] ?? Infinity;
  const older = points.filter((p) => p.t / 1000 < cut).sort((a, b) => a.t - b.t);
  if (older.length === 0) return;
  const keys = new Set([...Object.keys(cur.fields), ...older.flatMap((p) => Object.keys(p).filter((k) => k !== 't'))]);
  const fields: Record<string, number[]> = {};
  for (const k of keys) {
    const before = older.map((p) => p[k] ?? NaN);
    fields[k] = [...before, ...(cur.fields[k] ?? new Array<number>(cur.t.length).fill(NaN))].slice(-HISTORY_POINTS);
  }
  h.value = { t: [...older.map((p) => p.t / 1000), ...cur.t].slice(-HISTORY_POINTS), fields };
}

/** Seeded once per page: afterwards `load` events keep the history going, mounted or not. */
const seeded = new Set<string>();

export function seedOnce(key: string, load: () => Promise<void>): void {
  if (seeded.has(key)) return;
  seeded.add(key);
  load().catch(() => seeded.delete(key));
}
