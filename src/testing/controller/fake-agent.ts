// A minimal in-memory agent for the controller's tests: speaks the agent API
// (src/contracts/agent-api.ts) over real HTTP with the cluster secret, keeps VM states, and lets a
// test make an action fail with a given error or hang until released. It runs no QEMU: the
// controller's logic is under test here; the real agent is tested with QEMU elsewhere.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HostInfo } from '../../contracts/agent-api.js';
import type { VmSpec, VmState, VmStatus } from '../../contracts/vm-spec.js';
import { FERRY_VERSION } from '../../contracts/version.js';
import { FakeDr } from './fake-dr.js';
import { FakeMigrations } from './fake-migrations.js';

export interface FakeFailure {
  status: number;
  code: string;
  message: string;
}

const RESULT_STATE: Record<string, VmState> = {
  start: 'running',
  stop: 'stopped',
  pause: 'paused',
  resume: 'running',
  suspend: 'suspended',
  restore: 'running',
  resize: 'running',
};

export class FakeAgent {
  readonly vms = new Map<string, VmStatus>();
  readonly calls: string[] = [];
  private readonly failures = new Map<string, FakeFailure>();
  private readonly holds = new Map<string, { reached: () => void; release: Promise<void> }>();
  private server: Server | undefined;
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
    private readonly secret: string,
    readonly site = 'main',
    readonly memoryMiB = 8192,
    readonly cpus = 2,
  ) {}

  async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req).then(
        ({ status, body }) => {
          res.writeHead(status, typeof body === 'string' ? { 'content-type': 'text/plain' } : { 'content-type': 'application/json' });
          res.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
        },
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: { code: 'INTERNAL', message: err.message } }));
        },
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
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
    return err(f.status, f.code, f.message);
  }

  /**
   * Migration and DR routes; calls are logged (and can be held or failed) as e.g.
   * `migration outgoing`, `migration commit`, `dr send`, `dr restore`.
   */
  private async delegate(action: string, handle: () => FakeReply): Promise<FakeReply> {
    this.calls.push(action);
    return (await this.intercept(action)) ?? handle();
  }

  private async handle(req: IncomingMessage): Promise<{ status: number; body?: unknown }> {
    if (req.headers.authorization !== `Bearer ${this.secret}`) return err(401, 'UNAUTHORIZED', 'bad credential');
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean); // agent v1 vms [name] [action]
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {};
    const name = parts[3];
    const method = req.method ?? 'GET';
    const rest = parts.slice(3);
    if (parts[2] === 'migrations') {
      return this.delegate(`migration ${rest[1] ?? (method === 'GET' ? 'progress' : rest[0])}`, () => this.migrations.handle(method, rest, body));
    }
    if (parts[2] === 'dr') return this.delegate(`dr ${FakeDr.action(method, rest)}`, () => this.dr.handle(method, rest, body));
    const action = req.method === 'POST' && !name ? 'define' : req.method === 'DELETE' ? 'delete' : (parts[4] ?? 'get');
    this.calls.push(`${action} ${name ?? String(body.name)}`);
    const intercepted = await this.intercept(action);
    if (intercepted) return intercepted;
    if (action === 'define') {
      const spec = body as unknown as VmSpec;
      const st: VmStatus = { name: spec.name, uuid: spec.uuid, state: 'stopped', spec, endpoints: [] };
      this.vms.set(spec.name, st);
      return { status: 200, body: st };
    }
    const vm = name ? this.vms.get(name) : undefined;
    if (!vm || !name) return err(404, 'NOT_FOUND', `no VM ${name}`);
    if (action === 'get') return { status: 200, body: vm };
    if (action === 'console') return { status: 200, body: this.consoleText(name) };
    if (action === 'delete') {
      this.vms.delete(name);
      return { status: 204 };
    }
    if (action === 'clone') {
      const c = body as { name: string; uuid: string };
      const st: VmStatus = { name: c.name, uuid: c.uuid, state: 'stopped', spec: { ...vm.spec, name: c.name, uuid: c.uuid }, endpoints: [] };
      this.vms.set(c.name, st);
      return { status: 200, body: st };
    }
    const next = RESULT_STATE[action];
    if (!next) return err(404, 'NOT_FOUND', `no action ${action}`);
    const st: VmStatus = { ...vm, state: next };
    this.vms.set(name, st);
    return { status: 200, body: st };
  }
}

export type FakeReply = { status: number; body?: unknown };

function err(status: number, code: string, message: string): { status: number; body: unknown } {
  return { status, body: { error: { code, message } } };
}
