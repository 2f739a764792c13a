// Host totals the agent reports besides os.* facts: the machine's busy CPU time from /proc/stat,
// and the configured capacity of the host's network link (the balancer's net utilisation is
// measured against it; nothing on a host tells the real capacity of the path to its peers).
import { readFileSync } from 'node:fs';
import { clockTicksPerSecond } from './proc.js';

/** 1 Gbit/s in bytes per second. */
export const DEFAULT_NET_CAPACITY_BYTES_PER_SEC = 125_000_000;

/**
 * Busy CPU time of all cpus in clock ticks, from the aggregate `cpu` line of /proc/stat
 * (proc(5): user nice system idle iowait irq softirq steal guest guest_nice). guest and
 * guest_nice are already inside user and nice, so the total is the first eight fields;
 * busy = total − idle − iowait.
 */
export function parseProcStatBusyTicks(text: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (f.length < 5 || f.some((n) => !Number.isFinite(n) || n < 0)) return undefined;
  const total = f.reduce((a, b) => a + b, 0);
  return total - f[3]! - f[4]!;
}

/** Seconds all cpus of this machine spent busy since boot (a counter), or undefined off Linux. */
export function hostCpuBusySeconds(): number | undefined {
  try {
    const ticks = parseProcStatBusyTicks(readFileSync('/proc/stat', 'utf8'));
    return ticks === undefined ? undefined : ticks / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

const RATE_UNITS: Record<string, number> = {
  '': 1, b: 1,
  kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8, tbit: 1e12 / 8,
  kb: 1e3, mb: 1e6, gb: 1e9,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

/**
 * A link capacity as `--net-capacity` takes it: bare bytes per second (`125000000`), bits per
 * second with a decimal prefix (`100mbit`, `1gbit/s`, `2.5gbit`), or bytes per second (`10MB`,
 * `64MiB`). `mbps` is refused: people mean both bits and bytes by it. Returns bytes per second; throws a RangeError with the accepted forms otherwise.
 */
export function parseNetCapacity(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z/]*)\s*$/i.exec(text);
  const unit = m ? RATE_UNITS[m[2]!.toLowerCase().replace(/\/s$/, '')] : undefined;
  const value = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!Number.isFinite(value) || value < 1) {
    throw new RangeError(`invalid network capacity '${text}': give bytes/s (125000000) or a rate such as 100mbit, 1gbit, 10MB`);
  }
  return Math.round(value);
}
