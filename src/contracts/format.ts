// Numbers for people, written one way everywhere: the CLI's tables, the controller's task
// messages and log lines, and the web console (which loads this very file in the browser, so it
// imports nothing). Sizes are binary (1 KiB = 1024 B). A missing or non-finite value gives
// undefined, so each surface shows its own blank (the CLI's tables '-', the console '–').

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

type Value = number | undefined | null;

const missing = (n: Value): n is undefined | null => n === undefined || n === null || !Number.isFinite(n);

/** 512 → "512 B", 1536 → "1.5 KiB", 3 MiB → "3.0 MiB", 2 GiB → "2.00 GiB" (two decimals from GiB up). */
export function bytes(n: Value): string | undefined {
  if (missing(n)) return undefined;
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 ? 0 : i < 3 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${v.toFixed(digits)} ${UNITS[i]}`;
}

/** Bytes per second: "10.0 MiB/s". */
export function rate(n: Value): string | undefined {
  return missing(n) ? undefined : `${bytes(Math.round(n))}/s`;
}

/** Bytes counted in MiB whatever the size, for sentences that compare amounts: "150.0 MiB". */
export function mib(n: Value): string | undefined {
  return missing(n) ? undefined : `${(n / MiB).toFixed(1)} MiB`;
}

/** A size given in MiB (a VM's memory, a disk): 512 → "512 MiB", 2048 → "2.00 GiB". */
export function sizeMiB(n: Value): string | undefined {
  if (missing(n)) return undefined;
  return Number.isInteger(n) && Math.abs(n) < 1024 ? `${n} MiB` : bytes(n * MiB);
}

/** 850 → "850 ms", 1234 → "1.2 s", 125_000 → "2m 05s", 7_380_000 → "2h 03m", 93_600_000 → "1d 02h". */
export function duration(ms: Value): string | undefined {
  if (missing(ms)) return undefined;
  if (ms < 0) return `-${duration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  const pad = (x: number): string => String(x).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** Seconds for sentences, whole from 10 s up: 500 → "0.5 s", 1000 → "1 s", 2500 → "2.5 s", 42_000 → "42 s". */
export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1).replace(/\.0$/, '')} s` : `${Math.round(ms / 1000)} s`;
}

/** A fraction 0..1 as a percentage: 0.256 → "26%", with `digits` 1 → "25.6%". */
export function pct(x: Value, digits = 0): string | undefined {
  return missing(x) ? undefined : `${(x * 100).toFixed(digits)}%`;
}
