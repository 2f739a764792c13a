// Pausing and resuming the guest's CPUs, confirmed by QEMU. `stop` and `cont` change the run
// state inside the command, and QEMU announces the change (STOP / RESUME) before it answers, so
// the event is the confirmation. When the VM already was in that run state QEMU changes nothing
// and announces nothing: then query-status is the confirmation instead.
import { QemuCommandError } from '../errors.js';
import type { VmRuntime } from '../vm-runtime.js';
import { qmp, waitEvent, type CallOptions } from './monitor.js';

const EVENT = { stop: 'STOP', cont: 'RESUME' } as const;

/** `stop` (running: false) or `cont` (running: true), resolved once QEMU confirms the run state. */
export async function setRunning(vm: VmRuntime, running: boolean, opts: CallOptions = {}): Promise<void> {
  const command = running ? 'cont' : 'stop';
  const done = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, done.signal]) : done.signal;
  // Registered before the command: events are not replayed. A failure here only means "not seen".
  const announced = waitEvent(vm, EVENT[command], { ...opts, signal }).then(
    () => true,
    () => false,
  );
  try {
    await qmp(vm, command, undefined, opts);
    const status = qmp(vm, 'query-status', undefined, { ...opts, signal });
    status.catch(() => undefined); // awaited below unless the event settles it first (then dropped)
    const confirmed = await Promise.race([announced, status.then((s) => s.running === running)]);
    if (!confirmed) {
      const s = await status;
      throw new QemuCommandError(command, 'GenericError', `vm ${vm.name} is ${s.status} after ${command}, not ${running ? 'running' : 'stopped'}`);
    }
  } finally {
    done.abort();
  }
}
