// Service endpoints and the location registry as the controller runs them: `expose` makes a
// guest port reachable on the VM's host (adding the forward to its spec if needed) and opens a
// stable listener for it; every VM record change updates the registry and wakes the listeners
// of that VM, whose held clients then go to the new location. See docs/endpoints.md.
import type { Vm } from '../../contracts/controller-api.js';
import type { LocationReason, ServiceEndpoint, VmLocation } from '../../contracts/endpoints.js';
import { forwardPortsOf, MAX_FORWARD_PORTS, type VmSpec } from '../../contracts/vm-spec.js';
import type { AgentPool } from '../agents.js';
import { vmTarget, type ClusterState } from '../cluster-state.js';
import type { MoveRegistry } from '../cluster/moves.js';
import { InvalidStateError, NotFoundError } from '../errors.js';
import type { EventBus } from '../events.js';
import { createLog } from '../log.js';
import { route, type Route } from './gate.js';
import { EndpointListener, type EndpointLimits } from './proxy.js';
import { LocationRegistry } from './registry.js';
import type { Exposure, ExposuresRepo } from './repo.js';

const log = createLog('ferry:controller:endpoints');

export interface EndpointDeps {
  state: ClusterState;
  /** Moves at their switch-over: new clients are held until the VM runs somewhere for sure. */
  moves: Pick<MoveRegistry, 'isSwitching' | 'onSwitch'>;
  agents: AgentPool;
  repo: ExposuresRepo;
  bus: EventBus;
  limits?: Partial<EndpointLimits>;
  /** Where endpoints listen (`bind`) and the host their URLs name (`shown`); default 127.0.0.1 for both. */
  address?: { bind: string; shown: string };
}

const key = (vm: string, port: number): string => `${vm}/${port}`;

/** The spec with `port` forwarded on the first NIC. */
function withForward(spec: VmSpec, port: number): VmSpec {
  const nics = spec.nics.map((n, i) => (i === 0 && n.network === 'user' ? { ...n, forwardPorts: [...(n.forwardPorts ?? []), port] } : n));
  return { ...spec, nics };
}

export class EndpointService {
  readonly registry: LocationRegistry;
  private readonly listeners = new Map<string, EndpointListener>();
  private readonly pending = new Map<string, Promise<ServiceEndpoint>>();
  /** Forwards already asked of a host after a move (vm/host/port), so a failing one is not asked again and again. */
  private readonly healed = new Set<string>();

  private urlOf(listenPort: number): string {
    const host = this.d.address?.shown ?? '127.0.0.1';
    return `tcp://${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${listenPort}`;
  }

  constructor(private readonly d: EndpointDeps) {
    this.registry = new LocationRegistry((e) => d.bus.publish(e), (vm) => d.repo.list(vm).map((e) => e.guestPort));
    this.registry.seed(d.state.vms.list());
    d.state.watchVms((b, a, reason) => this.vmChanged(b, a, reason));
    d.moves.onSwitch((vm) => this.wake(vm));
  }

  /** Opens the listeners of the exposures kept in the database, on their own ports. */
  async start(): Promise<void> {
    for (const e of this.d.repo.list()) {
      try {
        await this.open(e);
      } catch (err) {
        log('cannot listen again on port %d for %s port %d: %s', e.listenPort, e.vm, e.guestPort, (err as Error).message);
      }
    }
  }

  /** `created` false: the port was exposed already (the same endpoint). */
  async expose(name: string, port: number): Promise<{ created: boolean; endpoint: ServiceEndpoint }> {
    const k = key(name, port);
    const known = this.d.repo.get(name, port);
    if (known) return { created: false, endpoint: this.view(known) };
    const inFlight = this.pending.get(k);
    if (inFlight) return { created: false, endpoint: await inFlight };
    const p = this.create(name, port).finally(() => this.pending.delete(k));
    this.pending.set(k, p);
    return { created: true, endpoint: await p };
  }

  unexpose(name: string, port: number): void {
    this.d.state.requireVm(name);
    if (this.d.repo.remove(name, port) === 0) throw new NotFoundError(`endpoint of VM ${name} port ${port}`);
    this.closeListener(name, port);
    this.registry.portsChanged(name);
  }

  list(name: string): ServiceEndpoint[] {
    this.d.state.requireVm(name);
    return this.d.repo.list(name).map((e) => this.view(e));
  }

  locations(): VmLocation[] {
    return this.registry.list();
  }

  location(name: string): VmLocation | undefined {
    return this.registry.get(name);
  }

  async close(): Promise<void> {
    const all = [...this.listeners.values()];
    this.listeners.clear();
    await Promise.all(all.map((l) => l.close()));
  }

  private async create(name: string, port: number): Promise<ServiceEndpoint> {
    await this.ensureForward(this.d.state.requireVm(name), port);
    const e: Exposure = { vm: name, guestPort: port, listenPort: 0, createdAt: new Date().toISOString() };
    e.listenPort = await this.open(e);
    try {
      this.d.repo.insert(e);
    } catch (err) {
      this.closeListener(name, port);
      throw err;
    }
    this.registry.portsChanged(name);
    log('exposed %s port %d at %s', name, port, this.urlOf(e.listenPort));
    return this.view(e);
  }

  private async open(e: Exposure): Promise<number> {
    const l = new EndpointListener({ name: `${e.vm}:${e.guestPort}`, port: e.listenPort, ...(this.d.address ? { host: this.d.address.bind } : {}), route: () => this.routeOf(e.vm, e.guestPort), ...(this.d.limits ? { limits: this.d.limits } : {}) });
    const port = await l.listen();
    this.listeners.set(key(e.vm, e.guestPort), l);
    return port;
  }

  private closeListener(vm: string, port: number): void {
    const l = this.listeners.get(key(vm, port));
    this.listeners.delete(key(vm, port));
    void l?.close();
  }

  /** The VM forwards `port` on its host: declared in its spec, or added now (spec and running QEMU). */
  private async ensureForward(vm: Vm, port: number, healing = false): Promise<void> {
    if (vm.spec.nics.length === 0) throw new InvalidStateError(`VM ${vm.name} has no network interface to expose a port of`);
    const nic0 = vm.spec.nics[0];
    if (nic0?.network === 'bridged') {
      throw new InvalidStateError(`VM ${vm.name} is bridged on segment ${nic0.segment ?? '?'}: clients there reach it at ${nic0.ip?.split('/')[0] ?? 'its address'}:${port} directly, wherever it moves within the segment`);
    }
    const forwards = forwardPortsOf(nic0);
    const declared = forwards.includes(port);
    if (!declared && forwards.length >= MAX_FORWARD_PORTS) throw new InvalidStateError(`VM ${vm.name} forwards ${MAX_FORWARD_PORTS} guest ports already, the most one NIC has`);
    const live = vm.state === 'running' || vm.state === 'paused';
    if (declared && (!live || vm.endpoints.some((e) => e.guestPort === port))) return;
    // A move in progress would start the target from the spec it was given: change it afterwards.
    // (Healing runs at a move's activation: the spec of record has the port already.)
    if (!healing) this.d.state.runner.assertIdle(vmTarget(vm.name));
    const agent = this.d.agents.forHost(this.d.state.requireHostUp(vm.host).info);
    const st = await agent.forward(vm.name, port);
    if (!declared) this.d.state.updateVm(vm.name, { spec: withForward(vm.spec, port) });
    this.d.state.applyStatus(st);
  }

  private routeOf(vm: string, guestPort: number): Route {
    const rec = this.d.state.vms.get(vm);
    return route({ vm: rec, confirmedHost: this.registry.confirmedHost(vm), switching: this.d.moves.isSwitching(vm), guestPort });
  }

  private view(e: Exposure): ServiceEndpoint {
    const r = this.routeOf(e.vm, e.guestPort);
    const l = this.listeners.get(key(e.vm, e.guestPort));
    return {
      port: e.guestPort,
      url: this.urlOf(e.listenPort),
      vm: e.vm,
      ...(r.kind === 'connect' ? { target: `${r.host}:${r.port}` } : {}),
      ...(l ? { connections: l.connections, held: l.heldCount } : {}),
    };
  }

  private vmChanged(before: Vm | undefined, after: Vm | undefined, reason?: LocationReason): void {
    const loc = this.registry.changed(before, after, reason);
    if (!after && before) {
      for (const e of this.d.repo.list(before.name)) this.closeListener(e.vm, e.guestPort);
      this.d.repo.remove(before.name);
    }
    const name = after?.name ?? before?.name;
    if (name !== undefined) this.wake(name);
    if (loc && after) this.heal(after, loc);
  }

  /** A copy started from an older spec (a DR checkpoint taken before `expose`) lacks forwards: add them. */
  private heal(vm: Vm, loc: VmLocation): void {
    if (vm.state !== 'running' || this.registry.confirmedHost(vm.name) !== vm.host) return;
    for (const port of loc.ports) {
      const k = `${vm.name}/${vm.host}/${vm.uuid}/${port}`;
      if (vm.endpoints.some((e) => e.guestPort === port) || this.healed.has(k)) continue;
      this.healed.add(k);
      log('%s on %s lacks the forward of exposed port %d: adding it', vm.name, vm.host, port);
      this.ensureForward(vm, port, true).catch((err: Error) => log('%s: cannot forward port %d on %s: %s', vm.name, port, vm.host, err.message));
    }
  }

  private wake(vm: string): void {
    for (const [k, l] of this.listeners) if (k.startsWith(`${vm}/`)) l.wake();
  }
}
