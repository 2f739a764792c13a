// The agent's only way to talk to QEMU: typed QMP commands (src/qmp/commands.ts), each with a
// timeout and an optional AbortSignal, waits on QMP events, and one pollUntil for the few
// conditions QEMU announces with no event. QMP's failures become the agent's error classes
// (../errors.ts), so callers see QEMU_FAILED / TIMEOUT / ABORTED with the QMP error as cause.
import { QmpAbortedError, QmpCommandError, QmpTimeoutError, type QmpCommands, type QmpEvent } from '../../qmp/index.js';
import { AgentAbortedError, QemuCommandError, QemuTimeoutError, QemuUnreachableError } from '../errors.js';
import type { VmRuntime } from '../vm-runtime.js';

/** Default timeout of one QMP command or event wait. */
export const QMP_TIMEOUT_MS = 10_000;

export interface CallOptions {
  /** Default QMP_TIMEOUT_MS. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What the helpers need of a VM: its name, for the errors they raise. */
type Named = Pick<VmRuntime, 'name'>;

export type QmpCommand = keyof QmpCommands;
export type ArgsOf<C extends QmpCommand> = QmpCommands[C]['args'];
export type ReturnOf<C extends QmpCommand> = QmpCommands[C]['ret'];
/** Commands without arguments may leave them out. */
type CallArgs<C extends QmpCommand> = undefined extends ArgsOf<C> ? [args?: ArgsOf<C>, opts?: CallOptions] : [args: ArgsOf<C>, opts?: CallOptions];

function translate(vm: Named, what: string, err: unknown): Error {
  if (err instanceof QmpCommandError) return new QemuCommandError(err.command, err.qemuClass, err.desc, err);
  if (err instanceof QmpTimeoutError) return new QemuTimeoutError(vm.name, err.message, err);
  if (err instanceof QmpAbortedError) return new AgentAbortedError(`vm ${vm.name}: ${what}`, err);
  return new QemuUnreachableError(vm.name, `${what}: ${(err as Error).message}`, err);
}

/** One QMP command to the VM's QEMU. */
export async function qmp<C extends QmpCommand>(vm: VmRuntime, command: C, ...[args, opts]: CallArgs<C>): Promise<ReturnOf<C>> {
  const client = vm.qmp;
  if (!client || client.closed) throw new QemuUnreachableError(vm.name, command);
  try {
    return await client.execute(command, args, { timeoutMs: opts?.timeoutMs ?? QMP_TIMEOUT_MS, ...(opts?.signal ? { signal: opts.signal } : {}) });
  } catch (err) {
    throw translate(vm, command, err);
  }
}

export interface WaitEventOptions extends CallOptions {
  match?: (ev: QmpEvent) => boolean;
}

/**
 * The next QMP event `name` (accepted by `match`). Call it before the command that triggers the
 * event: events that came earlier are not replayed. Default timeout: none beyond `timeoutMs`.
 */
export async function waitEvent(vm: VmRuntime, name: string, opts: WaitEventOptions): Promise<QmpEvent> {
  const client = vm.qmp;
  if (!client || client.closed) throw new QemuUnreachableError(vm.name, `waiting for ${name}`);
  try {
    return await client.waitForEvent(name, {
      timeoutMs: opts.timeoutMs ?? QMP_TIMEOUT_MS,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.match ? { match: opts.match } : {}),
    });
  } catch (err) {
    throw translate(vm, `waiting for ${name}`, err);
  }
}

export interface PollOptions {
  /** Absolute time (Date.now()) after which the poll fails with QemuTimeoutError. */
  deadline: number;
  signal?: AbortSignal;
  everyMs?: number;
}

/**
 * Asks `probe` until it returns a value. Only for conditions QEMU has no event for (e.g. a
 * completed migration's total-time filled in, an export gone); everything else waits on events.
 */
export async function pollUntil<T>(vm: Named, what: string, probe: () => Promise<T | undefined>, opts: PollOptions): Promise<T> {
  const every = opts.everyMs ?? 100;
  for (;;) {
    if (opts.signal?.aborted) throw new AgentAbortedError(`vm ${vm.name}: ${what}`, opts.signal.reason);
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() >= opts.deadline) throw new QemuTimeoutError(vm.name, `${what}: not done in time`);
    await new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.min(every, Math.max(1, opts.deadline - Date.now())));
      function done(): void {
        clearTimeout(t);
        opts.signal?.removeEventListener('abort', done);
        resolve();
      }
      opts.signal?.addEventListener('abort', done, { once: true });
    });
  }
}

/**
 * Resolves true once the VM's QMP connection has closed — QEMU closes its monitor as it exits,
 * right after SHUTDOWN — or at once when there is none; false at `deadline`. The PID is the
 * final word on whether QEMU is gone (VmRuntime.waitForExit).
 */
export function monitorClosed(vm: VmRuntime, opts: { deadline: number; signal?: AbortSignal }): Promise<boolean> {
  const open = vm.qmp;
  if (!open || open.closed) return Promise.resolve(true);
  const client = open;
  const { deadline, signal } = opts;
  return new Promise<boolean>((resolve, reject) => {
    const timer = setTimeout(() => settle(() => resolve(false)), Math.max(0, deadline - Date.now()));
    const onClose = (): void => settle(() => resolve(true));
    const onAbort = (): void => settle(() => reject(new AgentAbortedError(`vm ${vm.name}: waiting for QEMU to exit`, signal?.reason)));
    function settle(finish: () => void): void {
      clearTimeout(timer);
      client.off('close', onClose);
      signal?.removeEventListener('abort', onAbort);
      finish();
    }
    if (signal?.aborted) return onAbort();
    client.once('close', onClose);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
