// Every QMP call the agent makes goes through here: always with a timeout, and QMP's
// failures become wire errors (QEMU's own message as QEMU_FAILED, timeouts as TIMEOUT).
import { QmpCommandError, QmpTimeoutError } from '../qmp/index.js';
import { FerryError } from '../contracts/index.js';
import { QMP_TIMEOUT_MS, type VmRuntime } from './vm-runtime.js';

export async function qmpCall<T = unknown>(vm: VmRuntime, cmd: string, args?: Record<string, unknown>, timeoutMs = QMP_TIMEOUT_MS): Promise<T> {
  const qmp = vm.qmp;
  if (!qmp || qmp.closed) throw new FerryError('QEMU_FAILED', `vm ${vm.name}: no QMP connection to QEMU (${cmd})`);
  try {
    return (await qmp.executeRaw(cmd, args, { timeoutMs })) as T;
  } catch (err) {
    if (err instanceof QmpCommandError) throw new FerryError('QEMU_FAILED', `${cmd}: ${err.desc}`, { cause: err });
    if (err instanceof QmpTimeoutError) throw new FerryError('TIMEOUT', `vm ${vm.name}: ${err.message}`, { cause: err });
    throw new FerryError('QEMU_FAILED', `vm ${vm.name}: ${cmd}: ${(err as Error).message}`, { cause: err });
  }
}

interface MigrateInfo {
  status?: string;
  'error-desc'?: string;
}

/** Polls query-migrate until the migration (outgoing or incoming) completes; rejects if it fails. */
export async function waitMigration(vm: VmRuntime, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await qmpCall<MigrateInfo>(vm, 'query-migrate');
    if (info.status === 'completed') return;
    if (info.status === 'failed' || info.status === 'cancelled') {
      throw new FerryError('QEMU_FAILED', `vm ${vm.name}: migration ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    }
    if (Date.now() >= deadline) throw new FerryError('TIMEOUT', `vm ${vm.name}: migration not completed within ${timeoutMs} ms (${info.status ?? 'no status'})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
