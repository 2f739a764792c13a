// Source side of a migration (steps 3-6 here): open a session to the target's data endpoint,
// let QEMU migrate into a Unix socket of ours, relay that onto channel 0, and poll
// query-migrate for progress and the post-copy decision (postcopy-rule.ts).
//
// Until commit the source is the VM of record: on any failure or abort before then we cancel
// QEMU's migration and make sure the VM runs here again (`cont` if QEMU sits in postmigrate or
// paused — the VM was running when we started and lifecycle actions are refused meanwhile, so
// a pause is ours). Documented exception: once post-copy has switched over, the target holds
// the running VM and this side cannot resume it; a failure then loses the VM. (QEMU can
// migrate-pause and recover a post-copy migration; not used yet.)
import { join } from 'node:path';
import { FerryError, type MigrationProgress, type OutgoingMigrationRequest } from '../../wire/index.js';
import { terminate } from '../actions.js';
import { connectablePath } from '../launch.js';
import { log } from '../log.js';
import { qmpCall } from '../qmp-call.js';
import { removeVmDir } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import { POLL_MS, sleep, type MigrationContext } from './context.js';
import type { DataSession } from './data-plane.js';
import { shouldStartPostcopy, type PollSample } from './postcopy-rule.js';
import { isActiveStatus, ProgressTracker, type QemuMigrateInfo } from './progress.js';
import { acceptOne, relay, type Relay } from './relay.js';

const UNLIMITED_BYTES_PER_SEC = 10 * 1024 ** 3;
const QEMU_CONNECT_TIMEOUT_MS = 10_000;
const CANCEL_WAIT_MS = 10_000;
const SESSION_END_GRACE_MS = 3_000;

export class OutgoingMigration {
  readonly tracker: ProgressTracker;
  #session: DataSession | undefined;
  #relay: Relay | undefined;
  #timer: NodeJS.Timeout | undefined;
  #history: PollSample[] = [];
  #postcopyRequested = false;
  #ending: Promise<void> | undefined;
  readonly #abort = new AbortController();

  private constructor(readonly ctx: MigrationContext, readonly req: OutgoingMigrationRequest, readonly vm: VmRuntime) {
    this.tracker = new ProgressTracker(req.migrationId, 'source', vm.rec.spec.memoryMiB * 1024 * 1024, req.strategy);
  }

  get id(): string {
    return this.req.migrationId;
  }

  /** Steps 3-5 start; returns once QEMU's stream flows (or throws, leaving the VM untouched and running). */
  static async start(ctx: MigrationContext, req: OutgoingMigrationRequest): Promise<OutgoingMigration> {
    const vm = ctx.mgr.get(req.vm);
    if (vm.migrationId) throw new FerryError('CONFLICT', `vm ${req.vm} is already being migrated (migration ${vm.migrationId})`);
    if (vm.rec.state !== 'running') throw new FerryError('INVALID_STATE', `vm ${req.vm} is ${vm.rec.state}; only a running vm can be migrated`);
    if (req.copyDisks && vm.rec.spec.disks.length > 0) throw new FerryError('INVALID_REQUEST', 'migrating local disks is not supported yet', { field: 'body.copyDisks' });
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
    const p = this.tracker.p;
    const session = await ctx.plane.connect(req.targetDataUrl, req.targetHost, { kind: 'migration', sessionId: req.migrationId, sourceHost: ctx.hostName }, {
      mode: req.transport, signal, ...(req.bandwidthBytesPerSec ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
    });
    this.#session = session;
    session.closed.then(
      // A graceful end also comes with success (the target closes once its QEMU has it all):
      // the poll decides, failing only if QEMU does not complete soon after.
      () => void (this.#sessionEndedAt = Date.now()),
      (err: Error & { code?: string }) => this.#onFailure(err.code ?? 'WIRE_FAILED', `data session to ${req.targetHost} failed: ${err.message}`),
    );
    const postcopy = req.strategy !== 'precopy';
    await qmpCall(vm, 'migrate-set-capabilities', {
      capabilities: [
        { capability: 'events', state: true },
        { capability: 'auto-converge', state: req.strategy !== 'postcopy' },
        { capability: 'return-path', state: postcopy },
        { capability: 'postcopy-ram', state: postcopy },
      ],
    });
    const cap = ctx.plane.enforcesBandwidth ? UNLIMITED_BYTES_PER_SEC : (req.bandwidthBytesPerSec ?? UNLIMITED_BYTES_PER_SEC);
    await qmpCall(vm, 'migrate-set-parameters', { 'downtime-limit': req.maxDowntimeMs, 'max-bandwidth': cap, 'max-postcopy-bandwidth': ctx.plane.enforcesBandwidth ? 0 : (req.bandwidthBytesPerSec ?? 0) });
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
    Object.assign(p, { state: 'active', step: 'initial-transfer' });
    this.#timer = setInterval(() => void this.#poll(), POLL_MS);
    log('migration %s: vm %s -> %s (%s, %s)', this.id, vm.name, req.targetHost, req.strategy, req.transport);
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
    let info: QemuMigrateInfo;
    try {
      info = await qmpCall<QemuMigrateInfo>(this.vm, 'query-migrate');
    } catch (err) {
      return this.#onFailure('QEMU_FAILED', (err as Error).message);
    }
    if (!this.#isRunning() || this.#ending) return;
    this.tracker.update(info, this.#session?.wireBytes() ?? 0);
    const ram = info.ram;
    if (ram) this.#history = [...this.#history.slice(-9), { rounds: ram['dirty-sync-count'] ?? 0, remaining: ram.remaining ?? 0 }];
    if (info.status === 'active' && !this.#postcopyRequested && shouldStartPostcopy(this.req.strategy, this.#history)) {
      this.#postcopyRequested = true;
      log('migration %s: switching to post-copy after %d rounds', this.id, this.tracker.p.rounds);
      qmpCall(this.vm, 'migrate-start-postcopy').catch((err: Error) => log('migration %s: migrate-start-postcopy: %s', this.id, err.message));
    }
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
    // Polled exactly at completion QEMU sometimes reports total-time 0 (QEMU-NOTES.md).
    for (let i = 0; i < 5 && !info['total-time']; i++) {
      await sleep(50);
      info = await qmpCall<QemuMigrateInfo>(this.vm, 'query-migrate').catch(() => info);
    }
    this.tracker.update(info, this.#session?.wireBytes() ?? 0);
    this.tracker.p.state = 'completed';
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
    this.#abort.abort();
    this.#relay?.destroy();
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
    p.wireBytes = Math.max(p.wireBytes, this.#session?.wireBytes() ?? 0);
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
