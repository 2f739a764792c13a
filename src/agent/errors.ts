// The agent's own failures, one class each. Each carries the contract code (src/contracts/errors.ts)
// that crosses the API, and its cause; callers match on the class or the code, never on words.
import { FerryError } from '../contracts/index.js';

/** QEMU refused or failed a command; `qemuClass` is QMP's error class (GenericError, DeviceNotActive…). */
export class QemuCommandError extends FerryError {
  constructor(
    readonly command: string,
    readonly qemuClass: string,
    desc: string,
    cause?: unknown,
  ) {
    super('QEMU_FAILED', `${command}: ${desc}`, { cause });
    this.name = 'QemuCommandError';
  }
}

/** The VM has no live QMP connection (QEMU gone, or the monitor closed mid-call). */
export class QemuUnreachableError extends FerryError {
  constructor(vm: string, what: string, cause?: unknown) {
    super('QEMU_FAILED', `vm ${vm}: no QMP connection to QEMU (${what})`, { cause });
    this.name = 'QemuUnreachableError';
  }
}

/** A QMP call, event or QEMU-side condition did not happen in time. */
export class QemuTimeoutError extends FerryError {
  constructor(vm: string, what: string, cause?: unknown) {
    super('TIMEOUT', `vm ${vm}: ${what}`, { cause });
    this.name = 'QemuTimeoutError';
  }
}

/** The operation's AbortSignal fired (an abort request, a teardown). */
export class AgentAbortedError extends FerryError {
  constructor(what: string, cause?: unknown) {
    super('ABORTED', `${what}: aborted`, { cause });
    this.name = 'AgentAbortedError';
  }
}

/** A QEMU migration stream (outgoing, incoming or a checkpoint) ended in failed/cancelled. */
export class QemuMigrationError extends FerryError {
  constructor(vm: string, status: string, desc?: string) {
    super(status === 'cancelled' ? 'ABORTED' : 'QEMU_FAILED', `vm ${vm}: migration ${status}${desc ? `: ${desc}` : ''}`);
    this.name = 'QemuMigrationError';
  }
}

/**
 * QEMU did not come up for a VM: the binary would not run, it exited during set-up (the message
 * is then QEMU's own words), it left no live process behind, or its monitor never answered.
 */
export class QemuLaunchError extends FerryError {
  constructor(message: string, cause?: unknown) {
    super('QEMU_FAILED', message, { cause });
    this.name = 'QemuLaunchError';
  }
}

/** A disk image operation (qemu-img create/convert/info) failed; the message is qemu-img's own. */
export class DiskImageError extends FerryError {
  constructor(
    readonly operation: string,
    message: string,
    cause?: unknown,
  ) {
    super('QEMU_FAILED', message, { cause });
    this.name = 'DiskImageError';
  }
}

/** A tap or bridge operation (`ip tuntap|link …` on the guest bridge) failed. */
export class GuestNetworkError extends FerryError {
  constructor(message: string, cause?: unknown) {
    super('INTERNAL', message, { cause });
    this.name = 'GuestNetworkError';
  }
}

/** QEMU's process is still there after SIGKILL (stuck in the kernel): the VM cannot be ended now. */
export class QemuUnkillableError extends FerryError {
  constructor(vm: string, pid: number | undefined) {
    super('INTERNAL', `vm ${vm}: QEMU pid ${pid} survived SIGKILL`);
    this.name = 'QemuUnkillableError';
  }
}

/** An action or event a driver's state does not allow (commit before completion, abort once committed…): the transition table (driver-state.ts) refused it. */
export class TransitionRefusedError extends FerryError {
  constructor(
    /** What refused it, e.g. `migration 1234` or `disk mirror of vm a`. */
    readonly machine: string,
    readonly from: string,
    readonly to: string,
    why?: string,
  ) {
    super('INVALID_STATE', `${machine}: ${from} -> ${to} refused${why ? `: ${why}` : ''}`);
    this.name = 'TransitionRefusedError';
  }
}
