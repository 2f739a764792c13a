// VM operations. Each public method first refuses what it must (unknown VM, busy VM, host
// down, state forbids the action, no capacity) synchronously and with a typed error, then
// hands the slow part to a task. Decisions come from contracts/vm-actions.ts and placement.ts.
import { randomUUID } from 'node:crypto';
import type { CloneVmRequest, CreateVmRequest, Task, Vm } from '../contracts/controller-api.js';
import type { HostInfo, ResizeRequest, StopRequest } from '../contracts/agent-api.js';
import { pathOutside } from '../contracts/host-paths.js';
import type { VmLoad } from '../contracts/metrics.js';
import { FerryError } from '../contracts/errors.js';
import { assertAllowed, type VmAction } from '../contracts/vm-actions.js';
import { withDefaults, type VmSpec } from '../contracts/vm-spec.js';
import type { AgentClient, AgentPool, SimpleAction } from './agents.js';
import { vmTarget, type ClusterState } from './cluster-state.js';
import { ConflictError, InvalidRequestError } from './errors.js';
import { assignBridged, bridgedNeed, cloneNics, usedAddresses, withBridgedNeed } from './guest-net.js';
import { checkFits, DEFAULT_LIMITS, place, type PlacementLimits } from './placement.js';
import type { TaskContext } from './task.js';

export class VmService {
  constructor(
    private readonly state: ClusterState,
    private readonly agents: AgentPool,
    /** Current load of a VM, added to the answers below (MetricsService.vmLoad; never stored). */
    private readonly loadOf: (vm: string) => VmLoad | undefined,
    private readonly limits: PlacementLimits = DEFAULT_LIMITS,
  ) {}

  list(): Vm[] {
    return this.state.vms.list().map((vm) => this.withLoad(vm));
  }

  get(name: string): Vm {
    return this.withLoad(this.state.requireVm(name));
  }

  private withLoad(vm: Vm): Vm {
    const load = this.loadOf(vm.name);
    return load ? { ...vm, load } : vm;
  }

  create(req: CreateVmRequest): Task {
    const { host: wantedHost, start, ...input } = req;
    if (this.state.vms.get(input.name)) throw new ConflictError(`a VM named ${input.name} already exists`);
    this.state.runner.assertIdle(vmTarget(input.name));
    let spec = withDefaults(input, randomUUID());
    const snap = this.state.placementSnapshot();
    const bridged = bridgedNeed(spec);
    const host = place(snap.hosts, snap.vms, { memoryMiB: spec.memoryMiB, vcpus: spec.vcpus, ...(wantedHost !== undefined ? { host: wantedHost } : {}), ...(bridged ? { bridged } : {}) }, this.limits);
    const hostRec = this.state.requireHostUp(host);
    checkHostPaths(spec, hostRec.info);
    const net = hostRec.info.guestNetwork;
    if (bridged && net) spec = assignBridged(spec, net, usedAddresses(this.state.vms.list(), net.segment));
    const now = new Date().toISOString();
    const vm: Vm = { name: spec.name, uuid: spec.uuid, state: 'stopped', host, site: hostRec.info.site, memoryMiB: spec.memoryMiB, vcpus: spec.vcpus, workload: spec.workload, spec, endpoints: [], createdAt: now, updatedAt: now };
    // Insert and submit in the same tick: the record holds the name, the task holds the lock.
    this.state.insertVm(vm);
    return this.state.runner.submit({ kind: 'vm.create', target: vmTarget(vm.name), message: `placing ${vm.name} on ${host}` }, async (t) => {
      const agent = this.agentOf(host);
      t.progress(10, `defining ${vm.name} on ${host}`);
      try {
        this.state.applyStatus(await agent.define(spec, t.signal));
      } catch (err) {
        // Nothing was defined (as far as we know): the record would describe a VM that is not.
        this.state.removeVm(vm.name, { tombstone: false });
        throw err;
      }
      if (start !== false) await this.startStep(t, agent, vm.name, host, 40);
      return this.state.requireVm(vm.name);
    });
  }

  action(name: string, action: SimpleAction): Task {
    const vm = this.precheck(name, action);
    if (action === 'start') this.checkCapacity(vm);
    return this.state.runner.submit({ kind: `vm.${action}`, target: vmTarget(name) }, async (t) => {
      const agent = this.agentOf(vm.host);
      if (action === 'start') await this.startStep(t, agent, name, vm.host, 10);
      else {
        t.progress(10, `${action} ${name} on ${vm.host}`);
        this.state.applyStatus(await agent.action(name, action, t.signal));
      }
      return this.state.requireVm(name);
    });
  }

  stop(name: string, req: StopRequest): Task {
    const vm = this.precheck(name, 'stop');
    return this.state.runner.submit({ kind: 'vm.stop', target: vmTarget(name) }, async (t) => {
      t.progress(10, `${req.force ? 'killing' : 'shutting down'} ${name} on ${vm.host}`);
      this.state.applyStatus(await this.agentOf(vm.host).stop(name, req, t.signal));
      return this.state.requireVm(name);
    });
  }

  resize(name: string, req: ResizeRequest): Task {
    const vm = this.precheck(name, 'resize');
    if (req.memoryMiB > vm.spec.memoryMiB) {
      throw new InvalidRequestError('body.memoryMiB', `must be at most the VM's configured memory (${vm.spec.memoryMiB} MiB)`);
    }
    return this.state.runner.submit({ kind: 'vm.resize', target: vmTarget(name) }, async (t) => {
      t.progress(10, `setting ${name}'s balloon to ${req.memoryMiB} MiB`);
      this.state.applyStatus(await this.agentOf(vm.host).resize(name, req, t.signal));
      return this.state.requireVm(name);
    });
  }

  clone(name: string, req: CloneVmRequest): Task {
    const src = this.precheck(name, 'clone');
    if (this.state.vms.get(req.name)) throw new ConflictError(`a VM named ${req.name} already exists`);
    let spec: VmSpec = { ...src.spec, name: req.name, uuid: randomUUID(), nics: cloneNics(src.spec) };
    const net = this.state.hosts.get(src.host)?.info.guestNetwork;
    if (bridgedNeed(spec) && net) spec = assignBridged(spec, net, usedAddresses(this.state.vms.list(), net.segment));
    const snap = this.state.placementSnapshot();
    const host = snap.hosts.find((h) => h.name === src.host);
    if (host && req.start !== false) checkFits(host, snap.vms, spec, this.limits);
    const now = new Date().toISOString();
    const clone: Vm = { ...src, name: spec.name, uuid: spec.uuid, state: 'stopped', spec, endpoints: [], createdAt: now, updatedAt: now };
    delete clone.metrics;
    delete clone.error;
    this.state.insertVm(clone);
    const submit = { kind: 'vm.clone', target: vmTarget(name), alsoLocks: [vmTarget(clone.name)] };
    return this.state.runner.submit(submit, async (t) => {
      const agent = this.agentOf(src.host);
      t.progress(10, `cloning ${name} to ${clone.name} on ${src.host}${req.linked ? ' (linked)' : ''}`);
      try {
        this.state.applyStatus(await agent.clone(name, { name: clone.name, uuid: clone.uuid, linked: req.linked ?? false, nics: spec.nics }, t.signal));
      } catch (err) {
        this.state.removeVm(clone.name, { tombstone: false });
        throw err;
      }
      if (req.start !== false) await this.startStep(t, agent, clone.name, src.host, 60);
      return this.state.requireVm(clone.name);
    });
  }

  remove(name: string): Task {
    const vm = this.precheck(name, 'delete');
    return this.state.runner.submit({ kind: 'vm.delete', target: vmTarget(name) }, async (t) => {
      t.progress(10, `deleting ${name} and its files on ${vm.host}`);
      try {
        await this.agentOf(vm.host).remove(name, t.signal);
      } catch (err) {
        // Already gone from the agent is what we wanted.
        if (!(err instanceof FerryError && err.code === 'NOT_FOUND')) throw err;
      }
      this.state.removeVm(name, { tombstone: true });
      return undefined;
    });
  }

  async console(name: string, tailBytes?: number): Promise<string> {
    const vm = this.state.requireVm(name);
    this.state.requireHostUp(vm.host);
    try {
      return await this.agentOf(vm.host).console(name, tailBytes);
    } catch (err) {
      // The record exists from the moment a create is accepted; its agent has the VM only once
      // the task defined it there. Until then the console has nothing to show, which is no error.
      if (err instanceof FerryError && err.code === 'NOT_FOUND' && this.state.isBusy(name)) return '';
      throw err;
    }
  }

  /** 404, then busy (409 CONFLICT naming the task), then host down (503), then state (409). */
  private precheck(name: string, action: VmAction): Vm {
    const vm = this.state.requireVm(name);
    this.state.runner.assertIdle(vmTarget(name));
    this.state.requireHostUp(vm.host);
    assertAllowed(action, vm);
    return vm;
  }

  private checkCapacity(vm: Vm): void {
    const snap = this.state.placementSnapshot(vm.name);
    const host = snap.hosts.find((h) => h.name === vm.host);
    if (host) checkFits(host, snap.vms, withBridgedNeed(vm, vm.spec), this.limits);
  }

  /** Starts a defined VM; on failure the VM stays defined, its record says why, and the cause propagates. */
  private async startStep(t: TaskContext, agent: AgentClient, name: string, host: string, pct: number): Promise<void> {
    t.progress(pct, `starting ${name} on ${host}`);
    try {
      this.state.applyStatus(await agent.action(name, 'start', t.signal));
    } catch (err) {
      const st = await agent.get(name).catch(() => undefined);
      if (st) this.state.applyStatus(st);
      this.state.updateVm(name, { error: err instanceof Error ? err.message : String(err) });
      throw err;
    }
    t.progress(95, `${name} started on ${host}`);
  }

  private agentOf(host: string): AgentClient {
    return this.agents.forHost(this.state.requireHostUp(host).info);
  }
}

/** Refuses, naming the field, a host file outside the directories the host allows (the agent checks again, after realpath). */
function checkHostPaths(spec: VmSpec, host: HostInfo): void {
  if (!host.imageDirs) return; // an agent too old to say: it checks on its own
  const out = pathOutside(spec, host.imageDirs);
  if (out) throw new InvalidRequestError(`body.${out.field}`, `${out.path} is not under a directory host ${host.name} allows for images (${host.imageDirs.join(', ')})`);
}
