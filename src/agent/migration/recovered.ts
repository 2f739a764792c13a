// A migration this agent was part of when it stopped (crash, SIGKILL, upgrade), as the restarted
// agent finds it from the marks in the VM's directory (markers.ts) and its QEMU's own status. It
// answers the controller's questions about that migration id definitively, so a lost reply is
// resolved by asking, and carries out the one decision left:
//
//   target, not marked committing   the guest never ran here: its QEMU is killed, its files go  -> aborted
//   target, marked committing       the commit (or a post-copy switch) reached us: `cont` if still
//                                   paused, and the VM is this host's                          -> committed
//   source, QEMU completed          the target may run the VM: held paused (lifecycle refused)   -> completed
//                                   until commit (discard it here) or abort with targetGone (resume)
//   source, QEMU switched to        the VM runs at the target: held, and followed until QEMU     -> active
//   post-copy                       completes (a `direct` stream, QEMU to QEMU, outlives the       -> completed
//                                   agents; through the agents' relay it broke); abort refused
//   source, otherwise               QEMU's migration never completed, so the target cannot run
//                                   the VM: cancelled and resumed here at once                  -> failed
import type { MigrationProgress } from '../../contracts/index.js';
import type { MigrationStatus } from '../../qmp/index.js';
import { terminate } from '../actions.js';
import { TransitionRefusedError } from '../errors.js';
import { log } from '../log.js';
import type { VmManager } from '../manager.js';
import { qmp } from '../qemu/monitor.js';
import { isOurQemu, killPid } from '../proc.js';
import { readPidFile, removeVmDir } from '../vm-dir.js';
import type { VmRuntime } from '../vm-runtime.js';
import { INCOMING_MARKER, OUTGOING_MARKER, clearMark, type IncomingMark, type OutgoingMark } from './markers.js';
import { initialProgress, withFailure, withQemuStatus, withState, type ProgressSnapshot } from './progress.js';
import { cancelMigration, isActiveStatus, watchMigration } from './qemu-migration.js';

const CANCEL_WAIT_MS = 10_000;
const RESTARTED = 'the agent restarted during the migration';

type RecoveredState = 'completed' | 'postcopy' | 'committed' | 'failed' | 'aborted';

export class RecoveredMigration {
  #state: RecoveredState;
  #progress: ProgressSnapshot;

  private constructor(
    readonly id: string,
    readonly vmName: string,
    readonly role: 'source' | 'target',
    state: RecoveredState,
    memoryBytes: number,
    message: string,
    /** The source's VM, held until the controller decides. */
    private readonly held?: { vm: VmRuntime; mgr: VmManager },
  ) {
    this.#state = state;
    let p = initialProgress(id, role, memoryBytes);
    if (state === 'postcopy') p = withQemuStatus(p, 'postcopy-active');
    if (state === 'failed' || state === 'aborted') p = withFailure(p, state, state === 'failed' ? 'MIGRATION_FAILED' : 'ABORTED', message);
    else p = withState(p, state === 'postcopy' ? 'active' : state);
    this.#progress = p;
    if (state === 'postcopy' && held) this.#followPostcopy(held.vm);
  }

  /** Post-copy goes on between the QEMUs: completed (commit may follow) or failed (the VM is lost). */
  #followPostcopy(vm: VmRuntime): void {
    const stop = new AbortController();
    const onStatus = (status: MigrationStatus | undefined): void => {
      if (this.#state !== 'postcopy') return stop.abort();
      if (status === 'completed') {
        this.#state = 'completed';
        this.#progress = withState(this.#progress, 'completed');
      } else if (status === 'failed' || status === 'postcopy-paused') {
        this.#state = 'failed';
        this.#progress = withFailure(this.#progress, 'failed', 'QEMU_FAILED', `post-copy stream broke (${status}) after ${RESTARTED}`);
      } else return;
      log('migration %s: post-copy %s (recovered)', this.id, status);
      stop.abort();
    };
    void watchMigration(vm, onStatus, stop.signal).catch(() => undefined);
    // It may have ended between the caller's query and the watch.
    void qmp(vm, 'query-migrate', undefined, { signal: stop.signal }).then((info) => onStatus(info.status), () => undefined);
  }

  progress(): MigrationProgress {
    return this.#progress.progress;
  }

  #refuse(to: string, why: string): never {
    throw new TransitionRefusedError(`migration ${this.id} (vm ${this.vmName}, recovered after an agent restart)`, this.#state, to, why);
  }

  /** Target: already committed (idempotent). Source: the target committed; discard the held copy. */
  async commit(): Promise<MigrationProgress> {
    if (this.#state === 'committed') return this.progress();
    if (!this.held || (this.#state !== 'completed' && this.#state !== 'postcopy')) this.#refuse('committed', `it is ${this.#state}`);
    const { vm, mgr } = this.held;
    await terminate(vm, 0);
    mgr.forget(vm.name);
    removeVmDir(vm.dataDir, vm.name);
    this.#state = 'committed';
    this.#progress = withState(this.#progress, 'committed');
    log('migration %s: source copy of vm %s discarded (recovered)', this.id, vm.name);
    return this.progress();
  }

  /** Source in `completed`: resume the held VM, but only once the target's copy is known gone. */
  async abort(reason: string, opts: { targetGone?: boolean } = {}): Promise<MigrationProgress> {
    if (this.#state === 'failed' || this.#state === 'aborted') return this.progress();
    if (!this.held || this.#state !== 'completed') this.#refuse('aborted', this.#state === 'postcopy' ? 'switched to post-copy: the vm runs at the target' : `it is ${this.#state}`);
    if (!opts.targetGone) this.#refuse('aborted', 'QEMU completed the migration, so the target may run the VM: it resumes here only with targetGone');
    const { vm } = this.held;
    const st = await qmp(vm, 'query-status');
    if (st.status === 'postmigrate' || st.status === 'paused') await qmp(vm, 'cont');
    vm.setState('running');
    clearMark(vm.paths.dir, OUTGOING_MARKER);
    vm.migrationId = undefined;
    this.#state = 'aborted';
    this.#progress = withFailure(this.#progress, 'aborted', 'ABORTED', reason);
    log('migration %s: vm %s resumed at the source (recovered)', this.id, vm.name);
    return this.progress();
  }

  /**
   * The target's side, before its VM is re-attached. Returns the VM to keep (committed) or
   * undefined (discarded).
   */
  static async incoming(vm: VmRuntime, mark: IncomingMark, reattach: (vm: VmRuntime) => Promise<void>): Promise<{ migration: RecoveredMigration; keep?: VmRuntime }> {
    const mem = vm.rec.spec.memoryMiB * 1024 * 1024;
    if (!mark.committing) {
      const pid = readPidFile(vm.paths.pidFile) ?? vm.rec.pid;
      if (isOurQemu(pid, vm.rec.spec.uuid)) killPid(pid, 'SIGKILL');
      removeVmDir(vm.dataDir, vm.name);
      log('migration %s: discarded the uncommitted incoming vm %s', mark.migrationId, vm.name);
      return { migration: new RecoveredMigration(mark.migrationId, vm.name, 'target', 'aborted', mem, `${RESTARTED}, before the commit: the paused copy was discarded`) };
    }
    await reattach(vm);
    if (vm.qmp) {
      const st = await qmp(vm, 'query-status');
      if (st.status === 'paused') await qmp(vm, 'cont');
      vm.setState('running');
    }
    clearMark(vm.paths.dir, INCOMING_MARKER);
    log('migration %s: finished the commit of vm %s after a restart', mark.migrationId, vm.name);
    return { migration: new RecoveredMigration(mark.migrationId, vm.name, 'target', 'committed', mem, ''), keep: vm };
  }

  /** The source's side, after its VM was re-attached (its QEMU may be gone). */
  static async outgoing(vm: VmRuntime, mark: OutgoingMark, mgr: VmManager): Promise<RecoveredMigration> {
    const mem = vm.rec.spec.memoryMiB * 1024 * 1024;
    const done = (why: string): RecoveredMigration => {
      clearMark(vm.paths.dir, OUTGOING_MARKER);
      log('migration %s: %s', mark.migrationId, why);
      return new RecoveredMigration(mark.migrationId, vm.name, 'source', 'failed', mem, why);
    };
    if (!vm.qmp) return done(`${RESTARTED} and the VM's QEMU was gone`);
    const info = await qmp(vm, 'query-migrate');
    if (info.status === 'completed' || info.status?.startsWith('postcopy')) {
      const state = info.status === 'completed' ? 'completed' : 'postcopy';
      vm.migrationId = mark.migrationId;
      log('migration %s: vm %s held (%s) until the controller decides', mark.migrationId, vm.name, info.status);
      return new RecoveredMigration(mark.migrationId, vm.name, 'source', state, mem, '', { vm, mgr });
    }
    // Never completed: the target keeps the guest paused until a commit that cannot come now.
    if (isActiveStatus(info.status)) await cancelMigration(vm, CANCEL_WAIT_MS);
    const st = await qmp(vm, 'query-status');
    if (st.status === 'postmigrate' || st.status === 'paused') {
      await qmp(vm, 'cont');
      vm.setState('running');
    }
    return done(`${RESTARTED} (QEMU's migration ${info.status ?? 'none'}): the VM runs here`);
  }
}
