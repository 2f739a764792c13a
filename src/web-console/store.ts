// The console's state: one signal per host, VM, task, migration and protection, and one per
// list of names. An event changes only the signal of the thing it is about, so with hundreds of
// VMs a `vm` event re-renders one row, not the page; a list signal changes only when something
// appears or goes. Load samples also go into short in-browser histories for the live charts.
import { signal, type Signal } from '@preact/signals';
import type { BalanceDecision, BalanceStatus } from '../contracts/balance.js';
import type { Host, Task, Vm } from '../contracts/controller-api.js';
import type { MigrationLive } from '../contracts/web-console.js';
import type { Protection } from '../contracts/dr.js';
import type { VmLocation } from '../contracts/endpoints.js';
import type { HostLoad, VmLoad } from '../contracts/metrics.js';
import type { MigrationRecord } from '../contracts/migration.js';

export class Keyed<T> {
  readonly names = signal<string[]>([]);
  private readonly items = new Map<string, Signal<T>>();

  constructor(private readonly order: (a: T, b: T) => number = () => 0) {}

  get(name: string): Signal<T> | undefined {
    return this.items.get(name);
  }

  values(): T[] {
    return this.names.value.map((n) => this.items.get(n)!.value);
  }

  upsert(name: string, v: T): void {
    const s = this.items.get(name);
    if (s) {
      s.value = v;
      return;
    }
    this.items.set(name, signal(v));
    this.names.value = [...this.names.value, name].sort((a, b) => this.order(this.items.get(a)!.value, this.items.get(b)!.value) || (a < b ? -1 : a > b ? 1 : 0));
  }

  remove(name: string): void {
    if (!this.items.delete(name)) return;
    this.names.value = this.names.value.filter((n) => n !== name);
  }

  /** Replaces everything (a fresh snapshot after (re)connecting); keeps the signals of what stays. */
  replace(all: readonly T[], key: (v: T) => string): void {
    const keep = new Set(all.map(key));
    for (const n of [...this.items.keys()]) if (!keep.has(n)) this.remove(n);
    for (const v of all) this.upsert(key(v), v);
  }
}

/** Newest first by an ISO time field. */
const newestFirst = <T>(at: (v: T) => string) => (a: T, b: T): number => (at(a) < at(b) ? 1 : at(a) > at(b) ? -1 : 0);

export const hosts = new Keyed<Host>();
export const vms = new Keyed<Vm>();
export const tasks = new Keyed<Task>(newestFirst((t) => t.createdAt));
export const migrations = new Keyed<MigrationRecord>(newestFirst((m) => m.startedAt));
export const protections = new Keyed<Protection>();
/** Where each VM runs and how clients reach it (the location registry), by VM name. */
export const locations = new Keyed<VmLocation>();
/** Live progress of running migrations, by migration id. */
export const migrationLive = new Map<string, Signal<MigrationLive | undefined>>();
export const decisions = signal<BalanceDecision[]>([]);
export const balance = signal<BalanceStatus | undefined>(undefined);
export const connection = signal<'connecting' | 'live' | 'lost'>('connecting');

export const MAX_TASKS = 200;
export const MAX_DECISIONS = 200;

// --- load: latest value and a short history per host and VM, fed by `load` events ---

/** Points kept per series in the browser: 5 minutes of 2-s load events. */
export const HISTORY_POINTS = 150;

export interface History {
  t: number[];
  /** One array per field, same length as t. */
  fields: Record<string, number[]>;
}

export class LoadSeries<L extends object> {
  readonly latest = new Map<string, Signal<L | undefined>>();
  /** Bumped on every append, so a chart knows to redraw. */
  readonly history = new Map<string, Signal<History>>();

  latestOf(name: string): Signal<L | undefined> {
    let s = this.latest.get(name);
    if (!s) this.latest.set(name, (s = signal<L | undefined>(undefined)));
    return s;
  }

  historyOf(name: string): Signal<History> {
    let s = this.history.get(name);
    if (!s) this.history.set(name, (s = signal<History>({ t: [], fields: {} })));
    return s;
  }

  append(name: string, at: number, v: L): void {
    this.latestOf(name).value = v;
    const h = this.historyOf(name);
    const prev = h.value;
    const keep = (xs: number[], x: number): number[] => [...(xs.length >= HISTORY_POINTS ? xs.slice(1) : xs), x];
    const fields: Record<string, number[]> = {};
    // A field missing from this sample (e.g. dirty rate not measured) is a gap, not the end of its history.
    const sample = v as Record<string, unknown>;
    for (const k of new Set([...Object.keys(prev.fields), ...Object.keys(sample)])) {
      const x = sample[k];
      if (x === undefined || typeof x === 'number') fields[k] = keep(prev.fields[k] ?? new Array<number>(prev.t.length).fill(NaN), typeof x === 'number' ? x : NaN);
    }
    h.value = { t: keep(prev.t, at / 1000), fields };
  }
}

export const hostLoad = new LoadSeries<HostLoad>();
export const vmLoad = new LoadSeries<VmLoad>();
