// On agent start: rebuild the in-memory VMs from <dataDir>/vms/*/vm.json. A VM whose QEMU is
// still alive (its PID's cmdline carries the VM's uuid) gets its QMP connection back and the
// state QEMU reports; a VM whose QEMU vanished while no agent watched becomes stopped or
// crashed. Suspended VMs stay suspended. A VM dir left by an uncommitted incoming migration
// is discarded (its QEMU killed).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { VmState } from '../contracts/index.js';
import { connectQmp } from './launch.js';
import { log } from './log.js';
import { isOurQemu, killPid } from './proc.js';
import { INCOMING_MARKER } from './migration/target.js';
import { qmp } from './qemu/monitor.js';
import { listVmNames, loadRecord, readPidFile, removeVmDir } from './vm-dir.js';
import { VmRuntime } from './vm-runtime.js';

const REATTACH_QMP_TIMEOUT_MS = 5_000;

export async function reattachAll(dataDir: string): Promise<VmRuntime[]> {
  const out: VmRuntime[] = [];
  for (const name of listVmNames(dataDir)) {
    const rec = loadRecord(dataDir, name);
    if (!rec) {
      log('skipping %s: unreadable vm.json', name);
      continue;
    }
    const vm = new VmRuntime(dataDir, rec, connectQmp);
    if (existsSync(join(vm.paths.dir, INCOMING_MARKER))) {
      // An incoming migration that was never committed: the source is still the VM of record.
      const pid = readPidFile(vm.paths.pidFile) ?? rec.pid;
      if (isOurQemu(pid, rec.spec.uuid)) killPid(pid, 'SIGKILL');
      removeVmDir(dataDir, name);
      log('discarded uncommitted incoming vm %s', name);
      continue;
    }
    await reattach(vm);
    out.push(vm);
  }
  return out;
}

async function reattach(vm: VmRuntime): Promise<void> {
  const pid = readPidFile(vm.paths.pidFile) ?? vm.rec.pid;
  if (isOurQemu(pid, vm.rec.spec.uuid)) {
    vm.rec.pid = pid;
    try {
      vm.attach(await connectQmp(vm.paths.qmpSock, REATTACH_QMP_TIMEOUT_MS), pid);
      const st = await qmp(vm, 'query-status');
      vm.setState(st.status === 'running' ? 'running' : 'paused');
      log('re-attached vm %s (pid %d, %s)', vm.name, pid, st.status);
    } catch (err) {
      // QEMU lives but will not talk to us: report it, keep its pid so `ferry down` finds it.
      vm.rec.error = `re-attach failed: ${(err as Error).message}`;
      vm.save();
      log('vm %s: %s', vm.name, vm.rec.error);
    }
    return;
  }
  const was: VmState = vm.rec.state;
  if (was === 'stopped' || was === 'crashed') return;
  if (was === 'suspended' || (was === 'restoring' && existsSync(vm.paths.suspendState))) return vm.setState('suspended');
  if (was === 'stopping' || was === 'starting') return vm.setState('stopped');
  vm.setState('crashed', `QEMU (pid ${pid ?? '?'}) exited while the agent was not running`);
}
