// Source side of a migration (steps 3-6 here): open a session to the target's data endpoint,
// let QEMU migrate into a Unix socket of ours, relay that onto channel 0, and poll
// query-migrate for progress and the post-copy decision (postcopy-rule.ts). With the `direct`
// transport QEMU connects to the target's QEMU itself over QEMU's TLS (qemu-tls.ts); the session
// then only carries disks and watches the peer (a silent or lost peer cancels the migration).
//
// Until commit the source is the VM of record: on any failure or abort before then we cancel
// QEMU's migration and make sure the VM runs here again (`cont` if QEMU sits in postmigrate or
// paused — the VM was running when we started and lifecycle actions are refused meanwhile, so
// a pause is ours). Documented exception: once post-copy has switched over, the target holds
// the running VM and this side cannot resume it; a failure then loses the VM. (QEMU can
// migrate-pause and recover a post-copy migration; not used yet.)
//
// Local disks (copyDisks): first every disk is mirrored into the target over NBD on channels
// 1.. (disk-mirror.ts); the memory migration starts once all mirrors are READY. The target
// QEMU runs the guest by itself as soon as the stream completes, so the disks must be final
// before that: we set `pause-before-switchover`, and in `pre-switchover` (guest stopped, disks
// flushed, not yet handed over) complete the mirrors without pivot, drop the NBD nodes, wait
// until the target removed its exports, and only then `migrate-continue`. That holds for
// post-copy too (QEMU pauses in pre-switchover before switching to post-copy).
// The alternative, a target kept paused until commit (-S + `cont`), would need a second
// round trip and a changed QEMU command line, and post-copy cannot wait for it.
import { join } from 'node:path';
import type { QmpEvent } from '../../qmp/index.js';
import { FerryError, type MigrationProgress, type OutgoingMigrationRequest } from '../../contracts/index.js';
import { terminate } from '../actions.js';
import { connectablePath } from '../launch.js';
import { log } from '../log.js';
import { qmpCall } from '../qmp-call.js';
import { removeVmDir } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { POLL_MS, type AgentContext } from '../agent-context.js';
import type { DataSession } from '../data-plane/plane.js';
import { shouldStartPostcopy, type PollSample } from './postcopy-rule.js';
import { isActiveStatus, ProgressTracker, type QemuMigrateInfo } from './progress.js';
import { acceptOne, relay, type Relay } from '../data-plane/relay.js';
import { DiskMirror } from './disk-mirror.js';
import { parseDataUrl } from '../data-plane/plane.js';
import { addQemuTls, DIRECT_MULTIFD_CHANNELS, directMultifd, tcpUri, type QemuTls } from '../data-plane/qemu-tls.js';

const UNLIMITED_BYTES_PER_SEC = 10 * 1024 ** 3;
const QEMU_CONNECT_TIMEOUT_MS = 10_000;
const CANCEL_WAIT_MS = 10_000;
const SESSION_END_GRACE_MS = 3_000;
const RELAY_FLUSH_WAIT_MS = 10_000;

export class OutgoingMigration {
  readonly tracker: ProgressTracker;
  #session: DataSession | undefined;
  #relay: Relay | undefined;
  #timer: NodeJS.Timeout | undefined;
  #history: PollSample[] = [];
  #postcopyRequested = false;
  #ending: Promise<void> | undefined;
  #mirror: DiskMirror | undefined;
  #tls: QemuTls | undefined;
  /** Memory migration started (after the disk mirrors are READY, or at once without disks). */
  #migrating = false;
  #switchingOver = false;
  readonly #startedAt = Date.now();
  readonly #abort = new AbortController();

  private constructor(readonly ctx: AgentContext, readonly req: OutgoingMigrationRequest, readonly vm: VmRuntime) {
    this.tracker = new ProgressTracker(req.migrationId, 'source', vm.rec.spec.memoryMiB * 1024 * 1024, req.strategy);
  }

  get id(): string {
    return this.req.migrationId;
  }

  /** Steps 3-5 start; returns once QEMU's stream flows (or throws, leaving the VM untouched and running). */
  static async start(ctx: AgentContext, req: OutgoingMigrationRequest): Promise<OutgoingMigration> {
    const vm = ctx.mgr.get(req.vm);
    if (vm.migrationId) throw new FerryError('CONFLICT', `vm ${req.vm} is already being migrated (migration ${vm.migrationId})`);
    if (vm.rec.state !== 'running') throw new FerryError('INVALID_STATE', `vm ${req.vm} is ${vm.rec.state}; only a running vm can be migrated`);
    const m = new OutgoingMigration(ctx, req, vm);
    vm.migrationId = req.migrationId;
    try {
      await m.#setup();
    } catch (err) {
      m.tracker.fail('failed', err instanceof FerryError ? err.code : 'INTERNAL', (err as Error).message);
      await m.#recover();
      throw err;
    }
    return m;
  }

  async #setup(): Promise<void> {
    const { req, vm, ctx } = this;
    const signal = this.#abort.signal;
    const session = await ctx.plane.connect(req.targetDataUrl, req.targetHost, { kind: 'migration', sessionId: req.migrationId, sourceHost: ctx.hostName }, {
      mode: req.transport === 'chunked' ? 'chunked' : 'passthrough', signal, ...(req.bandwidthBytesPerSec ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
    });
    this.#session = session;
    session.closed.then(
      // A graceful end also comes with success (the target closes once its QEMU has it all):
      // the poll decides, failing only if QEMU does not complete soon after.
      () => void (this.#sessionEndedAt = Date.now()),
      (err: Error & { code?: string }) => this.#onFailure(err.code ?? 'WIRE_FAILED', `data session to ${req.targetHost} failed: ${err.message}`),
    );
    const postcopy = req.strategy !== 'precopy';
    const disks = req.copyDisks ? vm.rec.spec.disks.length : 0;
    const direct = req.transport === 'direct';
    const multifd = direct && directMultifd(req.strategy);
    await qmpCall(vm, 'migrate-set-capabilities', {
      capabilities: [
        { capability: 'events', state: true },
        // A DR checkpoint (dr/capture.ts) or a restore from one leaves these on, and QEMU refuses
        // auto-converge or post-copy next to them: a protected VM must still migrate live.
        { capability: 'background-snapshot', state: false },
        { capability: 'mapped-ram', state: false },
        { capability: 'auto-converge', state: req.strategy !== 'postcopy' },
        { capability: 'return-path', state: postcopy },
        { capability: 'postcopy-ram', state: postcopy },
        { capability: 'pause-before-switchover', state: disks > 0 },
        { capability: 'multifd', state: multifd },
      ],
    });
    // The plane caps what it carries; QEMU must cap what bypasses it.
    const qemuCaps = direct || !ctx.plane.enforcesBandwidth;
    await qmpCall(vm, 'migrate-set-parameters', {
      'downtime-limit': req.maxDowntimeMs,
      'max-bandwidth': qemuCaps ? (req.bandwidthBytesPerSec ?? UNLIMITED_BYTES_PER_SEC) : UNLIMITED_BYTES_PER_SEC,
      'max-postcopy-bandwidth': qemuCaps ? (req.bandwidthBytesPerSec ?? 0) : 0,
      'tls-creds': '',
      'tls-hostname': '',
      ...(multifd ? { 'multifd-channels': DIRECT_MULTIFD_CHANNELS, 'multifd-compression': 'none' } : {}),
    });
    if (direct) await this.#setupDirect();
    if (disks > 0) {
      this.#mirror = await DiskMirror.start(vm, disks, session, signal, (err: Error & { code?: string }) => {
        this.#onFailure(err.code?.startsWith('WIRE_') ? err.code : 'WIRE_FAILED', `disk stream to ${req.targetHost} failed: ${err.message}`);
      });
      // The guest is stopped while QEMU waits in pre-switchover: act on the event, not the next poll.
      vm.qmp?.on('event', this.#onEvent);
      log('migration %s: mirroring %d disk(s) of vm %s to %s', this.id, disks, vm.name, req.targetHost);
    } else {
      await this.#startMemory();
    }
    Object.assign(this.tracker.p, { state: 'active', step: 'initial-transfer' });
    this.#timer = setInterval(() => void this.#poll(), POLL_MS);
    log('migration %s: vm %s -> %s (%s, %s)', this.id, vm.name, req.targetHost, req.strategy, req.transport);
  }

  /** Direct transport: QEMU's own TLS with this host's certificate, checking the target's. */
  async #setupDirect(): Promise<void> {
    const { req, vm, ctx } = this;
    if (req.targetDirectPort === undefined) throw new FerryError('INVALID_REQUEST', 'transport direct needs targetDirectPort', { field: 'body.targetDirectPort' });
    const identity = ctx.plane.tlsIdentity();
    if (!identity) throw new FerryError('INVALID_STATE', 'this host has no data-plane certificate yet');
    this.#tls = await addQemuTls(vm, identity, req.migrationId, 'client', req.targetHost);
    await qmpCall(vm, 'migrate-set-parameters', { 'tls-creds': this.#tls.credsId, 'tls-hostname': req.targetHost });
  }

  /** Bytes between the hosts so far: the session's, plus QEMU's own stream when it bypasses the session. */
  #wireBytes(info?: QemuMigrateInfo): number {
    const session = this.#session?.wireBytes() ?? 0;
    return this.req.transport === 'direct' ? session + (info?.ram?.transferred ?? 0) : session;
  }

  /** QEMU's memory migration: into our socket, relayed onto channel 0, or (direct) straight to the target's QEMU. */
  async #startMemory(): Promise<void> {
    const { req, vm } = this;
    const session = this.#session!;
    const signal = this.#abort.signal;
    this.#migrating = true;
    if (req.transport === 'direct') {
      await qmpCall(vm, 'migrate', { uri: tcpUri(parseDataUrl(req.targetDataUrl).host, req.targetDirectPort!) });
      return;
    }
    const path = connectablePath(join(vm.paths.dir, 'mig-out.sock'));
    const listener = await acceptOne(path, QEMU_CONNECT_TIMEOUT_MS, signal);
    try {
      await qmpCall(vm, 'migrate', { uri: `unix:${path}` });
    } catch (err) {
      listener.close();
      throw err;
    }
    const qemu = await listener.accepted;
    this.#relay = relay(qemu, session.channel(0), (err: Error & { code?: string }) => {
      this.#onFailure(err.code?.startsWith('WIRE_') ? err.code : 'WIRE_FAILED', `stream to ${req.targetHost} failed: ${err.message}`);
    });
  }

  /** Disk phase: follow the mirrors; once all are READY start the memory migration. */
  async #pollMirror(mirror: DiskMirror): Promise<void> {
    if (this.#starting) return;
    let m;
    try {
      m = await mirror.progress();
    } catch (err) {
      return this.#onFailure('QEMU_FAILED', (err as Error).message);
    }
    if (!this.#isRunning() || this.#ending || this.#migrating) return;
    this.tracker.updateDisks(m.done, m.total, mirror.bytes(), this.#session?.wireBytes() ?? 0);
    if (!m.ready) return;
    log('migration %s: disks in sync (%d bytes), starting the memory migration', this.id, m.done);
    this.#starting = true;
    try {
      await this.#startMemory();
    } catch (err) {
      this.#onFailure(err instanceof FerryError ? err.code : 'QEMU_FAILED', (err as Error).message);
    } finally {
      this.#starting = false;
    }
  }

  #starting = false;

  readonly #onEvent = (ev: QmpEvent): void => {
    if (ev.event !== 'MIGRATION' || ev.data?.status !== 'pre-switchover') return;
    if (this.#isRunning() && !this.#ending && !this.#switchingOver) void this.#switchOver();
  };

  /** pre-switchover: the guest is stopped; make the target's disks final, then let QEMU go on. */
  async #switchOver(): Promise<void> {
    this.#switchingOver = true;
    try {
      await this.#mirror?.finish();
      await qmpCall(this.vm, 'migrate-continue', { state: 'pre-switchover' });
    } catch (err) {
      this.#onFailure(err instanceof FerryError ? err.code : 'QEMU_FAILED', `completing the disk copy: ${(err as Error).message}`);
    }
  }

  #qemuDone = false;
  #sessionEndedAt: number | undefined;

  #isRunning(): boolean {
    return this.tracker.p.state === 'active' || this.tracker.p.state === 'reserved';
  }

  progress(): MigrationProgress {
    return this.tracker.snapshot();
  }

  async #poll(): Promise<void> {
    if (!this.#isRunning() || this.#ending) return;
    if (this.#mirror && !this.#migrating) return this.#pollMirror(this.#mirror);
    if (this.#starting) return;
    let info: QemuMigrateInfo;
    try {
      info = await qmpCall<QemuMigrateInfo>(this.vm, 'query-migrate');
    } catch (err) {
      return this.#onFailure('QEMU_FAILED', (err as Error).message);
    }
    if (!this.#isRunning() || this.#ending) return;
    this.tracker.update(info, this.#wireBytes(info), this.#mirror?.bytes() ?? 0);
    const ram = info.ram;
    if (ram) this.#history = [...this.#history.slice(-9), { rounds: ram['dirty-sync-count'] ?? 0, remaining: ram.remaining ?? 0 }];
    if (info.status === 'active' && !this.#postcopyRequested && shouldStartPostcopy(this.req.strategy, this.#history)) {
      this.#postcopyRequested = true;
      log('migration %s: switching to post-copy after %d rounds', this.id, this.tracker.p.rounds);
      qmpCall(this.vm, 'migrate-start-postcopy').catch((err: Error) => log('migration %s: migrate-start-postcopy: %s', this.id, err.message));
    }
    if (info.status === 'pre-switchover' && !this.#switchingOver) return this.#switchOver();
    if (info.status === 'completed') return this.#onCompleted(info);
    if (info.status === 'failed') return this.#onFailure('QEMU_FAILED', `QEMU: ${info['error-desc'] ?? 'migration failed'}`);
    if (info.status === 'cancelled') return this.#onFailure('ABORTED', 'QEMU cancelled the migration');
    if (info.status === 'postcopy-paused') return this.#onFailure('QEMU_FAILED', 'post-copy stream broke (postcopy-paused)');
    if (this.#sessionEndedAt !== undefined && Date.now() - this.#sessionEndedAt > SESSION_END_GRACE_MS) {
      return this.#onFailure('WIRE_CLOSED', `the data session to ${this.req.targetHost} ended before the migration completed`);
    }
  }

  async #onCompleted(info: QemuMigrateInfo): Promise<void> {
    this.#qemuDone = true;
    clearInterval(this.#timer);
    this.vm.qmp?.off('event', this.#onEvent);
    // Polled exactly at completion QEMU sometimes reports total-time 0 (docs/qemu.md).
    for (let i = 0; i < 5 && !info['total-time']; i++) {
      await sleep(50);
      info = await qmpCall<QemuMigrateInfo>(this.vm, 'query-migrate').catch(() => info);
    }
    this.tracker.update(info, this.#wireBytes(info), this.#mirror?.bytes() ?? 0);
    // QEMU's total-time covers the memory migration only; the disks were copied before it.
    if (this.#mirror) this.tracker.p.totalMs = Date.now() - this.#startedAt;
    this.tracker.p.state = 'completed';
    // QEMU is done writing, but the tail of its stream may still sit in our socket: closing the
    // session now would end channel 0 early and the target would get a truncated stream.
    await Promise.race([this.#relay?.flushed, sleep(RELAY_FLUSH_WAIT_MS)]);
    this.#session?.close();
    const p = this.tracker.p;
    log('migration %s: completed: %d ms total, %d ms downtime, %d stream bytes, %d wire bytes', this.id, p.totalMs, p.downtimeMs, p.streamBytes, p.wireBytes);
  }

  #onFailure(code: string, message: string): void {
    if (!this.#isRunning() || this.#qemuDone) return;
    const lost = this.tracker.p.switchedToPostcopy;
    this.tracker.fail('failed', code, lost ? `${message}; the migration had switched to post-copy, so the VM is lost (neither side holds a complete copy)` : message);
    log('migration %s: failed: %s', this.id, this.tracker.p.error?.message);
    this.#ending = this.#recover();
  }

  /** Cancel QEMU's migration, drop the session, and make sure the VM runs here. */
  async #recover(): Promise<void> {
    clearInterval(this.#timer);
    this.vm.qmp?.off('event', this.#onEvent);
    this.#abort.abort();
    this.#relay?.destroy();
    await this.#mirror?.abort();
    this.#session?.destroy();
    const vm = this.vm;
    try {
      if (vm.qmp && !this.tracker.p.switchedToPostcopy) {
        await qmpCall(vm, 'migrate_cancel').catch(() => undefined);
        const deadline = Date.now() + CANCEL_WAIT_MS;
        while (Date.now() < deadline) {
          const info = await qmpCall<QemuMigrateInfo>(vm, 'query-migrate');
          if (!isActiveStatus(info.status)) break;
          await sleep(100);
        }
        await this.#tls?.remove();
        const st = await qmpCall<{ status: string }>(vm, 'query-status');
        if (st.status === 'postmigrate' || st.status === 'paused') await qmpCall(vm, 'cont');
      }
    } catch (err) {
      log('migration %s: resuming vm %s at the source: %s', this.id, vm.name, (err as Error).message);
    } finally {
      vm.migrationId = undefined;
    }
  }

  /** Step 6 at the source, after the target committed: discard our copy. Idempotent. */
  async commit(): Promise<MigrationProgress> {
    const p = this.tracker.p;
    if (p.state === 'committed') return this.progress();
    if (p.state !== 'completed') throw new FerryError('INVALID_STATE', `migration ${this.id} is ${p.state}, not completed`);
    p.wireBytes = Math.max(p.wireBytes, this.#wireBytes());
    await terminate(this.vm, 0);
    this.ctx.mgr.forget(this.vm.name);
    removeVmDir(this.ctx.dataDir, this.vm.name);
    this.vm.migrationId = undefined;
    Object.assign(p, { state: 'committed', step: 'activation' });
    log('migration %s: source copy of vm %s discarded', this.id, this.vm.name);
    return this.progress();
  }

  /** Cancel and resume the VM here. Idempotent; refused once committed or past a post-copy switch-over. */
  async abort(reason = 'aborted by request'): Promise<MigrationProgress> {
    const p = this.tracker.p;
    if (p.state === 'committed') throw new FerryError('INVALID_STATE', `migration ${this.id} is committed: vm ${this.vm.name} no longer runs here`);
    if (p.switchedToPostcopy && p.state !== 'failed') throw new FerryError('INVALID_STATE', `migration ${this.id} switched to post-copy: the vm runs at the target and cannot come back`);
    if (this.#isRunning() || p.state === 'completed') {
      this.tracker.fail('aborted', 'ABORTED', reason);
      this.#ending = this.#recover();
    }
    await this.#ending;
    return this.progress();
  }
}
