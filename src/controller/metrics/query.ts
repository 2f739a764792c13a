// Which tier answers a query, and the checks on it. A query names a window ending now and
// optionally a step: the finest tier whose retention covers the window answers (raw for 10
// minutes, 10 s buckets for 6 hours, 5 min buckets for 14 days), re-bucketed to the step if
// one is given. Refusals name the query field, as the API's other 400s do.
import { METRIC_TIERS, type MetricTier } from '../../contracts/metrics.js';
import { InvalidRequestError } from '../errors.js';

export const DEFAULT_WINDOW_MS = 10 * 60_000;
export const WINDOW_FIELD = 'querystring.window';
export const STEP_FIELD = 'querystring.step';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `10m`, `1h`, `2d`, `500ms`, or plain ms; anything else is refused naming `field`. */
export function parseDurationMs(value: string, field: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new InvalidRequestError(field, `is not a duration (use e.g. 90s, 10m, 1h, 2d): ${JSON.stringify(value)}`);
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
}

export interface QueryPlan {
  /** Index into the tiers. */
  tier: number;
  /** Width of each answered point: the tier's step, or the coarser step asked for. */
  stepMs: number;
}

export function planQuery(windowMs: number, stepMs?: number, tiers: readonly MetricTier[] = METRIC_TIERS): QueryPlan {
  const longest = tiers[tiers.length - 1]!.keepMs;
  if (!Number.isFinite(windowMs) || windowMs <= 0) throw new InvalidRequestError(WINDOW_FIELD, 'must be more than 0');
  if (windowMs > longest) throw new InvalidRequestError(WINDOW_FIELD, `must be at most ${formatMs(longest)} (the longest retention)`);
  const tier = tiers.findIndex((t) => t.keepMs >= windowMs);
  const tierStep = tiers[tier]!.stepMs;
  if (stepMs === undefined) return { tier, stepMs: tierStep };
  if (!Number.isFinite(stepMs) || stepMs <= 0) throw new InvalidRequestError(STEP_FIELD, 'must be more than 0');
  if (stepMs < tierStep) throw new InvalidRequestError(STEP_FIELD, `must be at least ${formatMs(tierStep)} for a ${formatMs(windowMs)} window (points older than ${formatMs(tiers[tier - 1]?.keepMs ?? 0)} are ${formatMs(tierStep)} means)`);
  if (stepMs > windowMs) throw new InvalidRequestError(STEP_FIELD, `must be at most the window (${formatMs(windowMs)})`);
  return { tier, stepMs };
}

/** 600000 → `10m`, 90000 → `90s`: the largest unit that divides evenly. */
export function formatMs(ms: number): string {
  for (const u of ['d', 'h', 'm', 's'] as const) if (ms >= UNIT_MS[u]! && ms % UNIT_MS[u]! === 0) return `${ms / UNIT_MS[u]!}${u}`;
  return `${ms}ms`;
}
