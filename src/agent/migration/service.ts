// The agent's migrations by id, on either side, and the measure step. Routes (routes.ts) call
// in here; migrations stay listed after they end so the controller can read the outcome — also
// across an agent restart (recovered.ts), so a lost reply is resolved by asking.
import { FerryError, type IncomingMigrationRequest, type MeasureRequest, type MeasureResult, type MigrationProgress, type OutgoingMigrationRequest } from '../../contracts/index.js';
import { log } from '../log.js';
import { DIRTY_RATE_INTERVAL_MS } from '../dirty-rate.js';
import { measureDirtyRate, recentDirtyRate } from '../sampler.js';
import type { AgentContext } from '../agent-context.js';
import { RecoveredMigration } from './recovered.js';
import { OutgoingMigration } from './source.js';
import { IncomingMigration } from './target.js';

type Migration = IncomingMigration | OutgoingMigration | RecoveredMigration;

const PROBE_BYTES = 8 * 1024 * 1024;
const MAX_KEPT = 100;
/** What measuring may take beyond the dirty-rate sampling itself (QMP round trips, the link probe). */
const MEASURE_SLACK_MS = 30_000;
/** A sampler's dirty rate this fresh stands in for the measure step's own (it measures every DIRTY_RATE_INTERVAL_MS). */
const RECENT_DIRTY_RATE_MS = DIRTY_RATE_INTERVAL_MS + 5_000;

export class MigrationService {
  readonly #all = new Map<string, Migration>();

  constructor(readonly ctx: AgentContext, recovered: readonly RecoveredMigration[] = []) {
    for (const m of recovered) this.#all.set(m.id, m);
  }

  #get(id: string): Migration {
    const m = this.#all.get(id);
    if (!m) throw new FerryError('NOT_FOUND', `no migration ${id} on this host`);
    return m;
  }

  #add(id: string, m: Migration): void {
    this.#all.set(id, m);
    for (const old of this.#all.keys()) {
      if (this.#all.size <= MAX_KEPT) break;
      const s = this.#all.get(old)!.progress().state;
      if (s === 'committed' || s === 'aborted' || s === 'failed') this.#all.delete(old);
    }
  }

  #claim(id: string): void {
    if (this.#all.has(id)) throw new FerryError('CONFLICT', `migration ${id} already exists on this host`);
  }

  async incoming(req: IncomingMigrationRequest): Promise<MigrationProgress> {
    this.#claim(req.migrationId);
    for (const m of this.#all.values()) {
      if (m instanceof IncomingMigration && m.vm.name === req.spec.name && ['reserved', 'active', 'completed'].includes(m.progress().state)) {
        throw new FerryError('CONFLICT', `vm ${req.spec.name} is already arriving here (migration ${m.id})`);
      }
    }
    const m = await IncomingMigration.reserve(this.ctx, req);
    this.#add(req.migrationId, m);
    return m.progress();
  }

  async outgoing(req: OutgoingMigrationRequest): Promise<MigrationProgress> {
    this.#claim(req.migrationId);
    const m = await OutgoingMigration.start(this.ctx, req);
    this.#add(req.migrationId, m);
    return m.progress();
  }

  progress(id: string): MigrationProgress {
    return this.#get(id).progress();
  }

  commit(id: string): Promise<MigrationProgress> {
    return this.#get(id).commit();
  }

  /** `targetGone` (source, once QEMU completed): the controller heard that the target's copy is gone. */
  abort(id: string, opts: { targetGone?: boolean } = {}): Promise<MigrationProgress> {
    const m = this.#get(id);
    return m instanceof IncomingMigration ? m.abort() : m.abort('aborted by request', opts);
  }

  /** Dirty rate of the VM (QEMU calc-dirty-rate) and the link to the target's data endpoint, within MEASURE_SLACK_MS more than the rate takes. */
  async measure(req: MeasureRequest): Promise<MeasureResult> {
    const vm = this.ctx.mgr.get(req.vm);
    if (vm.rec.state !== 'running') throw new FerryError('INVALID_STATE', `vm ${req.vm} is ${vm.rec.state}; only a running vm can be measured`);
    const seconds = req.dirtyRateSeconds ?? 1;
    const limitMs = seconds * 1000 + MEASURE_SLACK_MS;
    const signal = AbortSignal.timeout(limitMs);
    // The background sampler measured this QEMU a moment ago: a second of calc-dirty-rate would
    // add a second to every migration and tell the planner little more. Asked for a number of
    // seconds, measure afresh.
    const recent = req.dirtyRateSeconds === undefined ? recentDirtyRate(vm, RECENT_DIRTY_RATE_MS) : undefined;
    try {
      const link = this.ctx.plane.measure(req.targetDataUrl, req.targetHost, { bytes: PROBE_BYTES, signal });
      link.catch(() => undefined);
      const rate = recent ?? (await measureDirtyRate(vm, seconds, signal));
      const { bytesPerSec, rttMs } = await link;
      return { memoryBytes: vm.rec.spec.memoryMiB * 1024 * 1024, dirtyRateBytesPerSec: rate, linkBytesPerSec: bytesPerSec, rttMs };
    } catch (err) {
      if (signal.aborted) throw new FerryError('TIMEOUT', `measuring vm ${req.vm} and the link to ${req.targetHost}: not done within ${limitMs} ms`, { cause: err });
      throw err;
    }
  }

  /** Agent close: abort what is in flight (a half-received VM is worthless; the source resumes its VM). */
  async close(): Promise<void> {
    for (const m of this.#all.values()) {
      const s = m.progress().state;
      if (m instanceof RecoveredMigration || s === 'committed' || s === 'aborted' || (s === 'failed' && m instanceof OutgoingMigration)) continue;
      // A completed source refuses (its VM waits paused for the controller's word) and so does a
      // target whose guest runs: both are picked up again by the next start (recovered.ts).
      if (m.progress().switchedToPostcopy) continue;
      await m.abort('the agent is shutting down').catch((err: Error) => log('migration %s: abort at close: %s', m.id, err.message));
    }
  }
}
