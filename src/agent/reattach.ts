// On agent start: rebuild the in-memory VMs from <dataDir>/vms/*/vm.json. A VM whose QEMU is
// still alive (its PID's cmdline carries the VM's uuid) gets its QMP connection back and the
// state QEMU reports; a VM whose QEMU vanished while no agent watched becomes stopped or
// crashed. Suspended VMs stay suspended. A VM in the middle of a migration (its directory carries
// a mark, migration/markers.ts) is handed to migration/recovered.ts, which finishes or undoes the
// part that is this host's and remembers the outcome for the controller's questions.
import { existsSync } from 'node:fs';
import type { VmState } from '../contracts/index.js';
import { connectQmp } from './launch.js';
import { log } from './log.js';
import type { VmManager } from './manager.js';
import { isOurQemu } from './proc.js';
import { INCOMING_MARKER, OUTGOING_MARKER, readMark } from './migration/markers.js';
import { RecoveredMigration } from './migration/recovered.js';
import { qmp } from './qemu/monitor.js';
import { listVmNames, loadRecord, readPidFile } from './vm-dir.js';
import { VmRuntime } from './vm-runtime.js';

const REATTACH_QMP_TIMEOUT_MS = 5_000;

/** Re-attaches every VM of `dataDir` into `mgr`; returns the migrations they were in the middle of. */
export async function reattachAll(dataDir: string, mgr: VmManager): Promise<RecoveredMigration[]> {
  const migrations: RecoveredMigration[] = [];
  for (const name of listVmNames(dataDir)) {
    const rec = loadRecord(dataDir, name);
    if (!rec) {
      log('skipping %s: unreadable vm.json', name);
      continue;
    }
    const vm = new VmRuntime(dataDir, rec, connectQmp);
    const incoming = readMark(vm.paths.dir, INCOMING_MARKER);
    try {
      if (incoming) {
        const { migration, keep } = await RecoveredMigration.incoming(vm, incoming, reattach);
        migrations.push(migration);
        if (keep) mgr.adopt(keep);
        continue;
      }
      await reattach(vm);
      mgr.adopt(vm);
      const outgoing = readMark(vm.paths.dir, OUTGOING_MARKER);
      if (outgoing) migrations.push(await RecoveredMigration.outgoing(vm, outgoing, mgr));
    } catch (err) {
      // Left as found (marks included) for the next start or a human; the agent still comes up.
      log('vm %s: recovering its migration: %s', name, (err as Error).message);
    }
  }
  return migrations;
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
