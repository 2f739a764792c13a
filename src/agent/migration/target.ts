// Target side of a migration (steps 2, 6 and 7 here): reserve the VM's name and start QEMU
// paused (-S) with `-incoming defer` listening on a Unix socket in the VM dir, wait for the
// source's session and join it to QEMU, follow QEMU's incoming stream. The guest runs here only
// once the controller's commit arrives (`cont`), or at a post-copy switch (the source can no longer
// run it then); a target that has the whole VM but hears no commit within `commitTimeoutMs` kills
// it. So a VM never runs on both hosts: the source resumes only once it knows this copy is gone.
//
//   reserving --> awaiting-source --> receiving --MIGRATION completed (paused)--> finishing --> awaiting-commit
//       |               |              |    \                                        ^              |      |
//       |               |              |     +--postcopy-active (cont: runs here)--> postcopy -------+    commit
//       v               v              v                                                  |              v      |
//     failed <----------+--------------+----------------------------------------------------+       committing  |
//       |                                                                                                |      |
//       v                                                                                                v      |
//     aborted <--- abort, or no commit in time: from awaiting-source .. awaiting-commit            committed <--+
//
//   reserving -> awaiting-source     QEMU listens (-S, -incoming defer, migrate-incoming); the session is expected
//   awaiting-source -> receiving     the source's session arrived and is joined to QEMU (and the NBD exports)
//   receiving -> postcopy            MIGRATION postcopy-active: the VM must run here now; marked committing, `cont`
//   -> finishing                     MIGRATION completed: TLS and exports are removed
//   finishing -> awaiting-commit     shown as completed; the commit timer runs (unless post-copy ran it already)
//   awaiting-commit -> committing    the controller's commit: marked committing on disk, then `cont`
//   committing -> committed          the guest runs: announced, and adopted as a VM of this host
//   -> failed                        QEMU failed or went away, or the stream ended and QEMU did not complete
//                                    soon after; the half-received VM is discarded at once (never once it ran)
//   -> aborted                       by request or when the commit timer fires; refused once the guest ran here
//
// The state moves only along TARGET_TRANSITIONS; an action the state forbids is refused with
// TransitionRefusedError (INVALID_STATE). QEMU's incoming status changes come as MIGRATION events
// (qemu-migration.ts); the byte counts are the agent's own (relays, session) and are read when
// progress is asked: no polling here.
//
// Until commit the VM is not in the manager's map (the source is the VM of record); its
// directory carries `incoming.json` (markers.ts) so a restarted agent knows: without `committing`
// the guest never ran here and is discarded, with it the commit is finished (recovered.ts).
// With copyDisks the VM's disks arrive over NBD on channels 1.. (disk-export.ts) while QEMU
// waits for the memory stream; the source makes them final before QEMU switches over (source.ts,
// pause-before-switchover), since a post-copy switch runs the guest here at once.
// With the `direct` transport QEMU listens on TCP at the data endpoint's address with QEMU's TLS,
// admitting only the source host's certificate (../data-plane/qemu-tls.ts); the session carries disks only.
import { mkdirSync, existsSync } from 'node:fs';
import type { MigrationStatus } from '../../qmp/index.js';
import { FerryError, failureCodeOf, type FailureCode, type IncomingMigrationRequest, type MigrationProgress } from '../../contracts/index.js';
import { terminate } from '../actions.js';
import type { AgentContext } from '../agent-context.js';
import { connectQmp, launchQemu } from '../launch.js';
import { log } from '../log.js';
import { qmp } from '../qemu/monitor.js';
import { TransitionRefusedError } from '../errors.js';
import { removeVmDir, vmPaths } from '../vm-dir.js';
import { VmRuntime } from '../vm-runtime.js';
import type { DataSession } from '../data-plane/plane.js';
import type { QemuTls } from '../data-plane/qemu-tls.js';
import { waitFlushed, type Relay } from '../data-plane/relay.js';
import { createEmptyDisks, DiskExports } from './disk-export.js';
import { DriverState, type TransitionTable } from '../driver-state.js';
import { initialProgress, qemuStatusOf, withCounters, withFailure, withListenPort, withQemuStatus, withState, type ProgressSnapshot } from './progress.js';
import { failureDesc, watchMigration } from './qemu-migration.js';
import { INCOMING_MARKER, clearMark, writeMark } from './markers.js';
import { configureTarget } from './qemu-setup.js';
import { joinIncoming, listenIncoming } from './stream.js';

const STREAM_END_GRACE_MS = 3_000;
/** How long a target holding the whole (paused) VM waits for the commit before killing it. */
export const DEFAULT_COMMIT_TIMEOUT_MS = 60_000;
const RELAY_FLUSH_WAIT_MS = 10_000;
const ANNOUNCE = { initial: 50, max: 550, rounds: 5, step: 100 };

type TargetState =
  | 'reserving' | 'awaiting-source' | 'receiving' | 'postcopy' | 'finishing' | 'awaiting-commit'
  | 'committing' | 'committed' | 'failed' | 'aborted';

export const TARGET_TRANSITIONS: TransitionTable<TargetState> = {
  reserving: ['awaiting-source', 'failed'],
  'awaiting-source': ['receiving', 'finishing', 'failed', 'aborted'],
  receiving: ['postcopy', 'finishing', 'failed', 'aborted'],
  // The guest runs here: nothing but its completion (or QEMU's failure) ends this.
  postcopy: ['finishing', 'failed'],
  finishing: ['awaiting-commit', 'aborted'],
  'awaiting-commit': ['committing', 'aborted'],
  // Marked on disk and `cont` sent: the guest may run; only done or retried from here.
  committing: ['committed'],
  committed: [],
  failed: ['aborted'],
  aborted: [],
};

const SHOWN_AS: Record<TargetState, MigrationProgress['state']> = {
  reserving: 'reserved', 'awaiting-source': 'reserved', receiving: 'active', postcopy: 'active', finishing: 'active',
  'awaiting-commit': 'completed', committing: 'completed', committed: 'committed', failed: 'failed', aborted: 'aborted',
};

/** QEMU is taking the stream in: its events count, and so do the stream's failures. */
const RECEIVING: readonly TargetState[] = ['awaiting-source', 'receiving', 'postcopy'];

export class IncomingMigration {
  readonly vm: VmRuntime;
  readonly #state: DriverState<TargetState>;
  /** Fires at teardown: every QMP call, wait and connection of this migration carry it. */
  readonly #abort = new AbortController();
  /** Fires once QEMU has the whole VM (or at teardown): ends the event watch. */
  readonly #following = new AbortController();
  #progress: ProgressSnapshot;
  #session: DataSession | undefined;
  #relay: Relay | undefined;
  #exports: DiskExports | undefined;
  #tls: QemuTls | undefined;
  /** Fails the migration if QEMU does not complete soon after the stream ended. */
  #streamGrace: NodeJS.Timeout | undefined;
  /** Kills the paused VM if no commit arrives in time (monotonic: a clock step does not move it). */
  #commitTimer: NodeJS.Timeout | undefined;
  /** The guest has been let run here (a post-copy switch, or a commit): never discarded from then on. */
  #ranHere = false;
  /** The commit under way (a retried commit joins it). */
  #committing: Promise<void> | undefined;
  /** The one teardown, once started. */
  #ending: Promise<void> | undefined;

  private constructor(readonly ctx: AgentContext, readonly req: IncomingMigrationRequest) {
    this.vm = new VmRuntime(ctx.dataDir, { spec: req.spec, state: 'restoring', endpoints: [] }, connectQmp);
    this.#state = new DriverState(`migration ${req.migrationId} (incoming vm ${req.spec.name})`, TARGET_TRANSITIONS, 'reserving');
    this.#progress = initialProgress(req.migrationId, 'target', req.spec.memoryMiB * 1024 * 1024);
  }

  get id(): string {
    return this.req.migrationId;
  }

  /** The current snapshot, with the stream's byte counts folded in while it flows. */
  progress(): MigrationProgress {
    if (this.#state.is('receiving', 'finishing')) this.#countBytes();
    return this.#progress.progress;
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
    try {
      await m.#prepare();
    } catch (err) {
      m.#fail(failureCodeOf(err, 'QEMU_FAILED'), `reserving: ${(err as Error).message}`);
      await m.#end();
      throw err;
    }
    m.#enter('awaiting-source');
    ctx.plane.expect(req.migrationId, req.sourceHost, (s) => m.#onSession(s));
    log('migration %s: target reserved for vm %s from %s', m.id, spec.name, req.sourceHost);
    return m;
  }

  #enter(next: TargetState, why?: string): void {
    this.#state.to(next, why);
    const shown = SHOWN_AS[next];
    if (shown !== 'failed' && shown !== 'aborted') this.#progress = withState(this.#progress, shown);
  }

  async #prepare(): Promise<void> {
    const { ctx, req, vm } = this;
    const { spec } = req;
    const signal = this.#abort.signal;
    mkdirSync(vm.paths.dir, { recursive: true });
    writeMark(vm.paths.dir, INCOMING_MARKER, { migrationId: req.migrationId, sourceHost: req.sourceHost });
    vm.save();
    if (spec.disks.length > 0) await createEmptyDisks(vm.paths.dir, spec.disks);
    await launchQemu(ctx.launch, vm, { incoming: true, startPaused: true, signal });
    vm.save();
    if (spec.disks.length > 0) this.#exports = await DiskExports.start(vm, spec.disks.length, signal);
    await configureTarget(vm, req, signal);
    const following = AbortSignal.any([signal, this.#following.signal]);
    void watchMigration(vm, (status) => this.#onQemuStatus(status), following).catch((err: Error) => {
      if (!following.aborted) this.#fail(failureCodeOf(err, 'QEMU_FAILED'), `following QEMU's incoming migration: ${err.message}`);
    });
    const { tls, port } = await listenIncoming(vm, req, ctx.plane, signal);
    this.#tls = tls;
    if (port !== undefined) this.#progress = withListenPort(this.#progress, port);
  }

  #onSession(s: DataSession): void {
    if (!this.#state.can('receiving')) return s.destroy(new Error(`migration ${this.id} is ${this.#state.current}`));
    this.#session = s;
    this.#enter('receiving');
    const signal = this.#abort.signal;
    // The session may end (even with an error) a moment before QEMU reports `completed`:
    // QEMU's status decides, and a broken stream fails only if QEMU does not complete soon after.
    s.closed.then(() => this.#streamEnded('the data session ended'), (err: Error) => this.#streamEnded(`data session failed: ${err.message}`));
    if (this.req.transport !== 'direct') {
      joinIncoming(this.vm, s.channel(0), signal, (err) => this.#streamEnded(`stream relay failed: ${err.message}`))
        .then((r) => void (this.#relay = r), (err: Error) => this.#fail('QEMU_FAILED', `cannot reach QEMU's incoming socket: ${err.message}`));
    }
    this.#exports?.attach(s, signal, (err) => this.#streamEnded(`disk relay failed: ${err.message}`))
      .catch((err: Error) => this.#fail('QEMU_FAILED', `cannot reach QEMU's NBD server: ${err.message}`));
  }

  #streamEnded(why: string): void {
    if (!this.#state.is(...RECEIVING) || this.#streamGrace) return;
    // Post-copy over `direct`: the stream is QEMU's own connection, and QEMU's status decides.
    if (this.req.transport === 'direct' && this.#state.is('postcopy')) return log('migration %s: %s; QEMU carries the post-copy stream on', this.id, why);
    this.#streamGrace = setTimeout(() => {
      this.#fail('QEMU_FAILED', `${why} before QEMU had the whole VM (${this.#progress.progress.qemuStatus})`);
    }, STREAM_END_GRACE_MS);
  }

  #countBytes(): void {
    this.#progress = withCounters(this.#progress, {
      stream: (this.#relay?.toQemu() ?? 0) + (this.#exports?.bytes() ?? 0),
      wire: this.#session?.wireBytes() ?? 0,
    });
  }

  /** A MIGRATION event. Never throws: it runs inside the watch (../qemu/events.ts). */
  #onQemuStatus(status: MigrationStatus): void {
    if (!this.#state.is(...RECEIVING)) return;
    this.#progress = withQemuStatus(this.#progress, qemuStatusOf(status));
    if (status === 'completed') void this.#onReceived();
    else if (status === 'postcopy-active') void this.#onPostcopy();
    else if (status === 'failed') {
      void failureDesc(this.vm, this.#abort.signal).then((desc) => this.#fail('QEMU_FAILED', `incoming migration failed${desc ? `: ${desc}` : ''}`));
    }
  }

  /**
   * The source switched to post-copy: it can no longer run the guest, so it must run here now
   * (QEMU's -S keeps it paused otherwise). Marked committing first, so a restarted agent keeps it.
   */
  async #onPostcopy(): Promise<void> {
    if (!this.#state.can('postcopy')) return;
    this.#enter('postcopy');
    try {
      await this.#letRun();
      log('migration %s: post-copy switch: vm %s runs here', this.id, this.vm.name);
    } catch (err) {
      this.#fail(failureCodeOf(err, 'QEMU_FAILED'), `running the guest at the post-copy switch: ${(err as Error).message}`);
    }
  }

  /** From here on the guest is this host's to run: marked on disk before QEMU is told. */
  async #letRun(): Promise<void> {
    this.#ranHere = true;
    writeMark(this.vm.paths.dir, INCOMING_MARKER, { migrationId: this.id, sourceHost: this.req.sourceHost, committing: true });
    const st = await qmp(this.vm, 'query-status', undefined, { signal: this.#abort.signal });
    if (st.status !== 'running') await qmp(this.vm, 'cont', undefined, { signal: this.#abort.signal });
  }

  /** QEMU has the whole VM (paused, unless post-copy ran it): release what the stream needed, then show completed. */
  async #onReceived(): Promise<void> {
    if (!this.#state.can('finishing')) return;
    this.#enter('finishing');
    this.#following.abort();
    this.#countBytes();
    const signal = this.#abort.signal;
    await this.#tls?.remove(signal);
    // Normally a no-op by now: the exports went before the source let QEMU switch over.
    await this.#exports?.remove(signal).catch((err: Error) => log('migration %s: removing disk exports: %s', this.id, err.message));
    if (!this.#state.is('finishing')) return;
    this.#enter('awaiting-commit');
    if (!this.#ranHere) {
      const ms = this.req.commitTimeoutMs ?? DEFAULT_COMMIT_TIMEOUT_MS;
      this.#commitTimer = setTimeout(() => void this.#commitTimedOut(ms), ms);
    }
    log('migration %s: target received vm %s%s', this.id, this.vm.name, this.#ranHere ? ' (running since the post-copy switch)' : ', paused until commit');
    // The session ends once QEMU has closed its end of the stream: before that its last words on
    // the return path (post-copy's shut message) may still be on their way to the source.
    await waitFlushed(this.#relay, RELAY_FLUSH_WAIT_MS, signal);
    this.#session?.close();
  }

  /** No commit came: the source is still the VM of record, and it may resume only once this copy is gone. */
  async #commitTimedOut(ms: number): Promise<void> {
    if (!this.#state.is('awaiting-commit')) return;
    log('migration %s: no commit within %d ms: discarding the paused vm %s', this.id, ms, this.vm.name);
    await this.abort(`no commit within ${ms} ms of receiving the whole VM: the paused copy was discarded`).catch((err: Error) => log('migration %s: %s', this.id, err.message));
  }

  /** Ends the migration as failed and discards the half-received VM at once (kept if the guest ran here: it is the only live copy). */
  #fail(code: FailureCode, message: string): void {
    if (!this.#state.can('failed')) return;
    this.#state.to('failed');
    const why = this.#ranHere ? `${message}; the guest had switched here (post-copy): its QEMU is kept for recovery` : message;
    log('migration %s: target failed: %s', this.id, why);
    // A half-received VM can never run: the source is still the VM of record. Discard it now
    // rather than wait for an abort that may never come (the controller may not reach us), and
    // show the failure once it is gone (an abort meanwhile keeps its own verdict).
    void this.#end().then(() => {
      if (this.#state.is('failed')) this.#progress = withFailure(this.#progress, 'failed', code, why);
    });
  }

  /**
   * The one teardown, idempotent: stops following QEMU, drops the session and the relays, and —
   * unless the VM was committed here — kills the incoming QEMU and removes its files.
   */
  #end(): Promise<void> {
    this.#ending ??= (async () => {
      clearTimeout(this.#streamGrace);
      clearTimeout(this.#commitTimer);
      this.#following.abort();
      this.#abort.abort();
      this.ctx.plane.unexpect(this.id);
      this.#session?.destroy();
      this.#relay?.destroy();
      this.#exports?.destroy();
      if (this.#state.is('committed') || this.#ranHere) return;
      if (this.vm.rec.pid !== undefined) await terminate(this.vm, 0).catch((err: Error) => log('migration %s: kill target QEMU: %s', this.id, err.message));
      if (!this.ctx.mgr.vms.has(this.vm.name)) removeVmDir(this.ctx.dataDir, this.vm.name);
    })();
    return this.#ending;
  }

  /**
   * Step 6/7 at the target: let the guest run here, announce it and make it ours. Idempotent once
   * committed; a retry while a commit is under way joins it. Refused unless the whole VM is here.
   */
  async commit(): Promise<MigrationProgress> {
    if (this.#state.is('committed')) return this.progress();
    if (!this.#state.is('committing')) {
      this.#enter('committing', 'only a migration that has the whole VM (and is not aborted) can be committed');
      clearTimeout(this.#commitTimer);
    }
    this.#committing ??= this.#runCommit().finally(() => (this.#committing = undefined));
    await this.#committing;
    return this.progress();
  }

  async #runCommit(): Promise<void> {
    const signal = this.#abort.signal;
    await this.#letRun();
    const st = await qmp(this.vm, 'query-status', undefined, { signal });
    if (st.status !== 'running') throw new FerryError('QEMU_FAILED', `vm ${this.vm.name} is ${st.status} at the target after cont, not running`);
    this.#enter('committed');
    clearMark(this.vm.paths.dir, INCOMING_MARKER);
    this.vm.setState('running');
    this.ctx.mgr.adopt(this.vm);
    await this.#end();
    // Tell the network where the guest is now; a lost announcement costs a few seconds of ARP, not the VM.
    await qmp(this.vm, 'announce-self', ANNOUNCE).catch((err: Error) => log('migration %s: announce-self: %s', this.id, err.message));
    log('migration %s: vm %s committed here', this.id, this.vm.name);
  }

  /** Kills the incoming QEMU and removes its files. Idempotent; refused once the guest ran here. */
  async abort(reason = 'aborted'): Promise<MigrationProgress> {
    if (!this.#state.is('aborted')) {
      if (this.#ranHere && !this.#state.is('failed')) {
        throw new TransitionRefusedError(this.#state.machine, this.#state.current, 'aborted', `vm ${this.vm.name} runs here (committed or switched to post-copy)`);
      }
      this.#state.to('aborted', `vm ${this.vm.name} runs here`);
      // Shown as aborted only once the copy is gone: whoever reads `aborted` may resume the source.
      await this.#end();
      this.#progress = withFailure(this.#progress, 'aborted', 'ABORTED', reason);
    }
    await this.#end();
    return this.progress();
  }
}
