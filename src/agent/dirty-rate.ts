// When the background sampler may measure a VM's dirty rate (QMP calc-dirty-rate, page
// sampling). Pure decisions here; sampler.ts asks QEMU and acts.
//
// A measurement hashes a sample of guest pages (512 per GiB by default), waits calc-time and
// hashes them again: cheap, but it is work on the VM's QEMU and QEMU runs one calculation at a
// time per process. So at most one per VM every DIRTY_RATE_INTERVAL_MS, one at a time per
// host, and never while the VM is doing something that matters more or that the numbers would
// not describe: paused or not yet running, migrating (either side), being checkpointed for DR
// (its memory is saved by a `migrate` to a file, its disks by block jobs), or while another
// calculation runs (the migration planner's measure step).
import type { VmState } from '../contracts/index.js';

export const DIRTY_RATE_INTERVAL_MS = 10_000;
export const DIRTY_RATE_CALC_SECONDS = 1;

export interface DirtyRateCandidate {
  name: string;
  state: VmState;
  /** An outgoing migration owns the VM (VmRuntime.migrationId). */
  migrating: boolean;
  /** When the last calculation for this QEMU process started (epoch ms), if any. */
  lastStartMs?: number;
}

/** The VM to measure next: running, not migrating, due; the one that waited longest first. */
export function nextToMeasure(vms: readonly DirtyRateCandidate[], nowMs: number, intervalMs = DIRTY_RATE_INTERVAL_MS): string | undefined {
  let best: DirtyRateCandidate | undefined;
  for (const vm of vms) {
    if (vm.state !== 'running' || vm.migrating) continue;
    if (vm.lastStartMs !== undefined && nowMs - vm.lastStartMs < intervalMs) continue;
    if (!best || (vm.lastStartMs ?? -Infinity) < (best.lastStartMs ?? -Infinity)) best = vm;
  }
  return best?.name;
}

/** What QEMU says about the VM just before a calculation would start. */
export interface QemuActivity {
  /** query-status `status`: running, paused, inmigrate, postmigrate, finish-migrate, ... */
  runState: string;
  /** query-migrate `status`, absent before any migration. */
  migrationStatus?: string;
  /** query-dirty-rate `status`: unstarted, measuring, measured. */
  calcStatus: string;
  /** Block jobs in flight (query-block-jobs): disk mirror, checkpoint overlay commit. */
  blockJobs: number;
}

const MIGRATION_OVER = new Set(['none', 'completed', 'failed', 'cancelled']);

/** Why QEMU must be left alone now, or undefined when a calculation may start. */
export function busyReason(q: QemuActivity): string | undefined {
  if (q.runState !== 'running') return `vm is ${q.runState}`;
  if (q.migrationStatus !== undefined && !MIGRATION_OVER.has(q.migrationStatus)) return `migration ${q.migrationStatus}`;
  if (q.calcStatus === 'measuring') return 'another dirty-rate calculation is running';
  if (q.blockJobs > 0) return `${q.blockJobs} block job(s) running`;
  return undefined;
}
