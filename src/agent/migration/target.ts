// Target side of a migration (steps 2, 6 and 7 here): reserve the VM's name and start QEMU
// with `-incoming defer` listening on a Unix socket in the VM dir, wait for the source's
// session and join it to QEMU, follow QEMU's incoming status; commit turns it into a normal
// running VM of this host and announces it; abort kills QEMU and removes every file.
// Until commit the VM is not in the manager's map (the source is the VM of record); its
// directory carries an `incoming.json` marker so a restarted agent discards it (reattach.ts).
// With copyDisks the VM's disks arrive over NBD on channels 1.. (disk-export.ts) while QEMU
// waits for the memory stream; QEMU runs the guest on its own once the stream completes
// (no -S), which the source holds back until the disks are complete and our exports removed
// (source.ts, pause-before-switchover).
// With the `direct` transport QEMU listens on TCP at the data endpoint's address with QEMU's TLS,
// admitting only the source host's certificate (qemu-tls.ts); the session carries disks only.
import { mkdirSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError, type IncomingMigrationRequest, type MigrationProgress } from '../../contracts/index.js';
import { terminate } from '../actions.js';
import { connectablePath, connectQmp, launchQemu } from '../launch.js';
import { log } from '../log.js';
import { qmpCall } from '../qmp-call.js';
import { removeVmDir, vmPaths } from '../vm-dir.js';
import { VmRuntime } from '../vm-runtime.js';
import { POLL_MS, type AgentContext } from '../agent-context.js';
import type { DataSession } from '../data-plane/plane.js';
import { createEmptyDisks, DiskExports } from './disk-export.js';
import { ProgressTracker, type QemuMigrateInfo } from './progress.js';
import { addQemuTls, DIRECT_MULTIFD_CHANNELS, directMultifd, tcpUri, type QemuTls } from '../data-plane/qemu-tls.js';
import { connectUnix, relay, type Relay } from '../data-plane/relay.js';

export const INCOMING_MARKER = 'incoming.json';
const STREAM_END_GRACE_MS = 3_000;

export class IncomingMigration {
  readonly tracker: ProgressTracker;
  readonly vm: VmRuntime;
  #session: DataSession | undefined;
  #relay: Relay | undefined;
  #timer: NodeJS.Timeout | undefined;
  #exports: DiskExports | undefined;
  #tls: QemuTls | undefined;

  private constructor(readonly ctx: AgentContext, readonly req: IncomingMigrationRequest) {
    this.tracker = new ProgressTracker(req.migrationId, 'target', req.spec.memoryMiB * 1024 * 1024, req.strategy);
    this.vm = new VmRuntime(ctx.dataDir, { spec: req.spec, state: 'restoring', endpoints: [] }, connectQmp);
  }

  get id(): string {
    return this.req.migrationId;
  }

  /** Step 2: on return QEMU listens for the stream and the session is expected. */
  static async reserve(ctx: AgentContext, req: IncomingMigrationRequest): Promise<IncomingMigration> {
    const { spec } = req;
    if (ctx.mgr.vms.has(spec.name) || existsSync(vmPaths(ctx.dataDir, spec.name).dir)) {
      throw new FerryError('CONFLICT', `vm ${spec.name} already exists on this host`);
    }
    if (spec.disks.length > 0 && !req.copyDisks) {
      throw new FerryError('INVALID_REQUEST', 'shared storage is not configured on this host', { field: 'body.copyDisks' });
    }
    const m = new IncomingMigration(ctx, req);
    const vm = m.vm;
    try {
      mkdirSync(vm.paths.dir, { recursive: true });
      writeFileSync(join(vm.paths.dir, INCOMING_MARKER), `${JSON.stringify({ migrationId: req.migrationId, sourceHost: req.sourceHost })}\n`);
      vm.save();
      if (spec.disks.length > 0) await createEmptyDisks(vm.paths.dir, spec.disks);
      await launchQemu(ctx.launch, vm, { incoming: true });
      vm.save();
      if (spec.disks.length > 0) m.#exports = await DiskExports.start(vm, spec.disks.length);
      const postcopy = req.strategy !== 'precopy';
      const multifd = req.transport === 'direct' && directMultifd(req.strategy);
      await qmpCall(vm, 'migrate-set-capabilities', {
        capabilities: [
          { capability: 'events', state: true },
          { capability: 'return-path', state: postcopy },
          { capability: 'postcopy-ram', state: postcopy },
          { capability: 'postcopy-blocktime', state: postcopy },
          { capability: 'multifd', state: multifd },
        ],
      });
      if (multifd) await qmpCall(vm, 'migrate-set-parameters', { 'multifd-channels': DIRECT_MULTIFD_CHANNELS, 'multifd-compression': 'none' });
      if (req.transport === 'direct') {
        await m.#listenDirect();
      } else {
        const sock = m.sockPath();
        rmSync(sock, { force: true });
        await qmpCall(vm, 'migrate-incoming', { uri: `unix:${sock}` });
      }
    } catch (err) {
      await m.cleanup();
      throw err;
    }
    ctx.plane.expect(req.migrationId, req.sourceHost, (s) => m.#onSession(s));
    m.#timer = setInterval(() => void m.#poll(), POLL_MS);
    log('migration %s: target reserved for vm %s from %s', m.id, spec.name, req.sourceHost);
    return m;
  }

  /** Direct transport: QEMU listens with TLS for the source host's QEMU; the port goes back to the controller. */
  async #listenDirect(): Promise<void> {
    const { ctx, req, vm } = this;
    const identity = ctx.plane.tlsIdentity();
    if (!identity) throw new FerryError('INVALID_STATE', 'this host has no data-plane certificate yet');
    this.#tls = await addQemuTls(vm, identity, req.migrationId, 'server', req.sourceHost);
    await qmpCall(vm, 'migrate-set-parameters', { 'tls-creds': this.#tls.credsId, 'tls-authz': this.#tls.authzId! });
    await qmpCall(vm, 'migrate-incoming', { uri: tcpUri(ctx.plane.host, 0) });
    const info = await qmpCall<{ 'socket-address'?: { type: string; port?: string }[] }>(vm, 'query-migrate');
    const port = Number(info['socket-address']?.find((a) => a.type === 'inet')?.port);
    if (!Number.isInteger(port) || port <= 0) throw new FerryError('QEMU_FAILED', `QEMU reports no listening port for the incoming migration (${JSON.stringify(info['socket-address'])})`);
    this.tracker.p.listenPort = port;
  }

  sockPath(): string {
    return connectablePath(join(this.vm.paths.dir, 'mig-in.sock'));
  }

  progress(): MigrationProgress {
    return this.tracker.snapshot();
  }

  #onSession(s: DataSession): void {
    this.#session = s;
    const p = this.tracker.p;
    if (p.state !== 'reserved') return s.destroy(new Error(`migration ${this.id} is ${p.state}`));
    p.state = 'active';
    p.step = 'initial-transfer';
    // The session may end (even with an error) a moment before QEMU reports `completed`:
    // QEMU's status decides, and a broken stream fails only if QEMU does not complete soon after.
    s.closed.then(() => this.#streamEnded('the data session ended'), (err: Error) => this.#streamEnded(`data session failed: ${err.message}`));
    if (this.req.transport !== 'direct') {
      connectUnix(this.sockPath()).then((qemu) => {
        this.#relay = relay(qemu, s.channel(0), (err) => this.#streamEnded(`stream relay failed: ${err.message}`));
      }).catch((err: Error) => this.#fail('QEMU_FAILED', `cannot reach QEMU's incoming socket: ${err.message}`));
    }
    this.#exports?.attach(s, (err) => this.#streamEnded(`disk relay failed: ${err.message}`))
      .catch((err: Error) => this.#fail('QEMU_FAILED', `cannot reach QEMU's NBD server: ${err.message}`));
  }

  #streamEnd: { at: number; why: string } | undefined;

  #streamEnded(why: string): void {
    this.#streamEnd ??= { at: Date.now(), why };
  }

  async #poll(): Promise<void> {
    const p = this.tracker.p;
    if (p.state !== 'active' && p.state !== 'reserved') return void clearInterval(this.#timer);
    let info: QemuMigrateInfo;
    try {
      info = await qmpCall<QemuMigrateInfo>(this.vm, 'query-migrate');
    } catch (err) {
      return this.#fail('QEMU_FAILED', (err as Error).message);
    }
    if (p.state !== 'active') return;
    p.streamBytes = (this.#relay?.toQemu() ?? 0) + (this.#exports?.bytes() ?? 0);
    p.wireBytes = this.#session?.wireBytes() ?? 0;
    if (info.status === 'postcopy-active') p.switchedToPostcopy = true;
    if (info.status === 'completed') {
      clearInterval(this.#timer);
      await this.#tls?.remove();
      // Normally a no-op by now: the exports went before the source let QEMU switch over.
      await this.#exports?.remove().catch((err: Error) => log('migration %s: removing disk exports: %s', this.id, err.message));
      Object.assign(p, { state: 'completed', step: 'commitment', percent: 100, remainingBytes: 0 });
      this.#session?.close();
      log('migration %s: target received vm %s', this.id, this.vm.name);
    } else if (info.status === 'failed') {
      this.#fail('QEMU_FAILED', `incoming migration failed${info['error-desc'] ? `: ${info['error-desc']}` : ''}`);
    } else if (this.#streamEnd && Date.now() - this.#streamEnd.at > STREAM_END_GRACE_MS) {
      this.#fail('QEMU_FAILED', `${this.#streamEnd.why} before QEMU had the whole VM (${info.status ?? 'no status'})`);
    }
  }

  #fail(code: string, message: string): void {
    const p = this.tracker.p;
    if (p.state === 'completed' || p.state === 'committed' || p.state === 'failed' || p.state === 'aborted') return;
    clearInterval(this.#timer);
    this.tracker.fail('failed', code, message);
    log('migration %s: target failed: %s', this.id, message);
    // A half-received VM can never run: the source is still the VM of record. Discard it now
    // rather than wait for an abort that may never come (the controller may not reach us).
    this.cleanup().catch((err: Error) => log('migration %s: discarding the failed incoming VM: %s', this.id, err.message));
  }

  /** Step 6/7 at the target: the VM runs here; announce it and make it ours. Idempotent. */
  async commit(): Promise<MigrationProgress> {
    const p = this.tracker.p;
    if (p.state === 'committed') return this.progress();
    if (p.state !== 'completed') throw new FerryError('INVALID_STATE', `migration ${this.id} is ${p.state}, not completed`);
    const st = await qmpCall<{ status: string }>(this.vm, 'query-status');
    if (st.status !== 'running') throw new FerryError('INVALID_STATE', `vm ${this.vm.name} is ${st.status} at the target, not running`);
    await qmpCall(this.vm, 'announce-self', { initial: 50, max: 550, rounds: 5, step: 100 });
    rmSync(join(this.vm.paths.dir, INCOMING_MARKER), { force: true });
    this.vm.setState('running');
    this.ctx.mgr.adopt(this.vm);
    Object.assign(p, { state: 'committed', step: 'activation' });
    log('migration %s: vm %s committed here', this.id, this.vm.name);
    return this.progress();
  }

  /** Kills the incoming QEMU and removes its files. Idempotent; refused once committed. */
  async abort(reason = 'aborted'): Promise<MigrationProgress> {
    const p = this.tracker.p;
    if (p.state === 'committed') throw new FerryError('INVALID_STATE', `migration ${this.id} is committed: vm ${this.vm.name} runs here`);
    if (p.state !== 'aborted') {
      this.tracker.fail('aborted', 'ABORTED', reason);
      p.state = 'aborted';
    }
    await this.cleanup();
    return this.progress();
  }

  async cleanup(): Promise<void> {
    clearInterval(this.#timer);
    this.ctx.plane.unexpect(this.id);
    this.#session?.destroy();
    this.#relay?.destroy();
    this.#exports?.destroy();
    if (this.vm.rec.pid !== undefined) await terminate(this.vm, 0).catch((err: Error) => log('migration %s: kill target QEMU: %s', this.id, err.message));
    if (!this.ctx.mgr.vms.has(this.vm.name)) removeVmDir(this.ctx.dataDir, this.vm.name);
  }
}
