// Starting a VM from a checkpoint in this host's chunk store (failover, DR test, failback):
// the checkpoint's files are written out of the store (every chunk verified), the disks
// become the VM's qcow2 disks, and QEMU loads the memory file with `-incoming defer` +
// `migrate-incoming file:` using the capabilities it was saved with, then runs. The guest
// continues from the instant captured (its heartbeat counter goes on from there).
// A DR test copy runs under another name with a new uuid (it is not the VM of record) and
// with its network isolated (qemu-command.ts `isolated`).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, type RestoreRequest, type VmSpec, type VmStatus } from '../../contracts/index.js';
import { terminate } from '../actions.js';
import { qemuImg } from '../disks.js';
import { connectQmp, launchQemu } from '../launch.js';
import { log } from '../log.js';
import { qmpCall, waitMigration } from '../qmp-call.js';
import { diskFile, removeVmDir, vmPaths } from '../vm-dir.js';
import { VmRuntime } from '../vm-runtime.js';
import { vmStatus } from '../metrics.js';
import type { AgentContext } from '../agent-context.js';
import { MEMORY_FILE, checkpointCapabilities, diskFileName } from './capture.js';
import { markAllPagesPresent } from './mapped-ram.js';
import type { ChunkStore } from './store/index.js';

const LOAD_TIMEOUT_MS = 300_000;
const CONVERT_TIMEOUT_MS = 600_000;

export async function restoreCheckpoint(ctx: AgentContext, store: ChunkStore, req: RestoreRequest): Promise<VmStatus> {
  const c = store.get(req.vm, req.seq);
  if (!c || c.damaged) throw new FerryError('NOT_FOUND', `no usable checkpoint ${req.seq ?? '(newest)'} of vm ${req.vm} on this host`);
  const base = c.manifest.spec as VmSpec;
  const spec: VmSpec = req.asName ? { ...base, name: req.asName, uuid: randomUUID(), nics: base.nics.map(({ mac: _mac, ...n }) => n) } : base;
  if (ctx.mgr.vms.has(spec.name) || existsSync(vmPaths(ctx.dataDir, spec.name).dir)) throw new FerryError('CONFLICT', `vm ${spec.name} already exists on this host`);
  const vm = new VmRuntime(ctx.dataDir, { spec, state: 'restoring', endpoints: [], ...(req.isolated ? { isolated: true } : {}) }, connectQmp);
  const memFile = join(vm.paths.dir, 'checkpoint.mem');
  const t0 = performance.now();
  try {
    mkdirSync(vm.paths.dir, { recursive: true });
    vm.save();
    await store.materialize(c.vm, c.seq, MEMORY_FILE, memFile);
    await markAllPagesPresent(memFile);
    for (let i = 0; i < spec.disks.length; i++) {
      const raw = join(vm.paths.dir, `disk${i}.raw`);
      await store.materialize(c.vm, c.seq, diskFileName(i), raw);
      await qemuImg(['convert', '-f', 'raw', '-O', 'qcow2', raw, diskFile(vm.paths.dir, i)], CONVERT_TIMEOUT_MS);
      rmSync(raw, { force: true });
    }
    await launchQemu(ctx.launch, vm, { incoming: true });
    await qmpCall(vm, 'migrate-set-capabilities', { capabilities: checkpointCapabilities(true) });
    await qmpCall(vm, 'migrate-incoming', { uri: `file:${memFile}` });
    await waitMigration(vm, LOAD_TIMEOUT_MS);
    // `cont` before the incoming side reports completed is silently ignored (docs/qemu.md).
    await qmpCall(vm, 'cont');
  } catch (err) {
    if (vm.rec.pid !== undefined) await terminate(vm, 0).catch(() => undefined);
    removeVmDir(ctx.dataDir, spec.name);
    throw err;
  } finally {
    rmSync(memFile, { force: true });
  }
  vm.setState('running');
  ctx.mgr.adopt(vm);
  log('dr: vm %s restored from checkpoint %d of %s (taken %s) in %d ms%s', spec.name, c.seq, c.vm, c.takenAt, Math.round(performance.now() - t0), req.isolated ? ', isolated' : '');
  return vmStatus(vm);
}
