// Disaster recovery as typed commands (src/contracts/dr.ts): protect and unprotect, read the
// protections, checkpoints and reports, and start failovers, DR tests and failbacks as tasks.
// Each command first refuses what it must, synchronously and with a typed error (unknown VM,
// bad site, already protected, host up or down, busy, no room); the slow part is a task.
//
// Locks: every DR task holds `dr/VM` (one DR operation per VM at a time). Failover and failback
// also hold `vm/VM`, which pauses the VM's replication and keeps other VM tasks and the
// heartbeat reconciler off it; a DR test does not, so replication goes on during the test.
//
// High availability (ha.ts, ha-watcher.ts): the watcher starts unplanned failovers through
// `failover`, like an operator would; which VMs the heartbeat replies lease is read from the
// protections alone (leases.ts), so the host monitor needs nothing of this service.
import type { ImageService } from '../images/service.js';
import { randomUUID } from 'node:crypto';
import type { Task, Vm } from '../../contracts/controller-api.js';
import type { CheckpointRecord, FailoverReport, FailoverRequest, Protection, ProtectRequest, ScrubReport } from '../../contracts/dr.js';
import type { AgentPool } from '../agents.js';
import { vmTarget, type ClusterState } from '../cluster-state.js';
import type { ForeignCopies } from '../cluster/foreign-copies.js';
import type { MoveRegistry } from '../cluster/moves.js';
import { ConflictError, HostDownError, InvalidRequestError, InvalidStateError } from '../errors.js';
import type { EventBus } from '../events.js';
import { withBridgedNeed } from '../guest-net.js';
import { checkFits, DEFAULT_LIMITS, place, type PlacementLimits, type PlacementVm } from '../placement.js';
import { DrAgents, log } from './agent-io.js';
import { testCopyName } from './checks.js';
import { Checkpointer } from './checkpointer.js';
import { runFailover, type FailoverInput, type FailoverIo } from './failover.js';
import type { SentLease } from './ha.js';
import { HaWatcher } from './ha-watcher.js';
import type { HostEvidence } from '../host-witness.js';
import { Protections } from './protections.js';
import { Replicator, type RunCheckpoint } from './replicator.js';
import type { DrRepo } from './repo.js';
import { switchIo } from './switch-io.js';
import { zeroLossHold } from './zero-loss.js';

export const drTarget = (vm: string): string => `dr/${vm}`;
export const DEFAULT_KEEP = 3;
/** A planned switch whose newest checkpoint is older than this first takes one while the VM runs. */
export const WARM_UP_AFTER_MS = 5000;

export interface DrOptions {
  tickMs?: number;
  concurrency?: number;
  heartbeatWaitMs?: number;
  limits?: PlacementLimits;
  /** High availability: the lease the heartbeat replies carry, and what was last sent to each host. */
  ha?: { leaseMs: number; marginMs: number; lastLease(host: string): SentLease | undefined; evidence(host: string): HostEvidence };
}

export interface DrDeps {
  state: ClusterState;
  /** Failover and failback move the VM: its room is held at the destination meanwhile. */
  moves: MoveRegistry;
  /** A DR test's copy runs under its own name, which heartbeats must not adopt. */
  foreign: ForeignCopies;
  agents: AgentPool;
  repo: DrRepo;
  bus: EventBus;
  /** Stages the kernel and initrd a VM boots from on the host it is restored on. */
  images?: Pick<ImageService, 'ensureOn'>;
}

export class DrService {
  readonly protections: Protections;
  private readonly state: ClusterState;
  private readonly moves: MoveRegistry;
  private readonly foreign: ForeignCopies;
  private readonly replicator: Replicator;
  private readonly calls: DrAgents;
  private readonly checkpointer: Checkpointer;
  private readonly ha: HaWatcher | undefined;
  private readonly images: DrDeps['images'];

  constructor(
    { state, moves, foreign, agents, repo, bus, images }: DrDeps,
    private readonly opts: DrOptions = {},
  ) {
    this.state = state;
    this.moves = moves;
    this.foreign = foreign;
    this.images = images;
    this.protections = new Protections(repo, bus);
    this.calls = new DrAgents(state, agents);
    this.checkpointer = new Checkpointer(state, this.calls, this.protections);
    // The DR host holds what the VM boots from before any checkpoint: an unplanned failover may find its site gone.
    const run: RunCheckpoint = async (row, vm, signal) => {
      await this.images?.ensureOn(row.protection.targetHost, vm.spec, 'boot', signal);
      return this.checkpointer.run(vm.name, { from: vm.host, to: row.protection.targetHost, atDrSite: true }, signal);
    };
    this.replicator = new Replicator(this.protections, state, run, { ...(opts.tickMs ? { tickMs: opts.tickMs } : {}), ...(opts.concurrency ? { concurrency: opts.concurrency } : {}) });
    const ha = opts.ha;
    if (ha) {
      this.ha = new HaWatcher(
        {
          protections: this.protections, state, bus,
          lastLease: (host) => ha.lastLease(host),
          evidence: (host) => ha.evidence(host),
          busy: (vm) => this.busy(vm),
          failover: (vm, reason) => this.failover(vm, { mode: 'unplanned' }, { reason }),
        },
        { leaseMs: ha.leaseMs, marginMs: ha.marginMs, ...(opts.tickMs ? { tickMs: opts.tickMs } : {}) },
      );
    }
  }

  /** First aborts the checkpoint jobs a controller that died left running (checkpointer.ts), so they are retried from scratch. */
  async start(): Promise<void> {
    await this.checkpointer.abortLeftovers();
    this.replicator.start();
    this.ha?.start();
  }

  close(): Promise<void> {
    this.ha?.close();
    return this.replicator.close();
  }

  list(): Protection[] {
    return this.protections.list();
  }

  /** Why the load balancer must leave this VM where it is now, or undefined. */
  balanceHold(vm: string): string | undefined {
    if (this.replicator.isRunning(vm)) return 'a DR checkpoint of it is in flight';
    return zeroLossHold(this.protections.repo, vm);
  }

  get(vm: string): Protection {
    return this.protections.get(vm);
  }

  checkpoints(vm: string): CheckpointRecord[] {
    this.protections.row(vm);
    return this.protections.repo.checkpoints(vm);
  }

  reports(vm?: string): FailoverReport[] {
    return this.protections.repo.reports(vm);
  }

  /** Verifies every chunk a host's DR store holds (404 unknown host, 503 down). */
  scrub(host: string): Promise<ScrubReport> {
    return this.calls.up(host).drScrub();
  }

  /** 404 VM, 409 protected already, 400 toSite (unknown, or the VM's own), 507 no DR host can hold it. */
  protect(req: ProtectRequest): Protection {
    const vm = this.state.requireVm(req.vm);
    const existing = this.protections.repo.get(req.vm)?.protection;
    if (existing) throw new ConflictError(`VM ${req.vm} is protected already (to site ${existing.toSite}); unprotect it first to change that`);
    const sites = [...new Set(this.state.hosts.list().map((h) => h.info.site))].sort();
    if (!sites.includes(req.toSite)) throw new InvalidRequestError('body.toSite', `names no site with hosts (sites: ${sites.join(', ')})`);
    if (req.toSite === vm.site) throw new InvalidRequestError('body.toSite', `is the site VM ${vm.name} runs in; the DR site must be another`);
    const snap = this.state.placementSnapshot();
    // Each protection holds its VM's room at its DR host, so a site loss can be failed over whole.
    const targetHost = place(snap.hosts, [...snap.vms, ...this.drReservations()], withBridgedNeed({ memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, site: req.toSite }, vm.spec), this.limits);
    if (!this.state.hosts.get(targetHost)?.info.dataUrl) throw new InvalidStateError(`DR host ${targetHost} has no data endpoint (ferry-wire) to receive checkpoints`);
    const now = new Date().toISOString();
    const p: Protection = {
      vm: vm.name, uuid: vm.uuid, fromSite: vm.site, toSite: req.toSite, targetHost, rpoMs: req.rpoMs, keep: req.keep ?? DEFAULT_KEEP,
      ...(req.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
      ha: req.ha ?? true,
      state: 'syncing', checkpoints: 0, bytesSent: 0, createdAt: now, updatedAt: now,
    };
    this.protections.create(p, { syncingSince: now });
    log('protecting %s: %s -> %s (%s), RPO %d ms', vm.name, vm.host, targetHost, req.toSite, req.rpoMs);
    setImmediate(() => this.replicator.tick());
    return this.protections.view(p);
  }

  /** Stops replication (a running checkpoint is aborted) and frees the DR copies, best effort. */
  async unprotect(vm: string): Promise<Protection> {
    const p = this.protections.get(vm);
    this.state.runner.assertIdle(drTarget(vm));
    this.protections.remove(vm);
    this.protections.repo.removeCheckpoints(vm);
    this.replicator.forget(vm);
    await this.replicator.quiesce(vm, `VM ${vm} unprotected`);
    await this.calls.deleteStore(p.targetHost, vm);
    // The VM's own host keeps the newest checkpoint it sent (for failback) and, in zero-loss
    // mode, holds the guest's output: dropping the VM's store there frees the one and releases
    // the other (src/agent/dr/service.ts drop), so the guest's network flows again.
    const host = this.state.vms.get(vm)?.host;
    if (host !== undefined && host !== p.targetHost) await this.calls.deleteStore(host, vm);
    log('unprotected %s', vm);
    return p;
  }

  /**
   * 404, 409 busy / failed over / no checkpoint / source host up (unplanned), 503 a host down, 507 no room.
   * `ha`: high availability starts this unplanned failover, for this reason (kept in the report).
   */
  failover(vm: string, req: FailoverRequest, ha?: { reason: string }): Task {
    const mode = req.mode ?? 'unplanned';
    const p = this.protections.row(vm).protection;
    this.state.runner.assertIdle(drTarget(vm));
    if (mode !== 'test') this.state.runner.assertIdle(vmTarget(vm));
    if (p.state === 'failed-over') throw new InvalidStateError(`VM ${vm} runs at the DR site already (on ${p.targetHost}); fail it back first`);
    const rec = this.state.requireVm(vm);
    this.state.requireHostUp(p.targetHost);
    if (mode !== 'planned' && p.checkpoints === 0) throw new InvalidStateError(`no checkpoint of VM ${vm} has committed at ${p.targetHost} yet`);
    if (mode === 'unplanned' && this.state.hosts.get(rec.host)?.state === 'up') {
      throw new InvalidStateError(
        `host ${rec.host} is up: VM ${vm} may still run there. Fence it first (stop the VM, or power off or isolate its host), then fail over; for a switch that loses nothing use --planned`,
      );
    }
    if (mode === 'planned') this.requireSwitchable(rec, p.targetHost);
    this.checkRoom(rec, p.targetHost);
    const inp: FailoverInput = {
      id: randomUUID(), kind: mode, vm: rec, from: rec.host, to: p.targetHost, commandAt: Date.now(),
      ...(mode === 'planned' ? { warmUp: needsWarmUp(p) } : {}),
      ...(mode === 'test' ? { testName: this.testName(vm) } : {}),
      ...(this.opts.heartbeatWaitMs !== undefined ? { heartbeatWaitMs: this.opts.heartbeatWaitMs } : {}),
    };
    if (mode === 'test') return this.submitTest(inp);
    const message = `${mode} failover of ${vm} to ${p.targetHost}`;
    return this.submitSwitch(inp, { kind: 'dr.failover', message: ha ? `high availability: ${message} (${ha.reason})` : message }, ha);
  }

  /** The VM runs at the DR site after a failover: bring it home, sending only what changed. */
  failback(vm: string): Task {
    const row = this.protections.row(vm);
    this.state.runner.assertIdle(drTarget(vm));
    this.state.runner.assertIdle(vmTarget(vm));
    const home = row.meta.homeHost;
    if (row.protection.state !== 'failed-over' || home === undefined) throw new InvalidStateError(`VM ${vm} has not failed over (it is ${row.protection.state}); nothing to fail back`);
    const rec = this.state.requireVm(vm);
    this.requireSwitchable(rec, home);
    this.checkRoom(rec, home);
    const inp: FailoverInput = {
      id: randomUUID(), kind: 'failback', vm: rec, from: rec.host, to: home, commandAt: Date.now(), warmUp: true,
      ...(this.opts.heartbeatWaitMs !== undefined ? { heartbeatWaitMs: this.opts.heartbeatWaitMs } : {}),
    };
    return this.submitSwitch(inp, { kind: 'dr.failback', message: `failback of ${vm} to ${home}` });
  }

  /** Failover (unplanned, planned) and failback: the record moves, so the VM is locked and its room held at the destination. */
  private submitSwitch(inp: FailoverInput, o: { kind: string; message: string }, ha?: FailoverReport['ha']): Task {
    const name = inp.vm.name;
    const task = this.state.runner.submit({ kind: o.kind, target: vmTarget(name), alsoLocks: [drTarget(name)], message: o.message }, async (t) => {
      await this.replicator.quiesce(name, `${inp.kind} of ${name}`, inp.kind === 'unplanned' ? 5000 : 10_000);
      if (!ha) return runFailover(this.switchIo(inp), inp, t);
      const io = this.switchIo(inp);
      return { ...(await runFailover({ ...io, save: (r) => io.save({ ...r, ha }) }, inp, t)), ha };
    });
    // Same tick as the capacity check: a second switch to the same host sees this one.
    this.moves.reserveUntil(name, inp.to, this.state.runner.settled(task.id));
    return task;
  }

  private submitTest(inp: FailoverInput): Task {
    const copy = inp.testName!;
    const task = this.state.runner.submit({ kind: 'dr.test', target: drTarget(inp.vm.name), message: `DR test of ${inp.vm.name}: ${copy} on ${inp.to}` }, (t) =>
      runFailover(this.switchIo(inp), inp, t),
    );
    this.foreign.holdUntil(copy, this.state.runner.settled(task.id));
    return task;
  }

  /** Both hosts up, the VM running (a checkpoint captures a running VM), a data endpoint to send to. */
  /** The task holding the VM or its DR lock, in words. */
  private busy(vm: string): string | undefined {
    const t = this.state.runner.busyWith(vmTarget(vm)) ?? this.state.runner.busyWith(drTarget(vm));
    return t && `task ${t.id} (${t.kind})`;
  }

  private requireSwitchable(rec: Vm, to: string): void {
    if (this.state.hosts.get(rec.host)?.state !== 'up') {
      throw new HostDownError(rec.host, `is down: a planned switch needs the VM's host to take the final checkpoint (after fencing it, an unplanned failover restores the newest checkpoint)`);
    }
    const dest = this.state.requireHostUp(to);
    if (rec.state !== 'running') throw new InvalidStateError(`VM ${rec.name} is ${rec.state}; a planned switch takes a final checkpoint of a running VM`);
    if (!dest.info.dataUrl) throw new InvalidStateError(`host ${to} has no data endpoint (ferry-wire) to receive the final checkpoint`);
  }

  private checkRoom(rec: Vm, host: string): void {
    const snap = this.state.placementSnapshot();
    const h = snap.hosts.find((x) => x.name === host);
    if (h) checkFits(h, snap.vms, withBridgedNeed(rec, rec.spec), this.limits);
  }

  private get limits(): PlacementLimits {
    return this.opts.limits ?? DEFAULT_LIMITS;
  }

  /** The room each protected VM holds at its DR host (while it runs at home). */
  private drReservations(): PlacementVm[] {
    return this.protections.repo
      .list()
      .filter((r) => r.protection.state !== 'failed-over')
      .flatMap((r) => {
        const vm = this.state.vms.get(r.protection.vm);
        return vm ? [{ host: r.protection.targetHost, memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, allocated: true }] : [];
      });
  }

  private testName(vm: string): string {
    let n = this.protections.repo.reports(vm).filter((r) => r.kind === 'test').length + 1;
    while (this.state.vms.get(testCopyName(vm, n)) || this.foreign.isForeign(testCopyName(vm, n))) n++;
    return testCopyName(vm, n);
  }

  private switchIo(inp: FailoverInput): FailoverIo {
    return switchIo({ state: this.state, moves: this.moves, calls: this.calls, protections: this.protections, checkpointer: this.checkpointer, replicator: this.replicator, ...(this.images ? { images: this.images } : {}) }, inp);
  }
}

function needsWarmUp(p: Protection): boolean {
  const taken = p.lastCheckpoint ? Date.parse(p.lastCheckpoint.takenAt) : NaN;
  return !Number.isFinite(taken) || Date.now() - taken > WARM_UP_AFTER_MS;
}
