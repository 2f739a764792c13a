// The agent's background sampling of its VMs, beside the heartbeat: per QEMU process it keeps
// the network counters (net-counters.ts) and the last dirty rate (dirty-rate.ts decides when a
// calculation may run; this module asks QEMU and runs it). The heartbeat and /metrics only read
// what is kept here (samplesOf), so they never wait for a calculation.
import { busyReason, DIRTY_RATE_CALC_SECONDS, DIRTY_RATE_INTERVAL_MS, nextToMeasure, type QemuActivity } from './dirty-rate.js';
import { createLog } from './log.js';
import { NetCounters } from './net-counters.js';
import { pollUntil, qmp } from './qemu/monitor.js';
import type { VmRuntime } from './vm-runtime.js';

const debug = createLog('ferry:agent:sampler');
export const SAMPLER_TICK_MS = 1_000;
const QUERY_TIMEOUT_MS = 2_000;
/** QEMU 10 announces no end of a calc-dirty-rate: query-dirty-rate is asked this often. */
const CALC_POLL_MS = 200;
/** How long past its calc-time a calculation may take before it counts as lost. */
const CALC_GRACE_MS = 5_000;
/** A VM that was busy is asked again this soon, not a whole interval later. */
const BUSY_RETRY_MS = 2_000;
const MIB = 1024 * 1024;

export interface VmSamples {
  /** The QEMU process these samples belong to: a new process starts from nothing. */
  pid: number;
  net?: NetCounters;
  netError?: string;
  dirtyBytesPerSec?: number;
  /** When dirtyBytesPerSec was measured (performance.now()). */
  dirtyMeasuredAt?: number;
  lastCalcStartMs?: number;
}

const byVm = new WeakMap<VmRuntime, VmSamples>();

/** What the sampler holds for the VM's current QEMU process. */
export function samplesOf(vm: VmRuntime): VmSamples | undefined {
  const s = byVm.get(vm);
  return s && s.pid === vm.rec.pid ? s : undefined;
}

function samplesFor(vm: VmRuntime, pid: number): VmSamples {
  let s = byVm.get(vm);
  if (!s || s.pid !== pid) byVm.set(vm, (s = { pid }));
  return s;
}

const sampleable = (vm: VmRuntime): boolean => vm.rec.state === 'running' && !vm.migrationId && vm.qmp !== undefined && !vm.qmp.closed;

export class Sampler {
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  readonly #stop = new AbortController();

  constructor(private readonly vms: () => Iterable<VmRuntime>, private readonly tickMs = SAMPLER_TICK_MS) {}

  start(): this {
    const loop = (): void => {
      this.#tick = this.#once().catch((err: Error) => debug('tick failed: %s', err.message));
      void this.#tick.then(() => {
        if (!this.#stop.signal.aborted) this.#timer = setTimeout(loop, this.tickMs).unref();
      });
    };
    this.#timer = setTimeout(loop, 0).unref();
    return this;
  }

  /** Stops sampling; waits for a calculation in flight to be left (not for QEMU to finish it). Idempotent. */
  async close(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#timer);
    await this.#tick;
  }

  async #once(): Promise<void> {
    const vms = [...this.vms()].filter(sampleable);
    for (const vm of vms) await this.#net(vm);
    const now = Date.now();
    const name = nextToMeasure(vms.map((vm) => ({ name: vm.name, state: vm.rec.state, migrating: !!vm.migrationId, ...lastStart(vm) })), now);
    const vm = vms.find((v) => v.name === name);
    if (vm) await this.#dirtyRate(vm);
  }

  async #net(vm: VmRuntime): Promise<void> {
    const pid = vm.rec.pid;
    if (pid === undefined || vm.rec.spec.nics.length === 0) return;
    const s = samplesFor(vm, pid);
    if (s.netError) return;
    try {
      if (s.net) await s.net.rotate(this.#stop.signal);
      else s.net = await NetCounters.install(vm, this.#stop.signal);
    } catch (err) {
      s.netError = (err as Error).message;
      debug('vm %s: no network counters: %s', vm.name, s.netError);
    }
  }

  async #dirtyRate(vm: VmRuntime): Promise<void> {
    const s = samplesFor(vm, vm.rec.pid!);
    const started = Date.now();
    s.lastCalcStartMs = started;
    const why = busyReason(await qemuActivity(vm, this.#stop.signal));
    if (why || vm.migrationId || this.#stop.signal.aborted) {
      s.lastCalcStartMs = started - DIRTY_RATE_INTERVAL_MS + BUSY_RETRY_MS;
      debug('vm %s: dirty rate not measured now: %s', vm.name, why ?? 'migrating');
      return;
    }
    try {
      s.dirtyBytesPerSec = await measureDirtyRate(vm, DIRTY_RATE_CALC_SECONDS, this.#stop.signal);
      s.dirtyMeasuredAt = performance.now();
    } catch (err) {
      debug('vm %s: dirty rate: %s', vm.name, (err as Error).message);
    }
  }
}

/** The sampler's dirty rate of the VM's current QEMU, if measured within `maxAgeMs`. */
export function recentDirtyRate(vm: VmRuntime, maxAgeMs: number): number | undefined {
  const s = samplesOf(vm);
  if (s?.dirtyBytesPerSec === undefined || s.dirtyMeasuredAt === undefined) return undefined;
  return performance.now() - s.dirtyMeasuredAt <= maxAgeMs ? s.dirtyBytesPerSec : undefined;
}

function lastStart(vm: VmRuntime): { lastStartMs?: number } {
  const t = samplesOf(vm)?.lastCalcStartMs;
  return t === undefined ? {} : { lastStartMs: t };
}

async function qemuActivity(vm: VmRuntime, signal: AbortSignal): Promise<QemuActivity> {
  const opts = { timeoutMs: QUERY_TIMEOUT_MS, signal };
  const [status, migrate, calc, jobs] = await Promise.all([
    qmp(vm, 'query-status', undefined, opts),
    qmp(vm, 'query-migrate', undefined, opts),
    qmp(vm, 'query-dirty-rate', undefined, opts),
    qmp(vm, 'query-block-jobs', undefined, opts),
  ]);
  return { runState: status.status, ...(migrate.status ? { migrationStatus: migrate.status } : {}), calcStatus: calc.status, blockJobs: jobs.length };
}

/** The calculation in flight per VM: QEMU runs one per process and refuses a second one. */
const calculating = new WeakMap<VmRuntime, Promise<unknown>>();

/**
 * Guest memory dirtied per second (bytes), by QEMU's page sampling over `seconds`. Callers
 * (the sampler, a migration's measure step) take turns per VM, so neither is refused by QEMU.
 */
export function measureDirtyRate(vm: VmRuntime, seconds: number, signal?: AbortSignal): Promise<number> {
  const prev = calculating.get(vm) ?? Promise.resolve();
  const next = prev.catch(() => undefined).then(() => calculate(vm, seconds, signal));
  calculating.set(vm, next);
  void next.catch(() => undefined).finally(() => calculating.get(vm) === next && calculating.delete(vm));
  return next;
}

async function calculate(vm: VmRuntime, seconds: number, signal?: AbortSignal): Promise<number> {
  const opts = { timeoutMs: QUERY_TIMEOUT_MS, signal };
  await qmp(vm, 'calc-dirty-rate', { 'calc-time': seconds, mode: 'page-sampling' }, opts);
  const measured = async (): Promise<number | undefined> => {
    const r = await qmp(vm, 'query-dirty-rate', undefined, opts);
    return r.status === 'measured' ? (r['dirty-rate'] ?? 0) * MIB : undefined; // QEMU's "MB/s" is MiB/s
  };
  return pollUntil(vm, 'dirty-rate calculation', measured, { deadline: Date.now() + seconds * 1000 + CALC_GRACE_MS, signal, everyMs: CALC_POLL_MS });
}
