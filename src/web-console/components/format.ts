// Number formatting shared by the views: sizes in binary units, durations from ms, fractions as
// percentages. Each answers '–' for a missing or non-finite value, so a view never shows "NaN".

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

const missing = (n: number | undefined | null): n is undefined | null => n === undefined || n === null || !Number.isFinite(n);

/** 1536 → "1.5 KiB"; three significant digits from KiB up. */
export function bytes(n: number | undefined | null): string {
  if (missing(n)) return '–';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const s = i === 0 ? v.toFixed(0) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${n < 0 ? '-' : ''}${s} ${UNITS[i]}`;
}

/** Bytes per second: "12.3 MiB/s". */
export const rate = (n: number | undefined | null): string => (missing(n) ? '–' : `${bytes(n)}/s`);

/** MiB as a size: 2048 → "2.00 GiB". */
export const mib = (n: number | undefined | null): string => (missing(n) ? '–' : n === 0 ? '0 MiB' : bytes(n * 1024 * 1024));

/** 850 → "850 ms", 12_300 → "12.3 s", 125_000 → "2m 05s", 7_380_000 → "2h 03m". */
export function duration(ms: number | undefined | null): string {
  if (missing(ms)) return '–';
  if (ms < 0) return `-${duration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(2) : s.toFixed(1)} s`;
  const whole = Math.round(s);
  const pad = (x: number): string => String(x).padStart(2, '0');
  if (whole < 3600) return `${Math.floor(whole / 60)}m ${pad(whole % 60)}s`;
  if (whole < 86_400) return `${Math.floor(whole / 3600)}h ${pad(Math.floor((whole % 3600) / 60))}m`;
  return `${Math.floor(whole / 86_400)}d ${pad(Math.floor((whole % 86_400) / 3600))}h`;
}

/** A fraction 0..1 as a percentage: 0.256 → "25.6 %". */
export function pct(x: number | undefined | null, digits = 1): string {
  if (missing(x)) return '–';
  return `${(x * 100).toFixed(digits)} %`;
}

/** How long ago an ISO time or epoch ms was, e.g. "12.0 s ago". */
export function ago(at: string | number | undefined, now = Date.now()): string {
  if (at === undefined) return '–';
  const t = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(t) ? `${duration(Math.max(0, now - t))} ago` : '–';
}
