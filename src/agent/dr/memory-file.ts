// A checkpoint's memory file: QEMU writes it with background-snapshot + mapped-ram (capture)
// and loads it with `migrate-incoming file:` (restore). Both ends are waited for on QEMU's
// MIGRATION event, which the `events` capability (set with the others here) turns on. The one
// stage with no event is the snapshot thread having write-protected RAM (see writeProtected).
import { QemuMigrationError } from '../errors.js';
import { pollUntil, qmp, waitEvent } from '../qemu/monitor.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { MigrationCapability, MigrationCapabilityStatus, MigrationEventData, MigrationStatus, QmpEvent } from '../../qmp/index.js';
import { eventData, scoped } from '../qemu/events.js';

export const MEMORY_FILE = 'memory';
/** The whole stream, either way: a guest's RAM to or from a local file. */
const STREAM_TIMEOUT_MS = 300_000;
/** How often to ask whether RAM is write-protected yet: the guest stays paused meanwhile. */
const WRITE_PROTECT_POLL_MS = 2;

/** background-snapshot refuses to run with any of these on (a live migration may have set them). */
const CONFLICTING: readonly MigrationCapability[] = ['multifd', 'auto-converge', 'postcopy-ram', 'return-path', 'pause-before-switchover', 'postcopy-blocktime', 'xbzrle'];

/** Capabilities to save a checkpoint's memory file (`load`: to load one). */
export function checkpointCapabilities(load: boolean): MigrationCapabilityStatus[] {
  return [
    { capability: 'events', state: true },
    { capability: 'mapped-ram', state: true },
    { capability: 'background-snapshot', state: !load },
    ...CONFLICTING.map((capability) => ({ capability, state: false })),
  ];
}

const ENDED: ReadonlySet<MigrationStatus> = new Set(['completed', 'failed', 'cancelled']);
const STARTED: ReadonlySet<MigrationStatus> = new Set(['active', ...ENDED]);
const statusOf = (ev: QmpEvent): MigrationStatus => eventData<MigrationEventData>(ev).status ?? 'none';

async function failure(vm: VmRuntime, status: MigrationStatus, signal: AbortSignal): Promise<QemuMigrationError> {
  // QEMU's reason is in query-migrate (gone with QEMU, when a failed load made it exit).
  const info = await qmp(vm, 'query-migrate', undefined, { signal }).catch(() => undefined);
  return new QemuMigrationError(vm.name, status, info?.['error-desc']);
}

/** The stream's end: resolves on `completed`, rejects on `failed`/`cancelled`. Register before the command that starts it. */
function streamEnd(vm: VmRuntime, signal: AbortSignal): Promise<void> {
  const end = waitEvent(vm, 'MIGRATION', { match: (ev) => ENDED.has(statusOf(ev)), signal, timeoutMs: STREAM_TIMEOUT_MS }).then(async (ev) => {
    const status = statusOf(ev);
    if (status !== 'completed') throw await failure(vm, status, signal);
  });
  end.catch(() => undefined); // awaited by the caller; the command failing first must not leave it unhandled
  return end;
}

/** Restore: loads `file` into a QEMU started with `-incoming defer`; resolves once QEMU reports it loaded. */
export async function loadMemoryFile(vm: VmRuntime, file: string, signal: AbortSignal): Promise<void> {
  await qmp(vm, 'migrate-set-capabilities', { capabilities: checkpointCapabilities(true) }, { signal });
  const scope = scoped(signal);
  try {
    const loaded = streamEnd(vm, scope.signal);
    await qmp(vm, 'migrate-incoming', { uri: `file:${file}` }, { signal });
    await loaded;
  } finally {
    scope.done();
  }
}

/**
 * Capture: QEMU saving the paused VM's device state and RAM to `file` (capabilities set before).
 * `writeProtected()` says when the guest may run again, `saved()` when the file is complete;
 * `dispose()` drops whatever is still waited for.
 */
export class MemorySnapshot {
  readonly #scope: { signal: AbortSignal; done: () => void };
  readonly #started: Promise<QmpEvent>;
  readonly #saved: Promise<void>;

  private constructor(
    readonly vm: VmRuntime,
    readonly signal: AbortSignal,
  ) {
    this.#scope = scoped(signal);
    // Both registered before `migrate`: QEMU does not replay events.
    this.#started = waitEvent(vm, 'MIGRATION', { match: (ev) => STARTED.has(statusOf(ev)), signal: this.#scope.signal, timeoutMs: STREAM_TIMEOUT_MS });
    this.#started.catch(() => undefined);
    this.#saved = streamEnd(vm, this.#scope.signal);
  }

  static async start(vm: VmRuntime, file: string, signal: AbortSignal): Promise<MemorySnapshot> {
    const s = new MemorySnapshot(vm, signal);
    try {
      await qmp(vm, 'migrate', { uri: `file:${file}` }, { signal });
      return s;
    } catch (err) {
      s.dispose();
      throw err;
    }
  }

  /**
   * The snapshot thread has saved the device state and write-protected RAM: from now on the
   * guest may run without memory getting later than the disks. MIGRATION `active` comes before
   * that (QEMU's bg_migration_thread announces it, then takes the lock, saves the devices and
   * starts write tracking), and no event follows while the VM stays paused, so after `active`
   * QEMU is asked until it counts pages.
   */
  async writeProtected(): Promise<void> {
    const status = statusOf(await this.#started);
    if (status === 'completed') return;
    if (status !== 'active') throw await failure(this.vm, status, this.signal);
    await pollUntil(this.vm, 'memory snapshot to write-protect RAM', async () => {
      const info = await qmp(this.vm, 'query-migrate', undefined, { signal: this.signal });
      if (info.status === 'failed' || info.status === 'cancelled') throw new QemuMigrationError(this.vm.name, info.status, info['error-desc']);
      if (info.status === 'completed') return true;
      return info.status === 'active' && (info.ram?.normal ?? 0) + (info.ram?.duplicate ?? 0) > 0 ? true : undefined;
    }, { deadline: Date.now() + STREAM_TIMEOUT_MS, signal: this.signal, everyMs: WRITE_PROTECT_POLL_MS });
  }

  /** Every page of the instant is in the file. */
  saved(): Promise<void> {
    return this.#saved;
  }

  dispose(): void {
    this.#scope.done();
  }
}
