// The agent's domain core: its VMs by name, define/clone/delete, and every lifecycle action
// checked against the state table and run in the VM's own queue. Knows nothing of HTTP.
import { mkdirSync } from 'node:fs';
import { assertAllowed, FerryError, type VmAction, type CloneRequest, type StopRequest, type VmSpec, type VmStatus } from '../contracts/index.js';
import * as actions from './actions.js';
import { copyDisks, createDisks } from './disks.js';
import { heldImageFile } from './images/layout.js';
import { connectQmp, type LaunchContext } from './launch.js';
import { vmStatus } from './metrics.js';
import { setRunning } from './qemu/run-state.js';
import { readTail, removeVmDir, saveRecord, vmPaths } from './vm-dir.js';
import { VmRuntime } from './vm-runtime.js';
import { MAX_CONSOLE_TAIL_BYTES, type AgentSimpleAction } from '../contracts/agent-routes.js';

export const DEFAULT_CONSOLE_TAIL = 64 * 1024;

export class VmManager {
  readonly vms = new Map<string, VmRuntime>();

  constructor(
    readonly dataDir: string,
    readonly launch: LaunchContext,
  ) {}

  get(name: string): VmRuntime {
    const vm = this.vms.get(name);
    if (!vm) throw new FerryError('NOT_FOUND', `no vm ${name} on this host`);
    return vm;
  }

  list(): Promise<VmStatus[]> {
    return Promise.all([...this.vms.values()].map((vm) => vmStatus(vm)));
  }

  status(name: string): Promise<VmStatus> {
    return vmStatus(this.get(name));
  }

  async define(spec: VmSpec): Promise<VmStatus> {
    if (this.vms.has(spec.name)) throw new FerryError('CONFLICT', `vm ${spec.name} already exists on this host`);
    const vm = new VmRuntime(this.dataDir, { spec, state: 'stopped', endpoints: [] }, connectQmp);
    this.vms.set(spec.name, vm); // reserve the name while disks are made
    try {
      mkdirSync(vm.paths.dir, { recursive: true });
      await createDisks(vm.paths.dir, spec.disks, (id) => heldImageFile(this.dataDir, 'this host', id));
      vm.save();
    } catch (err) {
      this.vms.delete(spec.name);
      removeVmDir(this.dataDir, spec.name);
      throw err;
    }
    return vmStatus(vm);
  }

  /** Runs one action in the VM's queue, after checking the state allows it (at its turn). */
  private act(name: string, action: VmAction, fn: (vm: VmRuntime) => Promise<void>): Promise<VmStatus> {
    const vm = this.get(name);
    return vm.serialize(async () => {
      assertAllowed(action, { name, state: vm.rec.state });
      assertNotMigrating(vm);
      await fn(vm);
      return vmStatus(vm);
    });
  }

  /** `signal` (when the caller has one) ends the action's waiting; see actions.ts for what is left. */
  do(name: string, action: AgentSimpleAction, signal?: AbortSignal): Promise<VmStatus> {
    return this.act(name, action, (vm) => {
      switch (action) {
        case 'start':
          return actions.start(this.launch, vm, signal);
        case 'pause':
          return actions.pause(vm, signal);
        case 'resume':
          return actions.resume(vm, signal);
        case 'suspend':
          return actions.suspend(vm, signal);
        case 'restore':
          return actions.restore(this.launch, vm, signal);
      }
    });
  }

  stop(name: string, req: StopRequest, signal?: AbortSignal): Promise<VmStatus> {
    return this.act(name, 'stop', (vm) => actions.stop(vm, req, signal));
  }

  resize(name: string, memoryMiB: number, signal?: AbortSignal): Promise<VmStatus> {
    return this.act(name, 'resize', (vm) => actions.resize(vm, memoryMiB, signal));
  }

  /**
   * A clone gets the new name and uuid and fresh MACs (derived from the uuid) or the NICs the
   * controller gives (a bridged NIC's new address), and copies of
   * the disks; memory is not cloned, it boots. A running source is paused for the copy, so the
   * clone's disks are crash-consistent, then resumed.
   */
  async clone(name: string, req: CloneRequest, signal?: AbortSignal): Promise<VmStatus> {
    const src = this.get(name);
    if (this.vms.has(req.name)) throw new FerryError('CONFLICT', `vm ${req.name} already exists on this host`);
    const spec: VmSpec = { ...src.rec.spec, name: req.name, uuid: req.uuid, nics: req.nics ?? src.rec.spec.nics.map(({ mac: _mac, ...nic }) => nic) };
    const clone = new VmRuntime(this.dataDir, { spec, state: 'stopped', endpoints: [] }, connectQmp);
    this.vms.set(req.name, clone);
    try {
      await src.serialize(async () => {
        assertAllowed('clone', { name, state: src.rec.state });
        assertNotMigrating(src);
        mkdirSync(clone.paths.dir, { recursive: true });
        const wasRunning = src.rec.state === 'running';
        if (wasRunning) await setRunning(src, false, { signal });
        try {
          await copyDisks(src.paths.dir, clone.paths.dir, spec.disks.length, req.linked, signal);
        } finally {
          // Never with the signal: an aborted clone still leaves its source running.
          if (wasRunning) await setRunning(src, true);
        }
        clone.save();
      });
    } catch (err) {
      this.vms.delete(req.name);
      removeVmDir(this.dataDir, req.name);
      throw err;
    }
    return vmStatus(clone);
  }

  async remove(name: string): Promise<void> {
    const vm = this.get(name);
    await vm.serialize(async () => {
      assertAllowed('delete', { name, state: vm.rec.state });
      assertNotMigrating(vm);
      if (vm.pidAlive) throw new FerryError('INVALID_STATE', `cannot delete vm ${name}: its QEMU (pid ${vm.rec.pid}) is still alive`);
      this.vms.delete(name);
      removeVmDir(this.dataDir, name);
    });
  }

  /** The last `tailBytes` of the serial console log (whole lines are not guaranteed). */
  console(name: string, tailBytes = DEFAULT_CONSOLE_TAIL): string {
    this.get(name);
    return readTail(vmPaths(this.dataDir, name).consoleLog, Math.min(Math.max(0, tailBytes), MAX_CONSOLE_TAIL_BYTES));
  }

  /** For the agent's close(): forget QMP connections, leave every QEMU running. */
  detachAll(): void {
    for (const vm of this.vms.values()) vm.detach();
  }

  /** A VM that left this host (outgoing migration committed): drop it from the map. */
  forget(name: string): void {
    this.vms.delete(name);
  }

  adopt(vm: VmRuntime): void {
    this.vms.set(vm.name, vm);
    saveRecord(this.dataDir, vm.rec);
  }
}

function assertNotMigrating(vm: VmRuntime): void {
  if (vm.migrationId) throw new FerryError('INVALID_STATE', `vm ${vm.name} is being migrated (migration ${vm.migrationId})`);
}
