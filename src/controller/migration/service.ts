// `POST /vms/:name/migrate` as a typed command: refuse what must be refused at once (unknown VM
// or host, busy VM, host down, not running, no room on the target), answer a dry run with the
// plan, otherwise hold the VM's resources on the target too and run the migration as a task.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Task, Vm } from '../../contracts/controller-api.js';
import type { MigrateRequest, MigrationPlan, MigrationRecord } from '../../contracts/migration.js';
import type { AgentPool } from '../agents.js';
import { vmTarget, type ClusterState } from '../cluster-state.js';
import type { MoveRegistry } from '../cluster/moves.js';
import { MigrationEvents } from '../web-console/live.js';
import type { EventBus } from '../events.js';
import { FerryError } from '../../contracts/errors.js';
import { InvalidRequestError, InvalidStateError, NotFoundError } from '../errors.js';
import { createLog } from '../log.js';
import { bridgedNeed, withBridgedNeed } from '../guest-net.js';
import { checkFits, DEFAULT_LIMITS, type PlacementLimits } from '../placement.js';
import type { MigrationsRepo } from './migrations-repo.js';
import { RESTART_MESSAGE } from '../task-runner.js';
import { measureAndPlan, runMigration, settleInterrupted, type MigrationInput, type MigrationIo } from './orchestrator.js';
import { unanswered } from './settle.js';
import { DEFAULT_MAX_DOWNTIME_MS } from './planner.js';
import { zeroLossMigrateRefusal } from '../dr/zero-loss.js';

const log = createLog('ferry:controller:migration');

/** A dry run answers synchronously; measuring takes a dirty-rate sample and a link probe. */
const DRY_RUN_TIMEOUT_MS = 60_000;
const CONSOLE_TAIL_BYTES = 2048;
/** Background clean-up of a target that did not hear the abort: every 5 s for 3 minutes (it also discards by itself). */
const CLEANUP_ATTEMPTS = 36;
const CLEANUP_RETRY_MS = 5000;

const SWITCH_STEPS: ReadonlySet<string> = new Set(['stop-and-copy', 'commitment', 'activation']);

export type MigrateReply = { status: 200; plan: MigrationPlan } | { status: 202; task: Task };

export class MigrationService {
  constructor(
    private readonly state: ClusterState,
    private readonly moves: MoveRegistry,
    private readonly agents: AgentPool,
    readonly records: MigrationsRepo,
    private readonly limits: PlacementLimits = DEFAULT_LIMITS,
    bus?: EventBus,
    /** Why DR forbids moving a VM by live migration (zero-loss mode, dr/zero-loss.ts), or undefined. */
    private readonly drHold: (vm: string) => string | undefined = () => undefined,
  ) {
    this.events = bus ? new MigrationEvents((e) => bus.publish(e)) : undefined;
  }

  /** Fires when the controller shuts down: a migration waiting for an agent's answer stops waiting. */
  private readonly closing = new AbortController();
  private get closed(): boolean {
    return this.closing.signal.aborted;
  }
  /** `migration` events for the console: live progress, then the end. */
  private readonly events: MigrationEvents | undefined;

  /** Stops background abort retries (the controller is shutting down). */
  close(): void {
    this.closing.abort(new FerryError('ABORTED', 'the controller is shutting down; the migration is settled at its next start'));
    this.events?.close();
  }

  async migrate(name: string, req: MigrateRequest): Promise<MigrateReply> {
    const inp = this.precheck(name, req);
    if (req.dryRun) {
      const signal = AbortSignal.timeout(DRY_RUN_TIMEOUT_MS);
      return { status: 200, plan: await measureAndPlan(this.io(inp), inp, signal) };
    }
    const task = this.state.runner.submit({ kind: 'vm.migrate', target: vmTarget(name), message: `migrating ${name} to ${req.to}` }, (t) =>
      runMigration(this.io(inp), inp, t),
    );
    // Same tick as the capacity check: a second migration to the same host sees this one.
    this.moves.reserveUntil(name, req.to, this.state.runner.settled(task.id));
    return { status: 202, task };
  }

  /**
   * At start: a migration a previous controller left running is settled by asking its agents
   * (settle.ts), as a task that holds the VM — it goes forward if the target committed, else the
   * VM resumes at its source.
   */
  settleInterrupted(): void {
    for (const rec of this.records.unfinished()) {
      const vm = this.state.vms.get(rec.vm);
      if (!vm || vm.host === rec.to) {
        // Gone, or activated just before the stop (only the record's last save was lost).
        const outcome = vm ? 'succeeded' : 'failed';
        this.records.save({ ...rec, outcome, ...(vm ? {} : { error: { code: 'NOT_FOUND', message: `${RESTART_MESSAGE}; VM ${rec.vm} no longer exists` } }), finishedAt: new Date().toISOString() });
        continue;
      }
      const inp: MigrationInput = {
        id: rec.id, vm: { ...vm, host: rec.from }, to: rec.to, targetDataUrl: '',
        planner: { vm: rec.vm, from: rec.from, to: rec.to, maxDowntimeMs: DEFAULT_MAX_DOWNTIME_MS, strategy: 'auto', transport: 'auto' },
      };
      log('migration %s of %s was running when the controller stopped: settling it', rec.id, rec.vm);
      this.state.runner.submit({ kind: 'vm.migrate', target: vmTarget(rec.vm), message: `settling migration ${rec.id} of ${rec.vm} to ${rec.to} (${RESTART_MESSAGE})` }, (t) =>
        settleInterrupted(this.io(inp), inp, rec, t),
      );
    }
  }

  list(vm?: string): MigrationRecord[] {
    return this.records.list(vm);
  }

  get(id: string): MigrationRecord {
    const r = this.records.get(id);
    if (!r) throw new NotFoundError(`migration ${id}`);
    return r;
  }

  /** 404 VM, 409 busy, 409 zero-loss, 404/503 target, 400 same host, 503 source down, 409 not running, 507 no room. */
  private precheck(name: string, req: MigrateRequest): MigrationInput {
    const vm = this.state.requireVm(name);
    this.state.runner.assertIdle(vmTarget(name));
    const held = this.drHold(name);
    if (held) throw new InvalidStateError(zeroLossMigrateRefusal(name, held));
    const target = this.state.hosts.get(req.to);
    if (!target) throw new NotFoundError(`host ${req.to}`);
    if (req.to === vm.host) throw new InvalidRequestError('body.to', `is the host VM ${name} already runs on`);
    this.state.requireHostUp(req.to);
    this.state.requireHostUp(vm.host);
    if (vm.state !== 'running') throw new InvalidStateError(`cannot migrate VM ${name}: it is ${vm.state} (migrate needs running)`);
    const dataUrl = target.info.dataUrl;
    if (!dataUrl) throw new InvalidStateError(`host ${req.to} has no data endpoint to receive a migration (agent without ferry-wire?)`);
    const snap = this.state.placementSnapshot();
    const host = snap.hosts.find((h) => h.name === req.to);
    if (host) checkFits(host, snap.vms, withBridgedNeed(vm, vm.spec), this.limits);
    const noDirect = this.noDirect(vm, req.to);
    if (noDirect && req.transport === 'direct') throw new InvalidRequestError('body.transport', `cannot be direct: ${noDirect}; use auto or passthrough`);
    return {
      id: randomUUID(),
      vm,
      to: req.to,
      targetDataUrl: dataUrl,
      planner: {
        vm: name,
        from: vm.host,
        to: req.to,
        maxDowntimeMs: req.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS,
        strategy: req.strategy ?? 'auto',
        transport: req.transport ?? 'auto',
        ...(noDirect ? { noDirect } : {}),
        ...(req.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
      },
      ...(req.bandwidthBytesPerSec !== undefined ? { bandwidthBytesPerSec: req.bandwidthBytesPerSec } : {}),
    };
  }

  /** Why the source's QEMU cannot connect to the target's itself: a bridged VM's QEMU runs in its host's guest namespace, with its own loopback. */
  private noDirect(vm: Vm, to: string): string | undefined {
    if (!bridgedNeed(vm.spec)) return undefined;
    const inNetns = [vm.host, to].filter((h) => this.state.hosts.get(h)?.info.guestNetwork?.netns !== undefined);
    return inNetns.length > 0 ? `VM ${vm.name} is bridged and its QEMU runs in the guest network namespace of ${inNetns.join(' and ')}` : undefined;
  }

  /** The agent calls and record keeping one migration needs. */
  private io(inp: MigrationInput): MigrationIo {
    const { name } = inp.vm;
    const agentOf = (host: string) => this.agents.forHost(this.state.requireHostUp(host).info);
    const source = () => agentOf(inp.vm.host);
    const target = () => agentOf(inp.to);
    // Aborts and questions go out even to a host marked down (it may only be slow or cut off
    // for a moment); settle.ts decides how long to keep asking.
    const anyAgent = (host: string) => {
      const h = this.state.hosts.get(host);
      if (!h) throw new NotFoundError(`host ${host}`);
      return this.agents.forHost(h.info);
    };
    const cleanupTarget = async (): Promise<void> => {
      for (let attempt = 1; attempt <= CLEANUP_ATTEMPTS && !this.closed; attempt++) {
        try {
          await anyAgent(inp.to).abortMigration(inp.id);
          return;
        } catch (err) {
          log('migration %s: clean-up at the target %s (attempt %d): %s', inp.id, inp.to, attempt, (err as Error).message);
          if (!unanswered(err)) return;
          await sleep(CLEANUP_RETRY_MS, undefined, { ref: false });
        }
      }
    };
    return {
      measure: async (signal) => source().measure({ vm: name, targetHost: inp.to, targetDataUrl: inp.targetDataUrl }, signal),
      incoming: async (req, signal) => target().incoming(req, signal),
      outgoing: async (req, signal) => source().outgoing(req, signal),
      sourceProgress: async (signal) => source().migration(inp.id, signal),
      targetProgress: async (signal) => anyAgent(inp.to).migration(inp.id, signal),
      targetHoldsVm: async () => {
        try {
          return (await anyAgent(inp.to).get(name)).uuid === inp.vm.uuid;
        } catch (err) {
          if (err instanceof FerryError && err.code === 'NOT_FOUND') return false;
          throw err;
        }
      },
      commitTarget: async (signal) => anyAgent(inp.to).commitMigration(inp.id, signal),
      commitSource: async () => source().commitMigration(inp.id),
      abortTarget: async () => anyAgent(inp.to).abortMigration(inp.id),
      abortSource: async (targetGone) => anyAgent(inp.vm.host).abortMigration(inp.id, { targetGone }),
      cleanupTarget: () => void cleanupTarget(),
      pause: async (ms) => sleep(ms, undefined, { signal: this.closing.signal, ref: false }).catch(() => {
        throw this.closing.signal.reason as Error;
      }),
      waiting: (what) => log('migration %s: %s', inp.id, what),
      activate: async () => {
        const site = this.state.hosts.get(inp.to)?.info.site ?? inp.vm.site;
        this.state.updateVm(name, { host: inp.to, site, error: undefined }, 'migrated');
        const st = await target().get(name).catch(() => undefined);
        if (st) this.state.applyStatus(st);
        this.moves.endSwitch(name);
        log('VM %s now runs on %s (migration %s)', name, inp.to, inp.id);
      },
      save: (r) => {
        // From stop-and-copy on, the source may be paused: service endpoints hold new clients.
        if (SWITCH_STEPS.has(r.step)) this.moves.beginSwitch(name);
        this.records.save(r);
        if (r.outcome !== 'running') this.events?.ended(r);
      },
      live: (r, l) => this.events?.live(r, l),
      console: async (side) => (side === 'source' ? source() : target()).console(name, CONSOLE_TAIL_BYTES),
      log,
    };
  }
}
