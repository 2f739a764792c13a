// A migration stream the agent runs on its own for a VM's lifecycle (suspend writes memory and
// device state to a file, restore reads it back), waited for on QEMU's MIGRATION event, which
// QEMU sends only with the `events` capability on: so it is switched on first.
import { QemuMigrationError } from '../errors.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { MigrationStatus, QmpEvent } from '../../qmp/index.js';
import { qmp, waitEvent, type CallOptions } from './monitor.js';

const ENDED: ReadonlySet<string> = new Set<MigrationStatus>(['completed', 'failed', 'cancelled']);
const endStatus = (ev: QmpEvent): string | undefined => {
  const s = ev.data?.status;
  return typeof s === 'string' && ENDED.has(s) ? s : undefined;
};

/**
 * Runs `begin` (the `migrate` or `migrate-incoming` that starts a stream) and resolves once QEMU
 * reports the stream completed; rejects with QemuMigrationError when it failed or was cancelled,
 * QemuTimeoutError after `timeoutMs` (the whole stream), AgentAbortedError on `signal`.
 */
export async function runMigration(vm: VmRuntime, begin: (opts: CallOptions) => Promise<unknown>, opts: CallOptions & { timeoutMs: number }): Promise<void> {
  const call: CallOptions = opts.signal ? { signal: opts.signal } : {};
  await qmp(vm, 'migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] }, call);
  const done = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, done.signal]) : done.signal;
  const ended = waitEvent(vm, 'MIGRATION', { match: (ev) => endStatus(ev) !== undefined, timeoutMs: opts.timeoutMs, signal });
  ended.catch(() => undefined); // awaited below; `begin` failing first must not leave it unhandled
  try {
    await begin(call);
    const status = endStatus(await ended);
    if (status === 'completed') return;
    const info = await qmp(vm, 'query-migrate', undefined, call).catch(() => undefined);
    throw new QemuMigrationError(vm.name, status ?? 'failed', info?.['error-desc']);
  } finally {
    done.abort();
  }
}
