// The load balancer as the operator meets it: its config, the status of every host (profile,
// volume, hot or not), a plan on demand, runs that carry a plan out, and auto mode, which plans
// every `intervalMs` and runs what the plan says. Each run is a task (`balance.run`, target
// `balance`, so one at a time) whose moves are ordinary migration tasks; a failed move makes
// the run re-plan from the cluster as it then is, at most MAX_REPLANS times. Every decision
// goes to the log (decisions-repo.ts) and out as a `balance.decision` event.
//
// Planning is per site: the balancer never moves a VM to another site (that is DR's job).
import type { BalanceConfig, BalanceConfigPatch, BalanceDecision, BalanceMove, BalancePlan, BalanceStatus, HostBalance } from '../../contracts/balance.js';
import type { Task } from '../../contracts/controller-api.js';
import { mib } from '../../contracts/format.js';
import type { VmSeries } from '../../contracts/metrics.js';
import type { MigrationRecord } from '../../contracts/migration.js';
import { vmTarget, type ClusterState } from '../cluster-state.js';
import type { EventBus } from '../events.js';
import { createLog } from '../log.js';
import type { MigrationService } from '../migration/service.js';
import type { TaskContext } from '../task.js';
import { mergeConfig, withDefaults } from './config.js';
import type { BalanceRepo } from './decisions-repo.js';
import { execute, type ExecutorIo } from './executor.js';
import { plan as planSite } from './planner.js';
import { isHotspot, meanOf, peak, spread, volume, window } from './profiles.js';
import { buildSnapshots, type Snapshots } from './snapshot.js';

const log = createLog('ferry:controller:balance');

export const BALANCE_TARGET = 'balance';
const MAX_REPLANS = 2;
/** Migration records the planner learns from (newest first). */
const HISTORY_RECORDS = 500;
const STATUS_DECISIONS = 20;
/**
 * A snapshot is reused for this long by status, hotness and Prometheus (they may all ask per
 * request): longer than the 2-s `load` event, which asks every host's hotness, so that event does
 * not rebuild it each time. Plans always take a fresh one.
 */
const SNAPSHOT_TTL_MS = 3000;

/** What the balancer needs of the metrics service (src/controller/metrics/service.ts). */
export interface LoadSource {
  vmSeries(name: string, windowMs: number, stepMs?: number): VmSeries;
}

/** What the balancer needs of the migration service: start one, and the records to learn from. */
export interface Migrations {
  migrate: MigrationService['migrate'];
  records: { list(vm: string | undefined, limit?: number): MigrationRecord[] };
}

export interface BalanceDeps {
  state: ClusterState;
  migrations: Migrations;
  repo: BalanceRepo;
  bus: EventBus;
  load: LoadSource;
  /** Why DR needs a VM left where it is now (a checkpoint in flight, zero-loss), or undefined. */
  drHold(vm: string): string | undefined;
}

type Trigger = BalanceDecision['trigger'];

export class BalanceService {
  private cfg: BalanceConfig;
  private timer: NodeJS.Timeout | undefined;
  /** The snapshot and the host profiles derived from it, reused for SNAPSHOT_TTL_MS. */
  private cached: { at: number; snaps: Snapshots; hosts?: HostBalance[]; hot?: ReadonlySet<string> } | undefined;
  private readonly running = new Map<string, BalanceMove>(); // vm -> move in flight
  private lastSkip = '';
  private readonly counts = new Map<BalanceDecision['kind'], number>();

  constructor(private readonly deps: BalanceDeps) {
    this.cfg = withDefaults(deps.repo.config());
  }

  start(): void {
    this.schedule();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  config(): BalanceConfig {
    return this.cfg;
  }

  updateConfig(patch: BalanceConfigPatch): BalanceConfig {
    const next = mergeConfig(this.cfg, patch);
    this.deps.repo.saveConfig(next);
    if (next.auto !== this.cfg.auto) log('auto mode %s', next.auto ? 'on' : 'off');
    this.cfg = next;
    this.cached = undefined;
    this.schedule();
    return next;
  }

  /** Decisions made since start, by kind (a Prometheus counter). */
  decisionCounts(): ReadonlyMap<BalanceDecision['kind'], number> {
    return this.counts;
  }

  decisions(limit: number, vm?: string): BalanceDecision[] {
    return this.deps.repo.list(limit, vm);
  }

  /** Hot by the k-of-n rule on its current VMs' profile (for host views and Prometheus). */
  isHot(host: string): boolean {
    this.hostBalances();
    return this.cached?.hot?.has(host) ?? false;
  }

  /** Moves in flight now. */
  runningMoves(): BalanceMove[] {
    return [...this.running.values()];
  }

  status(): BalanceStatus {
    const hosts = this.hostBalances();
    return {
      config: this.cfg,
      hosts,
      imbalance: imbalanceOf(hosts),
      running: this.runningMoves(),
      powerOff: this.cfg.policy.mode === 'density' ? this.planFrom(this.snapshots()).powerOff : [],
      decisions: this.deps.repo.list(STATUS_DECISIONS),
    };
  }

  /** A plan for the cluster as it is now; moves nothing. */
  plan(): BalancePlan {
    return this.planFrom(this.snapshots(true));
  }

  /** Plans and carries the plan out, as a task. */
  apply(trigger: Trigger = 'apply'): Task {
    this.deps.state.runner.assertIdle(BALANCE_TARGET);
    // The work starts on a later turn (TaskRunner.submit), by when `task` is set.
    const task: Task = this.deps.state.runner.submit({ kind: 'balance.run', target: BALANCE_TARGET, message: `balancing (${trigger})` }, (t) => this.run(t, trigger, task.id));
    return task;
  }

  private async run(t: TaskContext, trigger: Trigger, taskId: string): Promise<{ plans: number; done: BalanceMove[]; failed: { move: BalanceMove; why: string }[] }> {
    const out = { plans: 0, done: [] as BalanceMove[], failed: [] as { move: BalanceMove; why: string }[] };
    for (;;) {
      const p = this.plan();
      out.plans++;
      const failed = out.failed.at(-1);
      const why = out.plans === 1 || !failed ? '' : `the move of ${failed.move.vm} to ${failed.move.to} failed (${failed.why}); re-planned: `;
      this.decide(trigger, { kind: out.plans === 1 ? 'plan' : 'replan', reason: `${why}${summary(p)}` }, taskId);
      if (p.moves.length === 0) break;
      t.progress(10, `carrying out ${p.moves.length} move(s)`);
      const res = await execute(p.moves, this.executorIo(trigger, taskId), this.cfg.maxConcurrent, t.signal);
      out.done.push(...res.done);
      for (const m of res.skipped) this.decide(trigger, { kind: 'skipped', ...where(m), reason: `not started: ${res.failed ? `the move of ${res.failed.move.vm} failed` : 'the run was aborted'}` }, taskId);
      if (!res.failed || t.signal.aborted) break;
      out.failed.push(res.failed);
      if (out.plans > MAX_REPLANS) break;
    }
    this.cached = undefined;
    return out;
  }

  private executorIo(trigger: Trigger, taskId: string): ExecutorIo {
    const runner = this.deps.state.runner;
    return {
      migrate: async (m) => {
        const reply = await this.deps.migrations.migrate(m.vm, { to: m.to });
        if (reply.status !== 202) throw new Error('the migration service answered with a plan, not a task');
        this.running.set(m.vm, m);
        return reply.task;
      },
      settled: (id) => runner.settled(id),
      abortTask: (id, reason) => {
        try {
          runner.abort(id, reason);
        } catch {
          // already finished
        }
      },
      started: (m, task) => this.decide(trigger, { kind: 'move-started', ...where(m), reason: m.reason }, taskId, { migrationTask: task.id }),
      finished: (m, _task, rec) => {
        this.running.delete(m.vm);
        const how = rec ? ` in ${(rec.totalMs / 1000).toFixed(1)} s, ${mib(rec.wireBytes)} on the wire, downtime ${Math.round(rec.downtimeMs)} ms` : '';
        this.decide(trigger, { kind: 'move-done', ...where(m), reason: `moved${how}`, ...(rec ? { migrationId: rec.id } : {}) }, taskId);
      },
      failed: (m, why, task) => {
        this.running.delete(m.vm);
        const rec = task?.result as MigrationRecord | undefined;
        this.decide(trigger, { kind: 'move-failed', ...where(m), reason: `${why}; ${m.vm} keeps running on ${m.from}`, ...(rec?.id ? { migrationId: rec.id } : {}) }, taskId);
      },
    };
  }

  private decide(trigger: Trigger, d: Pick<BalanceDecision, 'kind' | 'reason'> & Partial<BalanceDecision>, taskId?: string, extra?: { migrationTask: string }): void {
    this.counts.set(d.kind, (this.counts.get(d.kind) ?? 0) + 1);
    const decision = this.deps.repo.append({ ...d, at: new Date().toISOString(), trigger, ...(taskId ? { taskId } : {}) });
    log('%s %s%s: %s%s', trigger, decision.kind, decision.vm ? ` ${decision.vm} ${decision.from}->${decision.to}` : '', decision.reason, extra ? ` (task ${extra.migrationTask})` : '');
    this.deps.bus.publish({ type: 'balance.decision', decision });
  }

  // --- auto mode ---

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.cfg.auto) return;
    this.timer = setTimeout(() => {
      this.tick();
      this.schedule();
    }, this.cfg.intervalMs);
    this.timer.unref();
  }

  /** One auto round: run when the plan has moves; log why not when a host is hot and nothing moves. */
  tick(): void {
    if (!this.cfg.auto || this.deps.state.runner.busyWith(BALANCE_TARGET)) return;
    let p: BalancePlan;
    try {
      p = this.plan();
    } catch (err) {
      log('auto: planning failed: %s', (err as Error).message);
      return;
    }
    if (p.moves.length > 0) {
      this.lastSkip = '';
      this.apply('auto');
      return;
    }
    const why = p.hotspots.length > 0 ? summary(p) : '';
    if (why !== '' && why !== this.lastSkip) this.decide('auto', { kind: 'skipped', reason: why });
    this.lastSkip = why;
  }

  // --- snapshots ---

  private snapshots(fresh = false): Snapshots {
    const now = Date.now();
    if (!fresh && this.cached && now - this.cached.at < SNAPSHOT_TTL_MS) return this.cached.snaps;
    const { state } = this.deps;
    const snaps = buildSnapshots({
      hosts: state.hosts.list(),
      vms: state.vms.list(),
      config: this.cfg,
      vmPoints: (vm, windowMs, stepMs) => {
        try {
          return this.deps.load.vmSeries(vm, windowMs, stepMs).points;
        } catch {
          return []; // no samples yet
        }
      },
      pinned: (vm) => {
        if (state.isBusy(vm.name)) return `busy with task ${state.runner.busyWith(vmTarget(vm.name))?.kind ?? ''}`.trim();
        if (state.movingTo(vm.name) !== undefined) return 'it is migrating';
        return this.deps.drHold(vm.name);
      },
      migrations: this.deps.migrations.records.list(undefined, HISTORY_RECORDS),
      nowMs: now,
    });
    this.cached = { at: now, snaps };
    return snaps;
  }

  private planFrom(snaps: Snapshots): BalancePlan {
    const policy = this.cfg.policy;
    const merged: BalancePlan = { mode: policy.mode, hotspots: [], moves: [], powerOff: [], notes: [], imbalanceBefore: 0, imbalanceAfter: 0 };
    const multi = snaps.sites.length > 1;
    for (const s of snaps.sites) {
      const left = policy.maxMoves - merged.moves.length;
      const p = planSite(s.snapshot, { ...policy, maxMoves: Math.max(1, left) }, snaps.history);
      const moves = left > 0 ? p.moves : [];
      merged.hotspots.push(...p.hotspots);
      merged.moves.push(...moves);
      // A host that only holds VMs the balancer may not move looks empty to the planner; it is not.
      const held = new Set(s.pinned.map((x) => x.host));
      merged.powerOff.push(...p.powerOff.filter((h) => !held.has(h)));
      for (const h of p.powerOff.filter((x) => held.has(x))) merged.notes.push(`${h} is not to be powered off: it holds ${s.pinned.filter((x) => x.host === h).map((x) => x.vm).join(', ')}`);
      merged.notes.push(...p.notes.map((n) => (multi ? `site ${s.site}: ${n}` : n)));
      for (const pin of s.pinned) if (p.hotspots.includes(pin.host)) merged.notes.push(`${pin.vm} stays on ${pin.host}: ${pin.reason}`);
      if (left <= 0 && p.moves.length > 0) merged.notes.push(`site ${s.site}: ${p.moves.length} move(s) wait for the next round (at most ${policy.maxMoves} per plan)`);
      merged.imbalanceBefore += p.imbalanceBefore;
      merged.imbalanceAfter += left > 0 ? p.imbalanceAfter : p.imbalanceBefore;
    }
    return merged;
  }

  /** Every host's profile, computed once per snapshot (host views ask per host, every 2 s). */
  hostBalances(): HostBalance[] {
    const snaps = this.snapshots();
    const cache = this.cached!;
    if (cache.hosts) return cache.hosts;
    const { policy } = this.cfg;
    const live = new Map<string, number>();
    for (const vm of this.deps.state.vms.list()) if (vm.state !== 'stopped' && vm.state !== 'crashed') live.set(vm.host, (live.get(vm.host) ?? 0) + 1);
    cache.hosts = snaps.sites.flatMap((s) =>
      s.snapshot.hosts.map((h) => {
        const load = meanOf(h.samples, policy.n) ?? { cpu: 0, net: 0, mem: 0 };
        const recent = window(h.samples, policy.n);
        return {
          name: h.name,
          site: s.site,
          up: h.up,
          load,
          volume: volume(load),
          hot: h.up && isHotspot(h.samples, policy.threshold, policy.k, policy.n),
          overThreshold: recent.filter((u) => peak(u) > policy.threshold).length,
          samples: recent.length,
          vms: live.get(h.name) ?? 0,
        };
      }),
    );
    cache.hot = new Set(cache.hosts.filter((h) => h.hot).map((h) => h.name));
    return cache.hosts;
  }
}

/** Spread of host volumes per site (up hosts only), summed over the sites. */
export function imbalanceOf(hosts: readonly HostBalance[]): number {
  const bySite = new Map<string, number[]>();
  for (const h of hosts) if (h.up) (bySite.get(h.site) ?? bySite.set(h.site, []).get(h.site)!).push(h.volume);
  let sum = 0;
  for (const v of bySite.values()) sum += spread(v);
  return sum;
}

const where = (m: BalanceMove): Pick<BalanceDecision, 'vm' | 'from' | 'to'> => ({ vm: m.vm, from: m.from, to: m.to });

/** One sentence for the log: what is hot, what the plan does, and why not more. */
export function summary(p: BalancePlan): string {
  const hot = p.hotspots.length === 0 ? 'no hotspot' : `hot: ${p.hotspots.join(', ')}`;
  const moves = p.moves.length === 0 ? 'no move' : p.moves.map((m) => `${m.vm} ${m.from}->${m.to}`).join(', ');
  const off = p.powerOff.length > 0 ? `; power off: ${p.powerOff.join(', ')}` : '';
  const notes = p.notes.length > 0 ? `; ${p.notes.join('; ')}` : '';
  return `${hot}; ${moves}; imbalance ${p.imbalanceBefore.toFixed(3)} -> ${p.imbalanceAfter.toFixed(3)}${off}${notes}`;
}
