// A minimal in-memory agent for the controller's tests: serves the agent API from its route
// table (src/contracts/agent-routes.ts) over real HTTPS with mutual TLS (a controller's certificate), on the same
// server base as the real agent, so it refuses what the real agent refuses and every reply it
// sends is checked against the contract (contract-server.ts). It keeps VM states, and lets a
// test make an action fail with a given error or hang until released. It runs no QEMU: the
// controller's logic is under test here; the real agent is tested with QEMU elsewhere.
import type { AddressInfo } from 'node:net';
import { httpsServerOptions } from '../../pki/index.js';
import type { TestPki } from '../pki.js';
import type { FastifyInstance } from 'fastify';
import type { CloneRequest, ForwardRequest, HostInfo, ProbeRequest } from '../../contracts/agent-api.js';
import { AGENT_API_PREFIX } from '../../contracts/agent-api.js';
import { AGENT_ROUTES, type AgentRouteName, type AgentSimpleAction } from '../../contracts/agent-routes.js';
import type { ReceiveCheckpointRequest, RestoreRequest, SendCheckpointRequest } from '../../contracts/dr.js';
import type { ErrorCode } from '../../contracts/errors.js';
import { createApiServer } from '../../contracts/http-server.js';
import type { IncomingMigrationRequest, MeasureRequest, OutgoingMigrationRequest } from '../../contracts/migration.js';
import { forwardPortsOf, type VmSpec, type VmState, type VmStatus } from '../../contracts/vm-spec.js';
import { fail, ok, serveRoutes, throwUncaught, type ContractBreach, type FakeHandler, type FakeReply, type FakeRequest } from './contract-server.js';
import { FERRY_VERSION } from '../../contracts/version.js';
import { FakeDr } from './fake-dr.js';
import { FakeMigrations } from './fake-migrations.js';

export interface FakeFailure {
  status: number;
  code: ErrorCode;
  message: string;
}

export interface FakeAgentOptions {
  /** Told of a reply that breaks the contract (default: thrown where nothing catches it). */
  onBreach?: (b: ContractBreach) => void;
}

const RESULT_STATE: Record<AgentSimpleAction | 'stop' | 'resize', VmState> = {
  start: 'running',
  stop: 'stopped',
  pause: 'paused',
  resume: 'running',
  suspend: 'suspended',
  restore: 'running',
  resize: 'running',
};

/**
 * What each served route is logged as in `calls` (with the VM's name for VM routes), and the
 * key `failNext` and `hold` take: e.g. `start`, `define`, `migration commit`, `dr send`.
 */
const ACTION = {
  host: 'host', listVms: 'list', probe: 'probe', forward: 'forwards',
  define: 'define', get: 'get', remove: 'delete', console: 'console', clone: 'clone',
  start: 'start', pause: 'pause', resume: 'resume', suspend: 'suspend', restore: 'restore', stop: 'stop', resize: 'resize',
  measure: 'migration measure', incoming: 'migration incoming', outgoing: 'migration outgoing',
  migration: 'migration progress', commitMigration: 'migration commit', abortMigration: 'migration abort',
  drReceive: 'dr receive', drSend: 'dr send', drJob: 'dr job', drAbort: 'dr abort',
  drStored: 'dr store', drDeleteStore: 'dr store-delete', drRestore: 'dr restore', drScrub: 'dr scrub',
} as const satisfies Record<AgentRouteName, string>;

export class FakeAgent {
  readonly vms = new Map<string, VmStatus>();
  readonly calls: string[] = [];
  private readonly failures = new Map<string, FakeFailure>();
  private readonly holds = new Map<string, { reached: () => void; release: Promise<void> }>();
  private app: FastifyInstance | undefined;
  url = '';
  /** The agent's ferry-wire endpoint as its heartbeat reports it (undefined: an agent without one). */
  dataUrl: string | undefined = 'ferry-wire://127.0.0.1:1';
  readonly migrations = new FakeMigrations(this.vms);
  /** What the VM's console shows (a function, so a test can make the heartbeat advance). */
  consoleText: (name: string) => string = () => 'ferry-heartbeat seq=1 bad=0\n';
  readonly dr = new FakeDr(this.vms, (name) => this.consoleText(name));
  /** The CSR sent with the next heartbeats, if any. */
  csr: string | undefined;

  constructor(
    readonly name: string,
    /** The cluster's PKI: the fake serves HTTPS with host `name`'s certificate and takes only a controller's. */
    readonly pki: TestPki,
    readonly site = 'main',
    readonly memoryMiB = 8192,
    readonly cpus = 2,
    private readonly opts: FakeAgentOptions = {},
  ) {}

  async listen(): Promise<void> {
    const https = httpsServerOptions(await this.pki.identity(this.name), true);
    const app = createApiServer({ https, credentials: [{ prefix: AGENT_API_PREFIX, peer: (p) => p.role === 'controller' }] });
    serveRoutes(app, AGENT_ROUTES, this.logged(), this.opts.onBreach ?? throwUncaught);
    await app.listen({ host: '127.0.0.1', port: 0 });
    this.app = app;
    this.url = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.app?.server.closeAllConnections();
    await this.app?.close();
  }

  info(): HostInfo {
    return { name: this.name, site: this.site, url: this.url, cpus: this.cpus, memoryMiB: this.memoryMiB, accel: 'tcg', qemuVersion: '10.0.0', agentVersion: FERRY_VERSION, pid: process.pid, loadAvg1: 0.1, memoryFreeMiB: 4000, ...(this.dataUrl ? { dataUrl: this.dataUrl } : {}) };
  }

  heartbeat(): { host: HostInfo; vms: VmStatus[]; csr?: string } {
    return { host: this.info(), vms: [...this.vms.values()], ...(this.csr ? { csr: this.csr } : {}) };
  }

  /** The next `action` (e.g. `start`, `define`) answers with this error. */
  failNext(action: string, f: FakeFailure): void {
    this.failures.set(action, f);
  }

  /** The next `action` waits until the returned release() is called; `reached` resolves when it arrives. */
  hold(action: string): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const reachedP = new Promise<void>((r) => (reached = r));
    this.holds.set(action, { reached, release: new Promise<void>((r) => (release = r)) });
    return { reached: reachedP, release };
  }

  /** The handlers, each logged in `calls` and held or failed first if a test asked to. */
  private logged(): Record<AgentRouteName, FakeHandler> {
    const handlers = this.handlers();
    const out = { ...handlers } as Record<AgentRouteName, FakeHandler>;
    for (const name of Object.keys(handlers) as AgentRouteName[]) {
      const action = ACTION[name];
      out[name] = async (req) => {
        const vm = req.params.name ?? (name === 'define' ? (req.body as VmSpec).name : undefined);
        this.calls.push(vm === undefined ? action : `${action} ${vm}`);
        return (await this.intercept(action)) ?? handlers[name](req);
      };
    }
    return out;
  }

  /** Holds the call if a test asked to, then fails it if a test asked to (each once). */
  private async intercept(action: string): Promise<FakeReply | undefined> {
    const hold = this.holds.get(action);
    if (hold) {
      this.holds.delete(action);
      hold.reached();
      await hold.release;
    }
    const f = this.failures.get(action);
    if (!f) return undefined;
    this.failures.delete(action);
    return { status: f.status, body: { error: { code: f.code, message: f.message } } };
  }

  private handlers(): Record<AgentRouteName, (req: FakeRequest) => FakeReply> {
    const vmAction = (name: AgentSimpleAction | 'stop' | 'resize') => (req: FakeRequest) => this.act(req.params.name!, RESULT_STATE[name]);
    const m = this.migrations;
    const dr = this.dr;
    return {
      host: () => ok(this.info()),
      listVms: () => ok([...this.vms.values()]),
      define: (req) => this.define(req.body as VmSpec),
      get: (req) => this.withVm(req, (vm) => ok(vm)),
      remove: (req) =>
        this.withVm(req, (vm) => {
          this.vms.delete(vm.name);
          return { status: 204 };
        }),
      console: (req) => this.withVm(req, (vm) => ok(this.consoleText(vm.name))),
      clone: (req) => this.withVm(req, (vm) => this.clone(vm, req.body as CloneRequest)),
      start: vmAction('start'),
      pause: vmAction('pause'),
      resume: vmAction('resume'),
      suspend: vmAction('suspend'),
      restore: vmAction('restore'),
      stop: vmAction('stop'),
      resize: vmAction('resize'),
      // No guest runs here: nothing answers on a guest port.
      probe: (req) => this.withVm(req, () => ok({ guestPort: (req.body as ProbeRequest).guestPort, answered: false, ms: 0, error: 'the fake agent runs no guest' })),
      forward: (req) => this.withVm(req, (vm) => this.forward(vm, (req.body as ForwardRequest).guestPort)),
      measure: (req) => m.measureVm(req.body as MeasureRequest),
      incoming: (req) => m.incoming(req.body as IncomingMigrationRequest),
      outgoing: (req) => m.outgoing(req.body as OutgoingMigrationRequest),
      migration: (req) => m.progress(req.params.id!),
      commitMigration: (req) => m.commit(req.params.id!),
      abortMigration: (req) => m.abort(req.params.id!, (req.body ?? {}) as { targetGone?: boolean }),
      drReceive: (req) => dr.receive(req.body as ReceiveCheckpointRequest),
      drSend: (req) => dr.send(req.body as SendCheckpointRequest),
      drJob: (req) => dr.job(req.params.id!),
      drAbort: (req) => dr.abort(req.params.id!),
      drStored: (req) => dr.stored(req.params.vm!),
      drDeleteStore: (req) => dr.dropStore(req.params.vm!),
      drRestore: (req) => dr.restore(req.body as RestoreRequest),
      drScrub: () => ok({ chunks: 0, bytes: 0, corrupt: [], damaged: [] }),
    };
  }

  private define(spec: VmSpec): FakeReply {
    const st: VmStatus = { name: spec.name, uuid: spec.uuid, state: 'stopped', spec, endpoints: [] };
    this.vms.set(spec.name, st);
    return ok(st);
  }

  private withVm(req: FakeRequest, then: (vm: VmStatus) => FakeReply): FakeReply {
    const name = req.params.name!;
    const vm = this.vms.get(name);
    return vm ? then(vm) : fail('NOT_FOUND', `no VM ${name}`);
  }

  private act(name: string, next: VmState): FakeReply {
    const vm = this.vms.get(name);
    if (!vm) return fail('NOT_FOUND', `no VM ${name}`);
    const st: VmStatus = { ...vm, state: next };
    this.vms.set(name, st);
    return ok(st);
  }

  /** Adds the port to the first NIC's forwards, as the real agent does to the spec. */
  private forward(vm: VmStatus, port: number): FakeReply {
    const nics = vm.spec.nics.map((n, i) => (i === 0 && n.network === 'user' && !forwardPortsOf(n).includes(port) ? { ...n, forwardPorts: [...forwardPortsOf(n), port] } : n));
    const st: VmStatus = { ...vm, spec: { ...vm.spec, nics } };
    this.vms.set(vm.name, st);
    return ok(st);
  }

  private clone(vm: VmStatus, c: CloneRequest): FakeReply {
    const st: VmStatus = { name: c.name, uuid: c.uuid, state: 'stopped', spec: { ...vm.spec, name: c.name, uuid: c.uuid }, endpoints: [] };
    this.vms.set(c.name, st);
    return ok(st);
  }
}
