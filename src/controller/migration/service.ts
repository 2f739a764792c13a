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
import { measureAndPlan, runMigration, type MigrationInput, type MigrationIo } from './orchestrator.js';
import { DEFAULT_MAX_DOWNTIME_MS } from './planner.js';
import { zeroLossMigrateRefusal } from '../dr/zero-loss.js';

const log = createLog('ferry:controller:migration');

/** A dry run answers synchronously; measuring takes a dirty-rate sample and a link probe. */
const DRY_RUN_TIMEOUT_MS = 60_000;
const CONSOLE_TAIL_BYTES = 2048;
/** Background retries of an abort that did not reach an agent: every 5 s for 3 minutes. */
const ABORT_ATTEMPTS = 36;
const ABORT_RETRY_MS = 5000;
/** How long a failing migration task waits for each side's first abort attempt. */
const FIRST_ABORT_WAIT_MS = 20_000;

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

  private closed = false;
  /** `migration` events for the console: live progress, then the end. */
  private readonly events: MigrationEvents | undefined;

  /** Stops background abort retries (the controller is shutting down). */
  close(): void {
    this.closed = true;
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
    const agentOf = (host: string) => this.agents.forUrl(this.state.requireHostUp(host).info.url);
    const source = () => agentOf(inp.vm.host);
    const target = () => agentOf(inp.to);
    // Aborts go out even to a host marked down (it may only be slow or cut off for a moment),
    // and a failed one is retried in the background until it lands: an agent that never hears
    // the abort would keep a half-received VM that blocks the next migration of the same name.
    const anyAgent = (host: string) => {
      const h = this.state.hosts.get(host);
      if (!h) throw new NotFoundError(`host ${host}`);
      return this.agents.forUrl(h.info.url);
    };
    const abortOn = async (side: string, host: string): Promise<void> => {
      for (let attempt = 1; ; attempt++) {
        try {
          await anyAgent(host).abortMigration(inp.id);
          if (attempt > 1) log('migration %s: abort on %s landed (attempt %d)', inp.id, side, attempt);
          return;
        } catch (err) {
          log('migration %s: abort on %s failed (attempt %d): %s', inp.id, side, attempt, (err as Error).message);
          // Only an agent we could not reach is worth asking again; any answer is final.
          const unreachable = err instanceof FerryError && (err.code === 'HOST_DOWN' || err.code === 'TIMEOUT');
          if (!unreachable || attempt >= ABORT_ATTEMPTS || this.closed) return;
          await sleep(ABORT_RETRY_MS, undefined, { ref: false });
        }
      }
    };
    return {
      measure: async (signal) => source().measure({ vm: name, targetHost: inp.to, targetDataUrl: inp.targetDataUrl }, signal),
      incoming: async (req, signal) => target().incoming(req, signal),
      outgoing: async (req, signal) => source().outgoing(req, signal),
      sourceProgress: async (signal) => source().migration(inp.id, signal),
      targetProgress: async (signal) => target().migration(inp.id, signal),
      commitTarget: async (signal) => target().commitMigration(inp.id, signal),
      commitSource: async () => source().commitMigration(inp.id),
      abortBoth: async () => {
        // Wait at most FIRST_ABORT_WAIT_MS per side; further retries go on in the background.
        const first = (side: string, host: string) => Promise.race([abortOn(side, host), sleep(FIRST_ABORT_WAIT_MS, undefined, { ref: false })]);
        await Promise.all([first(`source ${inp.vm.host}`, inp.vm.host), first(`target ${inp.to}`, inp.to)]);
      },
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
