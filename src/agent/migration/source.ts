// Source side of a migration (steps 3-6 here): open a session to the target's data endpoint,
// let QEMU migrate into a Unix socket of ours and relay that onto channel 0 — or, with the
// `direct` transport, let QEMU connect to the target's QEMU over QEMU's TLS (../data-plane/qemu-tls.ts);
// the session then only carries disks and watches the peer (a silent or lost peer fails the migration).
//
//   starting --> mirroring --> migrating --> postcopy-requested
//       |                       ^  |    \             |        \
//       +------- no disks ------+  |     v            v         v
//                                  |   switching-over ------> postcopy
//                                  |          |                  |
//                                  v          v                  v
//                                finishing <--+------------------+
//                                  |
//                                  v
//                                completed --commit--> committing --> committed
//                                  ^                       |
//                                  +---- discard failed ---+
//
//   mirroring -> migrating           every disk mirror READY (BLOCK_JOB_READY): QEMU's migrate
//   migrating -> postcopy-requested  the post-copy rule on the sampler's numbers: migrate-start-postcopy
//   -> switching-over                MIGRATION pre-switchover (local disks only): disks made final, migrate-continue
//   -> postcopy                      MIGRATION postcopy-active: the VM runs at the target now
//   -> finishing                     MIGRATION completed (also straight from postcopy-requested): final numbers read
//   -> failed                        from starting .. postcopy: QEMU failed or cancelled, a stream broke, the
//                                    session ended early; once QEMU completed nothing is a failure any more
//   -> aborted                       by request, from mirroring .. completed except postcopy (nor once
//                                    switched to post-copy: the VM runs at the target); once QEMU completed
//                                    (finishing, completed) only with `targetGone` (below)
//
// The state moves only along SOURCE_TRANSITIONS; an action the state forbids (commit before
// completed, abort once committed or in post-copy) is refused with TransitionRefusedError
// (INVALID_STATE). QEMU's status changes come as MIGRATION events and the rounds as MIGRATION_PASS
// (qemu-migration.ts); one sampler asks query-migrate (or, while mirroring, query-block-jobs) for
// what has no event: bytes for the progress and the post-copy decision (postcopy-rule.ts).
// Progress is an immutable snapshot (progress.ts) the driver replaces.
//
// Until commit the source is the VM of record: on any failure or abort before then the one
// teardown (#end) cancels QEMU's migration and makes sure the VM runs here again (`cont` if QEMU
// sits in postmigrate or paused — the VM was running when we started and lifecycle actions are
// refused meanwhile, so a pause is ours). That is safe while QEMU has not completed: the target
// keeps the guest paused (-S) until the controller commits, and the controller commits only a
// migration this side reported completed. Once QEMU completed, the target may be running the VM
// (the commit may have reached it with its reply lost): the VM resumes here only when the abort
// says `targetGone` — the controller heard from the target that its copy is gone. A restarted
// agent finds `outgoing.json` (markers.ts) and does the same (recovered.ts).
// Documented exception: once post-copy has switched over, the target holds the running VM and
// this side cannot resume it; a failure then loses the VM.
// (QEMU can migrate-pause and recover a post-copy migration; not used yet.)
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
import { setTimeout as sleep } from 'node:timers/promises';
import type { MigrationInfo, MigrationStatus } from '../../qmp/index.js';
import { FerryError, failureCodeOf, type FailureCode, type MigrationProgress, type OutgoingMigrationRequest } from '../../contracts/index.js';
import { terminate } from '../actions.js';
import { POLL_MS, type AgentContext } from '../agent-context.js';
import { log } from '../log.js';
import { qmp } from '../qemu/monitor.js';
import { removeVmDir } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import type { DataSession } from '../data-plane/plane.js';
import type { QemuTls } from '../data-plane/qemu-tls.js';
import { waitFlushed, type Relay } from '../data-plane/relay.js';
import { DiskMirror } from './disk-mirror.js';
import { DriverState, type TransitionTable } from '../driver-state.js';
import { TransitionRefusedError } from '../errors.js';
import { shouldStartPostcopy, type PollSample } from './postcopy-rule.js';
import { initialProgress, qemuStatusOf, withCounters, withDisks, withFailure, withMigrateInfo, withQemuStatus, withRounds, withState, withTotalMs, type ProgressSnapshot } from './progress.js';
import { OUTGOING_MARKER, clearMark, writeMark } from './markers.js';
import { cancelMigration, completedInfo, failureDesc, watchMigration, watchPasses } from './qemu-migration.js';
import { configureSource } from './qemu-setup.js';
import { sourceTls, startOutgoing } from './stream.js';

const CANCEL_WAIT_MS = 10_000;
const SESSION_END_GRACE_MS = 3_000;
const RELAY_FLUSH_WAIT_MS = 10_000;
const POSTCOPY_HISTORY = 10;

type SourceState =
  | 'starting' | 'mirroring' | 'migrating' | 'postcopy-requested' | 'switching-over' | 'postcopy'
  | 'finishing' | 'completed' | 'committing' | 'committed' | 'failed' | 'aborted';

export const SOURCE_TRANSITIONS: TransitionTable<SourceState> = {
  starting: ['mirroring', 'migrating', 'failed'],
  mirroring: ['migrating', 'failed', 'aborted'],
  migrating: ['postcopy-requested', 'switching-over', 'finishing', 'failed', 'aborted'],
  'postcopy-requested': ['switching-over', 'postcopy', 'finishing', 'failed', 'aborted'],
  'switching-over': ['postcopy', 'finishing', 'failed', 'aborted'],
  postcopy: ['finishing', 'failed'],
  finishing: ['completed', 'aborted'],
  completed: ['committing', 'aborted'],
  committing: ['committed', 'completed'],
  committed: [],
  failed: [],
  aborted: [],
};

/** The state the API shows for each. */
const SHOWN_AS: Record<SourceState, MigrationProgress['state']> = {
  starting: 'reserved', mirroring: 'active', migrating: 'active', 'postcopy-requested': 'active', 'switching-over': 'active',
  postcopy: 'active', finishing: 'active', completed: 'completed', committing: 'completed', committed: 'committed', failed: 'failed', aborted: 'aborted',
};

/** QEMU completed: the target may hold (and, committed, run) the whole VM. */
const COMPLETED: readonly SourceState[] = ['finishing', 'completed', 'committing'];

/** While QEMU's stream (or the disk copy before it) is under way: the sampler runs and failures count. */
const TRANSFERRING: readonly SourceState[] = ['mirroring', 'migrating', 'postcopy-requested', 'switching-over', 'postcopy'];

export class OutgoingMigration {
  readonly #state: DriverState<SourceState>;
  /** Fires at teardown: every QMP call, wait and connection of this migration carry it. */
  readonly #abort = new AbortController();
  /** Fires once QEMU completed (or at teardown): ends the event watches; nothing more to follow. */
  readonly #following = new AbortController();
  readonly #startedAt = Date.now();
  #progress: ProgressSnapshot;
  /** The sampler's recent query-migrate numbers, oldest first (postcopy-rule.ts). */
  #history: readonly PollSample[] = [];
  #session: DataSession | undefined;
  #relay: Relay | undefined;
  #mirror: DiskMirror | undefined;
  #tls: QemuTls | undefined;
  /** Fails the migration if QEMU does not complete soon after the session ended. */
  #sessionGrace: NodeJS.Timeout | undefined;
  /** The one teardown, once started. */
  #ending: Promise<void> | undefined;

  private constructor(readonly ctx: AgentContext, readonly req: OutgoingMigrationRequest, readonly vm: VmRuntime) {
    this.#state = new DriverState(`migration ${req.migrationId} (vm ${vm.name})`, SOURCE_TRANSITIONS, 'starting');
    this.#progress = initialProgress(req.migrationId, 'source', vm.rec.spec.memoryMiB * 1024 * 1024);
  }

  get id(): string {
    return this.req.migrationId;
  }

  progress(): MigrationProgress {
    return this.#progress.progress;
  }

  /** Steps 3-5 start; returns once QEMU's stream flows (or throws, leaving the VM untouched and running). */
  static async start(ctx: AgentContext, req: OutgoingMigrationRequest): Promise<OutgoingMigration> {
    const vm = ctx.mgr.get(req.vm);
    if (vm.migrationId) throw new FerryError('CONFLICT', `vm ${req.vm} is already being migrated (migration ${vm.migrationId})`);
    if (vm.rec.state !== 'running') throw new FerryError('INVALID_STATE', `vm ${req.vm} is ${vm.rec.state}; only a running vm can be migrated`);
    const m = new OutgoingMigration(ctx, req, vm);
    vm.migrationId = req.migrationId;
    writeMark(vm.paths.dir, OUTGOING_MARKER, { migrationId: req.migrationId, targetHost: req.targetHost });
    try {
      await m.#setup();
    } catch (err) {
      m.#fail(failureCodeOf(err), (err as Error).message);
      await m.#end();
      throw err;
    }
    return m;
  }

  /** Moves the state (the table decides) and shows it. */
  #enter(next: SourceState, why?: string): void {
    this.#state.to(next, why);
    const shown = SHOWN_AS[next];
    if (shown !== 'failed' && shown !== 'aborted') this.#progress = withState(this.#progress, shown);
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
      // QEMU's completion decides, failing only if it does not come soon after.
      () => this.#onSessionEnded(),
      (err: Error) => {
        if (this.#qemuCarriesOn()) return log('migration %s: data session to %s failed (%s); QEMU carries the post-copy stream on', this.id, req.targetHost, err.message);
        this.#fail(failureCodeOf(err, 'WIRE_FAILED'), `data session to ${req.targetHost} failed: ${err.message}`);
      },
    );
    const direct = req.transport === 'direct';
    // The plane caps what it carries; QEMU must cap what bypasses it.
    await configureSource(vm, req, direct || !ctx.plane.enforcesBandwidth, signal);
    if (direct) this.#tls = await sourceTls(vm, ctx.plane, req, signal);
    this.#watchQemu();
    const disks = req.copyDisks ? vm.rec.spec.disks.length : 0;
    if (disks > 0) {
      this.#mirror = await DiskMirror.start(vm, disks, session, signal, (err) => this.#fail(failureCodeOf(err, 'WIRE_FAILED'), `disk stream to ${req.targetHost} failed: ${err.message}`));
      this.#enter('mirroring');
      this.#progress = withQemuStatus(this.#progress, 'mirroring-disks');
      void this.#mirror.ready.then(() => this.#onDisksReady());
      log('migration %s: mirroring %d disk(s) of vm %s to %s', this.id, disks, vm.name, req.targetHost);
    } else {
      this.#enter('migrating');
      await this.#startMemory();
    }
    void this.#sample();
    log('migration %s: vm %s -> %s (%s, %s)', this.id, vm.name, req.targetHost, req.strategy, req.transport);
  }

  /** QEMU's status changes and passes, followed until QEMU completed or teardown; registered before `migrate`. */
  #watchQemu(): void {
    const signal = AbortSignal.any([this.#abort.signal, this.#following.signal]);
    const ended = (err: Error): void => {
      if (!signal.aborted) this.#fail(failureCodeOf(err, 'QEMU_FAILED'), `following QEMU's migration: ${err.message}`);
    };
    void watchMigration(this.vm, (status) => this.#onQemuStatus(status), signal).catch(ended);
    void watchPasses(this.vm, (pass) => {
      if (this.#state.is(...TRANSFERRING)) this.#progress = withRounds(this.#progress, pass);
    }, signal).catch(ended);
  }

  /** QEMU's memory migration (stream.ts): relayed onto channel 0, or (direct) straight to the target's QEMU. */
  async #startMemory(): Promise<void> {
    const session = this.#session!;
    const onError = (err: Error): void => this.#fail(failureCodeOf(err, 'WIRE_FAILED'), `stream to ${this.req.targetHost} failed: ${err.message}`);
    this.#relay = await startOutgoing(this.vm, this.req, () => session.channel(0), this.#abort.signal, onError);
  }

  /** Every disk is in sync: the memory migration may start. */
  async #onDisksReady(): Promise<void> {
    if (!this.#state.is('mirroring')) return;
    log('migration %s: disks in sync, starting the memory migration', this.id);
    this.#enter('migrating');
    this.#progress = withQemuStatus(this.#progress, 'none');
    try {
      await this.#startMemory();
    } catch (err) {
      this.#fail(failureCodeOf(err, 'QEMU_FAILED'), (err as Error).message);
    }
  }

  /** A MIGRATION event. Never throws: it runs inside the watch (../qemu/events.ts). */
  #onQemuStatus(status: MigrationStatus): void {
    if (!this.#state.is(...TRANSFERRING)) return;
    this.#progress = withQemuStatus(this.#progress, qemuStatusOf(status));
    switch (status) {
      case 'pre-switchover':
        return void this.#switchOver();
      case 'postcopy-active':
        if (this.#state.can('postcopy')) this.#enter('postcopy');
        return;
      case 'completed':
        return void this.#onCompleted();
      case 'failed':
        return void failureDesc(this.vm, this.#abort.signal).then((desc) => this.#fail('QEMU_FAILED', `QEMU: ${desc ?? 'migration failed'}`));
      case 'cancelled':
        return this.#fail('ABORTED', 'QEMU cancelled the migration');
      case 'postcopy-paused':
        return this.#fail('QEMU_FAILED', 'post-copy stream broke (postcopy-paused)');
    }
  }

  /** pre-switchover: the guest is stopped; make the target's disks final, then let QEMU go on. */
  async #switchOver(): Promise<void> {
    if (!this.#state.can('switching-over')) return;
    this.#enter('switching-over');
    const signal = this.#abort.signal;
    try {
      await this.#mirror?.finish(signal);
      await qmp(this.vm, 'migrate-continue', { state: 'pre-switchover' }, { signal });
    } catch (err) {
      this.#fail(failureCodeOf(err, 'QEMU_FAILED'), `completing the disk copy: ${(err as Error).message}`);
    }
  }

  /** The one periodic question to QEMU: how far (no event says it), and whether to switch to post-copy. */
  async #sample(): Promise<void> {
    const signal = this.#abort.signal;
    while (this.#state.is(...TRANSFERRING)) {
      try {
        if (this.#state.is('mirroring')) await this.#sampleMirror(this.#mirror!, signal);
        else await this.#sampleMigration(signal);
      } catch (err) {
        if (!signal.aborted) this.#fail(failureCodeOf(err, 'QEMU_FAILED'), (err as Error).message);
        return;
      }
      await sleep(POLL_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  async #sampleMirror(mirror: DiskMirror, signal: AbortSignal): Promise<void> {
    const m = await mirror.progress(signal);
    if (this.#state.is('mirroring')) this.#progress = withDisks(this.#progress, m, { carried: mirror.bytes(), wire: this.#session?.wireBytes() ?? 0 });
  }

  async #sampleMigration(signal: AbortSignal): Promise<void> {
    const info = await qmp(this.vm, 'query-migrate', undefined, { signal });
    if (!this.#state.is(...TRANSFERRING)) return;
    this.#progress = withMigrateInfo(this.#progress, info, { wire: this.#wireBytes(info), diskCarried: this.#mirror?.bytes() ?? 0 });
    if (info.ram) this.#history = [...this.#history.slice(1 - POSTCOPY_HISTORY), { rounds: info.ram['dirty-sync-count'], remaining: info.ram.remaining }];
    if (this.#state.is('migrating') && info.status === 'active' && shouldStartPostcopy(this.req.strategy, this.#history)) {
      this.#enter('postcopy-requested');
      log('migration %s: switching to post-copy after %d rounds', this.id, this.#progress.progress.rounds);
      qmp(this.vm, 'migrate-start-postcopy', undefined, { signal }).catch((err: Error) => log('migration %s: migrate-start-postcopy: %s', this.id, err.message));
    }
  }

  /** Bytes between the hosts so far: the session's, plus QEMU's own stream when it bypasses the session. */
  #wireBytes(info?: MigrationInfo): number {
    const session = this.#session?.wireBytes() ?? 0;
    return this.req.transport === 'direct' ? session + (info?.ram?.transferred ?? 0) : session;
  }

  /**
   * Past a post-copy switch over `direct`, the stream is QEMU's own connection: losing the session
   * (the target's agent restarting) loses nothing, and QEMU's status alone decides.
   */
  #qemuCarriesOn(): boolean {
    return this.req.transport === 'direct' && this.#state.is('postcopy');
  }

  #onSessionEnded(): void {
    if (!this.#state.is(...TRANSFERRING) || this.#sessionGrace || this.#qemuCarriesOn()) return;
    this.#sessionGrace = setTimeout(() => {
      this.#fail('WIRE_CLOSED', `the data session to ${this.req.targetHost} ended before the migration completed`);
    }, SESSION_END_GRACE_MS);
  }

  /** QEMU completed: read its final numbers, show completed, then let the tail of the stream drain. */
  async #onCompleted(): Promise<void> {
    if (!this.#state.can('finishing')) return;
    this.#enter('finishing');
    this.#following.abort();
    const signal = this.#abort.signal;
    try {
      const info = await completedInfo(this.vm, signal);
      this.#progress = withMigrateInfo(this.#progress, info, { wire: this.#wireBytes(info), diskCarried: this.#mirror?.bytes() ?? 0 });
    } catch (err) {
      log('migration %s: the final numbers of the completed migration: %s', this.id, (err as Error).message);
    }
    // QEMU's total-time covers the memory migration only; the disks were copied before it.
    if (this.#mirror) this.#progress = withTotalMs(this.#progress, Date.now() - this.#startedAt);
    if (!this.#state.is('finishing')) return;
    this.#enter('completed');
    // QEMU is done writing, but the tail of its stream may still sit in our socket.
    await waitFlushed(this.#relay, RELAY_FLUSH_WAIT_MS, signal);
    this.#session?.close();
    const p = this.#progress.progress;
    log('migration %s: completed: %d ms total, %d ms downtime, %d stream bytes, %d wire bytes', this.id, p.totalMs, p.downtimeMs, p.streamBytes, p.wireBytes);
  }

  /** Ends the migration as failed (the first cause stands; later ones and those after completion are ignored). */
  #fail(code: FailureCode, message: string): void {
    if (!this.#state.can('failed')) return;
    const lost = this.#progress.progress.switchedToPostcopy;
    this.#state.to('failed');
    this.#progress = withFailure(this.#progress, 'failed', code, lost ? `${message}; the migration had switched to post-copy, so the VM is lost (neither side holds a complete copy)` : message);
    log('migration %s: failed: %s', this.id, this.#progress.progress.error?.message);
    void this.#end();
  }

  /**
   * The one teardown, idempotent: stops following QEMU, drops the transport and, unless the VM went
   * to the target (committed, or switched to post-copy), cancels QEMU's migration and makes sure the
   * VM runs here. Runs after the driver's signal fired: its QMP calls carry their timeouts only.
   */
  #end(): Promise<void> {
    this.#ending ??= (async () => {
      clearTimeout(this.#sessionGrace);
      this.#following.abort();
      this.#abort.abort();
      this.#relay?.destroy();
      await this.#mirror?.abort();
      this.#session?.destroy();
      const vm = this.vm;
      try {
        if (this.#state.is('failed', 'aborted') && !this.#progress.progress.switchedToPostcopy && vm.qmp) {
          await cancelMigration(vm, CANCEL_WAIT_MS);
          await this.#tls?.remove();
          const st = await qmp(vm, 'query-status');
          if (st.status === 'postmigrate' || st.status === 'paused') await qmp(vm, 'cont');
        }
        // Kept once switched to post-copy: the VM is the target's, and a restarted agent must know.
        if (!this.#state.is('committed') && !this.#progress.progress.switchedToPostcopy) clearMark(vm.paths.dir, OUTGOING_MARKER);
      } catch (err) {
        log('migration %s: resuming vm %s at the source: %s', this.id, vm.name, (err as Error).message);
      } finally {
        vm.migrationId = undefined;
      }
    })();
    return this.#ending;
  }

  /** Step 6 at the source, after the target committed: discard our copy. Idempotent once committed. */
  async commit(): Promise<MigrationProgress> {
    if (this.#state.is('committed')) return this.progress();
    this.#enter('committing', `only a completed migration can be committed`);
    try {
      this.#progress = withCounters(this.#progress, { wire: this.#wireBytes() });
      await terminate(this.vm, 0);
      this.ctx.mgr.forget(this.vm.name);
      removeVmDir(this.ctx.dataDir, this.vm.name);
    } catch (err) {
      this.#enter('completed');
      throw err;
    }
    this.#enter('committed');
    await this.#end();
    log('migration %s: source copy of vm %s discarded', this.id, this.vm.name);
    return this.progress();
  }

  /**
   * Cancel and resume the VM here. Idempotent; refused once committed or past a post-copy
   * switch-over, and once QEMU completed unless `targetGone` (the target's copy is known gone).
   */
  async abort(reason = 'aborted by request', opts: { targetGone?: boolean } = {}): Promise<MigrationProgress> {
    if (!this.#state.is('failed', 'aborted')) {
      if (this.#progress.progress.switchedToPostcopy) {
        throw new TransitionRefusedError(this.#state.machine, this.#state.current, 'aborted', 'switched to post-copy: the vm runs at the target and cannot come back');
      }
      if (this.#state.is(...COMPLETED) && !opts.targetGone) {
        throw new TransitionRefusedError(this.#state.machine, this.#state.current, 'aborted',
          'QEMU completed the migration, so the target may run the VM: it resumes here only once the target\'s copy is known gone (abort the target first, then abort here with targetGone)');
      }
      this.#state.to('aborted', `vm ${this.vm.name} no longer runs here`);
      this.#progress = withFailure(this.#progress, 'aborted', 'ABORTED', reason);
      log('migration %s: aborted: %s', this.id, reason);
    }
    await this.#end();
    return this.progress();
  }
}
