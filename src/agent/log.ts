// Namespaced logging for the agent (DEBUG=ferry:agent). Debug output costs one call when off.
// `warn` always prints, but at most once per `everyMs` per key, so a dead controller cannot
// flood the agent's stderr with one line per heartbeat.
import { formatWithOptions } from 'node:util';

export type Log = (format: string, ...args: unknown[]) => void;

function enabled(ns: string): boolean {
  const env = process.env.DEBUG ?? '';
  let on = false;
  for (const raw of env.split(/[\s,]+/)) {
    if (!raw) continue;
    const neg = raw.startsWith('-');
    const re = new RegExp(`^${(neg ? raw.slice(1) : raw).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
    if (re.test(ns)) {
      if (neg) return false;
      on = true;
    }
  }
  return on;
}

function write(ns: string, format: string, args: unknown[]): void {
  process.stderr.write(`${new Date().toISOString()} ${ns} ${formatWithOptions({ depth: 4 }, format, ...args)}\n`);
}

export function createLog(ns: string): Log {
  if (!enabled(ns)) return () => {};
  return (format, ...args) => write(ns, format, args);
}

const lastWarned = new Map<string, number>();

export function warnRateLimited(ns: string, key: string, everyMs: number, format: string, ...args: unknown[]): void {
  const now = Date.now();
  const last = lastWarned.get(key);
  if (last !== undefined && now - last < everyMs) return;
  lastWarned.set(key, now);
  write(ns, format, args);
}

export const log = createLog('ferry:agent');
