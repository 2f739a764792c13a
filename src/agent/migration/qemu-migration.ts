// QEMU's migration stream as the drivers follow it, on either end: its status changes arrive as
// MIGRATION events (the `events` capability is on at both ends), its passes as MIGRATION_PASS.
// query-migrate is asked only for what has no event: byte counts (the source's sampler), the
// final numbers of a completed stream, the error text of a failed one.
import type { MigrationInfo, MigrationStatus } from '../../qmp/index.js';
import { QemuTimeoutError } from '../errors.js';
import { log } from '../log.js';
import { pollUntil, qmp } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import { nextEvent, watchEvent } from '../qemu/events.js';

/** Statuses of a stream still under way (QEMU may still write to it or change the VM's run state). */
const ACTIVE: ReadonlySet<MigrationStatus> = new Set<MigrationStatus>(['setup', 'active', 'pre-switchover', 'device', 'wait-unplug', 'postcopy-active', 'cancelling']);
export const isActiveStatus = (s: MigrationStatus | undefined): boolean => s !== undefined && ACTIVE.has(s);

/** Polled exactly at completion QEMU sometimes reports total-time 0 (docs/qemu.md): ask again this long. */
const FINAL_INFO_WAIT_MS = 500;
const FINAL_INFO_EVERY_MS = 50;

/** Every status change of the VM's migration stream, until `signal` fires (../qemu/events.ts: how a watch ends). */
export function watchMigration(vm: VmRuntime, on: (status: MigrationStatus) => void, signal: AbortSignal): Promise<never> {
  return watchEvent(vm, 'MIGRATION', (d) => on(d.status), signal);
}

/** Every dirty-sync pass QEMU starts (1 = the first full pass over memory). */
export function watchPasses(vm: VmRuntime, on: (pass: number) => void, signal: AbortSignal): Promise<never> {
  return watchEvent(vm, 'MIGRATION_PASS', (d) => on(d.pass), signal);
}

/**
 * The numbers of a completed stream. QEMU's total-time can still be 0 right at completion, so it
 * is asked again for a moment; after that the last answer is taken as it is.
 */
export async function completedInfo(vm: VmRuntime, signal: AbortSignal): Promise<MigrationInfo> {
  let last: MigrationInfo | undefined;
  const probe = async (): Promise<MigrationInfo | undefined> => {
    last = await qmp(vm, 'query-migrate', undefined, { signal });
    return last['total-time'] ? last : undefined;
  };
  try {
    return await pollUntil(vm, 'total-time of the completed migration', probe, { deadline: Date.now() + FINAL_INFO_WAIT_MS, everyMs: FINAL_INFO_EVERY_MS, signal });
  } catch (err) {
    if (last && err instanceof QemuTimeoutError) return last;
    throw err;
  }
}

/** QEMU's own words for a failed stream, if it still has them. */
export async function failureDesc(vm: VmRuntime, signal: AbortSignal): Promise<string | undefined> {
  const info = await qmp(vm, 'query-migrate', undefined, { signal }).catch(() => undefined);
  return info?.['error-desc'];
}

/**
 * Cancels the VM's outgoing stream and waits until QEMU reports it over (cancelled, failed or
 * completed: a MIGRATION event), at most `timeoutMs`. Runs in teardowns, after the driver's own
 * signal fired: its calls carry their timeouts only. Never throws (a problem is logged); the VM's
 * run state is the caller's to check.
 */
export async function cancelMigration(vm: VmRuntime, timeoutMs: number): Promise<void> {
  const done = new AbortController();
  const over = nextEvent(vm, 'MIGRATION', (d) => !isActiveStatus(d.status), { timeoutMs, signal: done.signal });
  over.catch(() => undefined);
  try {
    await qmp(vm, 'migrate_cancel', undefined, { timeoutMs }).catch(() => undefined);
    const now = await qmp(vm, 'query-migrate', undefined, { timeoutMs });
    if (isActiveStatus(now.status)) await over;
  } catch (err) {
    log('vm %s: waiting for its cancelled migration to end: %s', vm.name, (err as Error).message);
  } finally {
    done.abort();
  }
}
