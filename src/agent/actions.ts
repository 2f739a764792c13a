// The lifecycle actions on one VM's QEMU. Callers (manager.ts) have already checked the
// state table and hold the VM's action queue, so each function runs alone for its VM.
import { rmSync, existsSync } from 'node:fs';
import { FerryError, type StopRequest } from '../contracts/index.js';
import { launchQemu, type LaunchContext } from './launch.js';
import { log } from './log.js';
import { killPid } from './proc.js';
import { qmpCall, waitMigration } from './qmp-call.js';
import type { VmRuntime } from './vm-runtime.js';

const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const QUIT_WAIT_MS = 5_000;
const MIGRATION_TIMEOUT_MS = 10 * 60_000;
const BALLOON_SETTLE_MS = 5_000;

export async function start(ctx: LaunchContext, vm: VmRuntime): Promise<void> {
  vm.setState('starting');
  try {
    await launchQemu(ctx, vm);
  } catch (err) {
    vm.setState('stopped', (err as Error).message);
    throw err;
  }
  vm.setState('running');
}

export async function pause(vm: VmRuntime): Promise<void> {
  await qmpCall(vm, 'stop');
  vm.setState('paused');
}

export async function resume(vm: VmRuntime): Promise<void> {
  await qmpCall(vm, 'cont');
  vm.setState('running');
}

/** Ends QEMU: graceful power-off (unless forced or paused: a paused guest cannot react), then quit, then SIGKILL. */
export async function stop(vm: VmRuntime, req: StopRequest): Promise<void> {
  if (vm.rec.state === 'suspended') {
    rmSync(vm.paths.suspendState, { force: true });
    return vm.setState('stopped');
  }
  if (vm.rec.state === 'crashed' && !vm.pidAlive) return vm.setState('stopped');
  const graceful = !req.force && vm.rec.state === 'running';
  vm.setState('stopping');
  await terminate(vm, graceful ? (req.timeoutMs ?? DEFAULT_STOP_TIMEOUT_MS) : 0);
  vm.setState('stopped');
}

/** Ends QEMU (graceful power-off for `gracefulMs`, then quit, then SIGKILL); leaves the state to the caller. */
export async function terminate(vm: VmRuntime, gracefulMs: number): Promise<void> {
  vm.expectingExit = true;
  try {
    if (gracefulMs > 0) {
      await qmpCall(vm, 'system_powerdown').catch((err: Error) => log('vm %s: system_powerdown: %s', vm.name, err.message));
      if (await vm.waitForExit(gracefulMs)) return;
    }
    if (vm.qmp && !vm.qmp.closed) {
      await qmpCall(vm, 'quit', undefined, QUIT_WAIT_MS).catch((err: Error) => log('vm %s: quit: %s', vm.name, err.message));
      if (await vm.waitForExit(QUIT_WAIT_MS)) return;
    }
    if (vm.rec.pid !== undefined && vm.pidAlive) killPid(vm.rec.pid, 'SIGKILL');
    if (!(await vm.waitForExit(QUIT_WAIT_MS))) throw new FerryError('INTERNAL', `vm ${vm.name}: QEMU pid ${vm.rec.pid} survived SIGKILL`);
  } finally {
    vm.qmp?.destroy();
    vm.qmp = undefined;
    vm.expectingExit = false;
  }
}

export async function resize(vm: VmRuntime, memoryMiB: number): Promise<void> {
  const spec = vm.rec.spec;
  if (!spec.balloon) throw new FerryError('INVALID_REQUEST', `vm ${vm.name} has no balloon device`, { field: 'body.memoryMiB' });
  if (memoryMiB > spec.memoryMiB) {
    throw new FerryError('INVALID_REQUEST', `memoryMiB ${memoryMiB} exceeds vm ${vm.name}'s configured ${spec.memoryMiB} MiB`, { field: 'body.memoryMiB' });
  }
  const target = memoryMiB * 1024 * 1024;
  await qmpCall(vm, 'balloon', { value: target });
  // The guest gives memory back gradually: wait a little so the reply usually shows the new
  // size, but a slow guest is not an error (metrics keep reporting what it reached).
  const deadline = Date.now() + BALLOON_SETTLE_MS;
  while (Date.now() < deadline && vm.rec.state === 'running') {
    const info = await qmpCall<{ actual: number }>(vm, 'query-balloon');
    if (Math.abs(info.actual - target) < 1024 * 1024) break;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Pause, save memory and device state to suspend.state, end QEMU. Disks stay as they are. */
export async function suspend(vm: VmRuntime): Promise<void> {
  const wasRunning = vm.rec.state === 'running';
  const file = vm.paths.suspendState;
  vm.setState('suspending');
  try {
    await qmpCall(vm, 'stop');
    // A local file needs no bandwidth cap (QEMU's default is 128 MiB/s).
    await qmpCall(vm, 'migrate-set-parameters', { 'max-bandwidth': 1024 ** 4 });
    rmSync(file, { force: true });
    await qmpCall(vm, 'migrate', { uri: `file:${file}` });
    await waitMigration(vm, MIGRATION_TIMEOUT_MS);
  } catch (err) {
    rmSync(file, { force: true });
    if (wasRunning) await qmpCall(vm, 'cont').catch(() => undefined);
    vm.setState(wasRunning ? 'running' : 'paused', `suspend failed: ${(err as Error).message}`);
    throw err;
  }
  await terminate(vm, 0);
  vm.setState('suspended');
}

/** Start QEMU waiting for incoming state, load suspend.state, run. The guest continues where it was. */
export async function restore(ctx: LaunchContext, vm: VmRuntime): Promise<void> {
  const file = vm.paths.suspendState;
  if (!existsSync(file)) {
    vm.setState('stopped', 'suspend.state is missing');
    throw new FerryError('INVALID_STATE', `cannot restore vm ${vm.name}: its saved state is missing`);
  }
  vm.setState('restoring');
  try {
    await launchQemu(ctx, vm, { incoming: true });
    await qmpCall(vm, 'migrate-incoming', { uri: `file:${file}` });
    await waitMigration(vm, MIGRATION_TIMEOUT_MS);
    // `cont` before the incoming side reports completed is silently ignored (docs/qemu.md).
    await qmpCall(vm, 'cont');
  } catch (err) {
    if (vm.rec.pid !== undefined) await terminate(vm, 0).catch(() => undefined);
    vm.setState('suspended', `restore failed: ${(err as Error).message}`);
    throw err;
  }
  rmSync(file, { force: true });
  vm.setState('running');
}
