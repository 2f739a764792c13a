// Following QEMU's QMP events through the agent's monitor (../qemu/monitor.ts), typed.
// waitEvent's `match` runs for every event of its name, synchronously and in QMP's order, so a
// wait whose match never accepts is a subscription: it sees each event and misses none (a loop
// of waitEvent calls could, between two events of one socket read). A watch ends by rejecting:
// AgentAbortedError once its signal fired, QemuUnreachableError when QEMU's QMP connection closed
// (so a watcher also learns that QEMU went away), QemuTimeoutError after WATCH_LIMIT_MS.
import type { BlockJobEventData, JobStatusChangeEventData, MigrationEventData, MigrationPassEventData } from '../../qmp/index.js';
import { waitEvent } from './monitor.js';
import type { VmRuntime } from '../vm-runtime.js';

/** The events the migration code follows, with their data (src/qmp/commands). */
export interface QemuEvents {
  MIGRATION: MigrationEventData;
  MIGRATION_PASS: MigrationPassEventData;
  BLOCK_JOB_READY: BlockJobEventData;
  BLOCK_JOB_COMPLETED: BlockJobEventData;
  BLOCK_JOB_CANCELLED: BlockJobEventData;
  JOB_STATUS_CHANGE: JobStatusChangeEventData;
}
export type QemuEventName = keyof QemuEvents;

/** The longest a watch lives: no migration runs a day; one that does is stuck and fails with TIMEOUT. */
export const WATCH_LIMIT_MS = 24 * 3600_000;

const dataOf = <E extends QemuEventName>(data: Record<string, unknown> | undefined): QemuEvents[E] => (data ?? {}) as unknown as QemuEvents[E];

/** Calls `on` with every `name` event until `signal` fires; never resolves (see the header for how it ends). */
export function watchEvent<E extends QemuEventName>(vm: VmRuntime, name: E, on: (data: QemuEvents[E]) => void, signal: AbortSignal): Promise<never> {
  const match = (ev: { data?: Record<string, unknown> }): boolean => {
    on(dataOf<E>(ev.data));
    return false;
  };
  return waitEvent(vm, name, { signal, timeoutMs: WATCH_LIMIT_MS, match }) as Promise<never>;
}

/** The next `name` event that `accept` takes. Register it before the command that causes it. */
export async function nextEvent<E extends QemuEventName>(
  vm: VmRuntime,
  name: E,
  accept: (data: QemuEvents[E]) => boolean,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<QemuEvents[E]> {
  const ev = await waitEvent(vm, name, { ...opts, match: (e) => accept(dataOf<E>(e.data)) });
  return dataOf<E>(ev.data);
}
