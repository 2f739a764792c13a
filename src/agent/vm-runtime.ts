// One VM as the agent holds it in memory: its persisted record, its QMP connection, and a
// queue that runs its actions one at a time. It also notices QEMU exiting on its own
// (guest power-off, crash, kill): the QMP socket closes, and once the PID is gone the VM
// becomes `stopped` (QEMU reported SHUTDOWN) or `crashed`.
import type { QmpClient, QmpEvent } from '../qmp/index.js';
import type { VmState } from '../contracts/index.js';
import { QemuTimeoutError, QemuUnreachableError } from './errors.js';
import { log } from './log.js';
import { monitorClosed, pollUntil } from './qemu/monitor.js';
import { SerialQueue } from './serial-queue.js';
import { isOurQemu } from './proc.js';
import { saveRecord, vmPaths, type VmPaths, type VmRecord } from './vm-dir.js';

/** Re-exported for qmp-call.ts until it goes; new code imports it from qemu/monitor.ts. */
export { QMP_TIMEOUT_MS } from './qemu/monitor.js';
const EXIT_WAIT_MS = 5_000;

/** SHUTDOWN reasons that mean QEMU ended on purpose; a guest reset means the guest panicked (-no-reboot). */
const CLEAN_SHUTDOWN = new Set(['guest-shutdown', 'host-qmp-quit', 'host-signal', 'host-ui']);

export class VmRuntime {
  qmp: QmpClient | undefined;
  /** Set while an action expects QEMU to exit (stop, suspend): the action decides the state. */
  expectingExit = false;
  /** Set while an outgoing migration owns this VM: lifecycle actions are refused meanwhile. */
  migrationId: string | undefined;
  #shutdownReason: string | undefined;
  readonly #queue = new SerialQueue();
  #detached = false;

  constructor(
    readonly dataDir: string,
    public rec: VmRecord,
    /** Reconnects QMP when the connection drops but QEMU lives on (connectQmp; injected to keep modules acyclic). */
    private readonly connect?: (sockPath: string) => Promise<QmpClient>,
  ) {}

  get name(): string {
    return this.rec.spec.name;
  }
  get paths(): VmPaths {
    return vmPaths(this.dataDir, this.name);
  }
  get pidAlive(): boolean {
    return isOurQemu(this.rec.pid, this.rec.spec.uuid);
  }

  /** Runs `fn` after every earlier action on this VM has finished (success or not). */
  serialize<T>(fn: () => Promise<T>): Promise<T> {
    return this.#queue.run(fn);
  }

  setState(state: VmState, error?: string): void {
    this.rec = { ...this.rec, state, rev: (this.rec.rev ?? 0) + 1 };
    if (error !== undefined) this.rec.error = error;
    else if (state !== 'crashed') delete this.rec.error;
    if (state === 'stopped' || state === 'crashed' || state === 'suspended') {
      delete this.rec.pid;
      this.rec.endpoints = [];
    }
    saveRecord(this.dataDir, this.rec);
    log('vm %s -> %s%s', this.name, state, error ? ` (${error})` : '');
  }

  save(): void {
    saveRecord(this.dataDir, this.rec);
  }

  attach(qmp: QmpClient, pid: number): void {
    this.qmp = qmp;
    this.rec.pid = pid;
    this.#shutdownReason = undefined;
    qmp.on('event', (ev: QmpEvent) => {
      log('vm %s event %s %o', this.name, ev.event, ev.data ?? {});
      if (ev.event === 'SHUTDOWN') this.#shutdownReason = String(ev.data?.reason ?? 'unknown');
    });
    qmp.on('close', () => {
      if (this.qmp === qmp) this.qmp = undefined;
      if (this.#detached || this.expectingExit) return;
      this.#onUnexpectedClose(pid).catch((err: Error) => log('vm %s: after QEMU exit: %s', this.name, err.message));
    });
  }

  /** Called when the agent closes: drop the QMP connection, leave QEMU running. */
  detach(): void {
    this.#detached = true;
    this.qmp?.destroy();
    this.qmp = undefined;
  }

  /**
   * Resolves true once QEMU's PID is gone, false if it is still alive after `timeoutMs`. Waits
   * for QEMU to close its monitor first (it does as it exits); the PID is the final word, and
   * QEMU announces nothing once its monitor is gone, so that last step is a poll.
   */
  async waitForExit(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    await monitorClosed(this, { deadline, signal });
    try {
      return await pollUntil(this, 'QEMU to exit', async () => (this.pidAlive ? undefined : true), { deadline, signal });
    } catch (err) {
      if (err instanceof QemuTimeoutError) return false;
      throw err;
    }
  }

  /** QMP is required for the action; a VM without a live monitor cannot be driven. */
  requireQmp(action: string): QmpClient {
    if (!this.qmp || this.qmp.closed) throw new QemuUnreachableError(this.name, `cannot ${action}`);
    return this.qmp;
  }

  async #onUnexpectedClose(pid: number): Promise<void> {
    const gone = await this.waitForExit(EXIT_WAIT_MS);
    if (this.#detached || this.expectingExit || this.rec.pid !== pid) return;
    if (!gone) {
      log('vm %s: QMP closed but QEMU pid %d is alive: reconnecting', this.name, pid);
      if (!this.connect) return;
      const qmp = await this.connect(this.paths.qmpSock);
      if (this.#detached || this.rec.pid !== pid) return void qmp.destroy();
      this.attach(qmp, pid);
      return;
    }
    const reason = this.#shutdownReason;
    if (reason && CLEAN_SHUTDOWN.has(reason)) this.setState('stopped');
    else this.setState('crashed', reason ? `QEMU exited after SHUTDOWN (${reason})` : 'QEMU exited unexpectedly (killed or crashed)');
  }
}
