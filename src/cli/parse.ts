// Parsers for option values; each throws InvalidArgumentError so commander reports a usage
// error (exit 2) that names the option.
import { WORKLOAD_HINT, isWorkload } from '../contracts/workload.js';
import { InvalidArgumentError } from 'commander';

const UNITS: Record<string, number> = { '': 1, m: 1, mb: 1, mib: 1, g: 1024, gb: 1024, gib: 1024, t: 1024 * 1024, tb: 1024 * 1024, tib: 1024 * 1024 };

/** A size in MiB: `512`, `512M`, `1G`, `1.5G`, `2TiB`. Plain numbers are MiB. */
export function parseSizeMiB(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const mult = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || mult === undefined) throw new InvalidArgumentError(`not a size (use e.g. 512M or 1G)`);
  const mib = Number(m[1]) * mult;
  if (!Number.isInteger(mib) || mib < 1) throw new InvalidArgumentError(`must be a whole number of MiB, at least 1`);
  return mib;
}

export function parsePositiveInt(value: string): number {
  if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError('must be a positive integer');
  return Number(value);
}

export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value.trim())) throw new InvalidArgumentError('must be a non-negative integer');
  return Number(value);
}

export function parsePort(value: string): number {
  const n = parseNonNegativeInt(value);
  if (n > 65535) throw new InvalidArgumentError('must be a port number (0 = any free port)');
  return n;
}

export function parseWorkload(value: string): string {
  if (!isWorkload(value)) throw new InvalidArgumentError(`use ${WORKLOAD_HINT}`);
  return value;
}

export type Accel = 'auto' | 'tcg' | 'kvm';
export function parseAccel(value: string): Accel {
  if (value !== 'auto' && value !== 'tcg' && value !== 'kvm') throw new InvalidArgumentError('must be auto, tcg or kvm');
  return value;
}

export interface SiteCount {
  site: string;
  count: number;
}

/** `main:2,dr:1` → [{site:'main',count:2},{site:'dr',count:1}] */
export function parseSites(value: string): SiteCount[] {
  const out: SiteCount[] = [];
  for (const part of value.split(',')) {
    const m = /^([a-z][a-z0-9-]{0,30}):(\d{1,2})$/.exec(part.trim());
    if (!m || Number(m[2]) < 1) throw new InvalidArgumentError('use SITE:COUNT[,SITE:COUNT…], e.g. main:2,dr:1');
    if (out.some((s) => s.site === m[1])) throw new InvalidArgumentError(`site ${m[1]} given twice`);
    out.push({ site: m[1]!, count: Number(m[2]) });
  }
  return out;
}

/** Host names are numbered across the whole cluster: host1..hostN, sites in the order given. */
export function planHosts(sites: SiteCount[]): { name: string; site: string }[] {
  const hosts: { name: string; site: string }[] = [];
  for (const s of sites) for (let i = 0; i < s.count; i++) hosts.push({ name: `host${hosts.length + 1}`, site: s.site });
  return hosts;
}

const BYTE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3 };
/** Network bit rates are decimal by convention: 100Mbit = 100 000 000 bits/s. */
const BIT_UNITS: Record<string, number> = { bit: 1 / 8, kbit: 1e3 / 8, mbit: 1e6 / 8, gbit: 1e9 / 8 };
export const MIN_BANDWIDTH = 65536;

/** Bytes per second: `100M` (MiB/s), `1G`, `512K`, `100Mbit`, `1Gbit` (an optional `/s` is fine). */
export function parseBandwidth(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)(?:\/s|ps)?\s*$/.exec(value);
  const unit = m ? m[2]!.toLowerCase() : '';
  const mult = BYTE_UNITS[unit] ?? BIT_UNITS[unit];
  if (!m || mult === undefined) throw new InvalidArgumentError('not a rate (bytes/s: 100M, 1G; bits/s: 100Mbit, 1Gbit)');
  const n = Math.floor(Number(m[1]) * mult);
  if (n < MIN_BANDWIDTH) throw new InvalidArgumentError(`must be at least 64K (${MIN_BANDWIDTH} bytes/s)`);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds: `500ms`, `30s`, `2m`, `1h30m`, `1.5s`; a bare number is seconds (`0` is zero). */
export function parseDuration(value: string): number {
  const v = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  if (!/^(\d+(?:\.\d+)?(ms|s|m|h))+$/.test(v)) throw new InvalidArgumentError('not a duration (use e.g. 500ms, 30s, 2m, 1h30m)');
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  return Math.round(ms);
}

export function parseChoice<T extends string>(choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`must be ${choices.join(', ')}`);
    return value as T;
  };
}

/** `--net`: user (NAT and forwards) or bridged (a tap on the host's guest bridge). */
export function parseNet(value: string): 'user' | 'bridged' {
  if (value !== 'user' && value !== 'bridged') throw new InvalidArgumentError('must be user or bridged');
  return value;
}

/** For a repeatable option: each value joins the list. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];
