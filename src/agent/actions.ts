// The lifecycle actions on one VM's QEMU. Callers (manager.ts) have already checked the
// state table and hold the VM's action queue, so each function runs alone for its VM.
// A caller's `signal` ends the waiting; clean-up after a failure (resuming the guest, ending a
// half-started QEMU) never takes it, so an abort leaves the VM as it was, not half-done.
import { rmSync, existsSync } from 'node:fs';
import { FerryError, type StopRequest, type VmState } from '../contracts/index.js';
import { AgentAbortedError, QemuTimeoutError, QemuUnkillableError } from './errors.js';
import { launchQemu, type LaunchContext } from './launch.js';
import { log } from './log.js';
import { killPid } from './proc.js';
import { runMigration } from './qemu/migrate-file.js';
import { qmp, waitEvent } from './qemu/monitor.js';
import { setRunning } from './qemu/run-state.js';
import type { VmRuntime } from './vm-runtime.js';

const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const QUIT_WAIT_MS = 5_000;
const MIGRATION_TIMEOUT_MS = 10 * 60_000;
const BALLOON_SETTLE_MS = 5_000;
const MIB = 1024 * 1024;

export async function start(ctx: LaunchContext, vm: VmRuntime, signal?: AbortSignal): Promise<void> {
  vm.setState('starting');
  try {
    await launchQemu(ctx, vm, { signal });
  } catch (err) {
    vm.setState('stopped', (err as Error).message);
    throw err;
  }
  vm.setState('running');
}

export async function pause(vm: VmRuntime, signal?: AbortSignal): Promise<void> {
  await setRunning(vm, false, { signal });
  vm.setState('paused');
}

export async function resume(vm: VmRuntime, signal?: AbortSignal): Promise<void> {
  await setRunning(vm, true, { signal });
  vm.setState('running');
}

/** Ends QEMU: graceful power-off (unless forced or paused: a paused guest cannot react), then quit, then SIGKILL. */
export async function stop(vm: VmRuntime, req: StopRequest, signal?: AbortSignal): Promise<void> {
  if (vm.rec.state === 'suspended') {
    rmSync(vm.paths.suspendState, { force: true });
    return vm.setState('stopped');
  }
  if (vm.rec.state === 'crashed' && !vm.pidAlive) return vm.setState('stopped');
  const was: VmState = vm.rec.state;
  const graceful = !req.force && was === 'running';
  vm.setState('stopping');
  try {
    await terminate(vm, graceful ? (req.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS) : 0, signal);
  } catch (err) {
    // An aborted stop hands the VM back in the state it had, if its QEMU still lives.
    if (err instanceof AgentAbortedError) vm.setState(vm.pidAlive ? was : 'stopped', vm.pidAlive ? 'stop aborted' : undefined);
    throw err;
  }
  vm.setState('stopped');
}

/**
 * Ends QEMU (graceful power-off for `gracefulMs`, then quit, then SIGKILL); leaves the state to
 * the caller. An abort stops at the step it reached and keeps the monitor of a QEMU still alive.
 */
export async function terminate(vm: VmRuntime, gracefulMs: number, signal?: AbortSignal): Promise<void> {
  vm.expectingExit = true;
  try {
    if (gracefulMs > 0) {
      await qmp(vm, 'system_powerdown', undefined, { signal }).catch((err: Error) => log('vm %s: system_powerdown: %s', vm.name, err.message));
      if (await vm.waitForExit(gracefulMs, signal)) return;
    }
    if (vm.qmp && !vm.qmp.closed) {
      await qmp(vm, 'quit', undefined, { timeoutMs: QUIT_WAIT_MS, signal }).catch((err: Error) => log('vm %s: quit: %s', vm.name, err.message));
      if (await vm.waitForExit(QUIT_WAIT_MS, signal)) return;
    }
    if (signal?.aborted) throw new AgentAbortedError(`vm ${vm.name}: stop`, signal.reason);
    if (vm.rec.pid !== undefined && vm.pidAlive) killPid(vm.rec.pid, 'SIGKILL');
    if (!(await vm.waitForExit(QUIT_WAIT_MS))) throw new QemuUnkillableError(vm.name, vm.rec.pid);
  } finally {
    if (!(signal?.aborted && vm.pidAlive)) {
      vm.qmp?.destroy();
      vm.qmp = undefined;
    }
    vm.expectingExit = false;
  }
}

export async function resize(vm: VmRuntime, memoryMiB: number, signal?: AbortSignal): Promise<void> {
  const spec = vm.rec.spec;
  if (!spec.balloon) throw new FerryError('INVALID_REQUEST', `vm ${vm.name} has no balloon device`, { field: 'body.memoryMiB' });
  if (memoryMiB > spec.memoryMiB) {
    throw new FerryError('INVALID_REQUEST', `memoryMiB ${memoryMiB} exceeds vm ${vm.name}'s configured ${spec.memoryMiB} MiB`, { field: 'body.memoryMiB' });
  }
  const target = memoryMiB * MIB;
  const reached = (actual: unknown): boolean => typeof actual === 'number' && Math.abs(actual - target) < MIB;
  // The guest gives memory back gradually (a paused one not at all): wait a little for QEMU's
  // BALLOON_CHANGE so the reply usually shows the new size, but a slow guest is not an error
  // (metrics keep reporting what it reached).
  const settled = vm.rec.state === 'running' ? waitEvent(vm, 'BALLOON_CHANGE', { match: (ev) => reached(ev.data?.actual), timeoutMs: BALLOON_SETTLE_MS, signal }) : undefined;
  settled?.catch(() => undefined); // awaited below
  await qmp(vm, 'balloon', { value: target }, { signal });
  if (!settled) return;
  // A balloon already at the target changes nothing, so QEMU announces nothing.
  if (reached((await qmp(vm, 'query-balloon', undefined, { signal })).actual)) return;
  await settled.catch((err: unknown) => {
    if (!(err instanceof QemuTimeoutError)) throw err;
  });
}

/** Pause, save memory and device state to suspend.state, end QEMU. Disks stay as they are. */
export async function suspend(vm: VmRuntime, signal?: AbortSignal): Promise<void> {
  const wasRunning = vm.rec.state === 'running';
  const file = vm.paths.suspendState;
  vm.setState('suspending');
  try {
    await setRunning(vm, false, { signal });
    // A local file needs no bandwidth cap (QEMU's default is 128 MiB/s).
    await qmp(vm, 'migrate-set-parameters', { 'max-bandwidth': 1024 ** 4 }, { signal });
    rmSync(file, { force: true });
    await runMigration(vm, (call) => qmp(vm, 'migrate', { uri: `file:${file}` }, call), { timeoutMs: MIGRATION_TIMEOUT_MS, signal });
  } catch (err) {
    // A stream still writing (timed out, aborted) must stop before the guest runs on.
    if (err instanceof QemuTimeoutError || err instanceof AgentAbortedError) await qmp(vm, 'migrate_cancel').catch(() => undefined);
    rmSync(file, { force: true });
    if (wasRunning) await setRunning(vm, true).catch(() => undefined);
    vm.setState(wasRunning ? 'running' : 'paused', `suspend failed: ${(err as Error).message}`);
    throw err;
  }
  await terminate(vm, 0);
  vm.setState('suspended');
}

/** Start QEMU waiting for incoming state, load suspend.state, run. The guest continues where it was. */
export async function restore(ctx: LaunchContext, vm: VmRuntime, signal?: AbortSignal): Promise<void> {
  const file = vm.paths.suspendState;
  if (!existsSync(file)) {
    vm.setState('stopped', 'suspend.state is missing');
    throw new FerryError('INVALID_STATE', `cannot restore vm ${vm.name}: its saved state is missing`);
  }
  vm.setState('restoring');
  try {
    await launchQemu(ctx, vm, { incoming: true, signal });
    await runMigration(vm, (call) => qmp(vm, 'migrate-incoming', { uri: `file:${file}` }, call), { timeoutMs: MIGRATION_TIMEOUT_MS, signal });
    // `cont` before the incoming side reports completed is silently ignored (docs/qemu.md).
    await setRunning(vm, true, { signal });
  } catch (err) {
    if (vm.rec.pid !== undefined) await terminate(vm, 0).catch(() => undefined);
    vm.setState('suspended', `restore failed: ${(err as Error).message}`);
    throw err;
  }
  rmSync(file, { force: true });
  vm.setState('running');
}
