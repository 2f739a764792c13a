// The FailoverIo of one failover, DR test or failback task (failover.ts), over the agents and
// the controller's records. `moved` is the switch's point of no return: the VM record follows
// the VM, and the protection turns to failed-over (or, after failback, syncs anew from home).
import type { ImageService } from '../images/service.js';
import type { Protection } from '../../contracts/dr.js';
import type { VmStatus } from '../../contracts/vm-spec.js';
import type { ClusterState } from '../cluster-state.js';
import type { MoveRegistry } from '../cluster/moves.js';
import { log, type DrAgents } from './agent-io.js';
import type { Check } from './checks.js';
import type { Checkpointer } from './checkpointer.js';
import type { FailoverInput, FailoverIo } from './failover.js';
import type { Protections } from './protections.js';
import type { Replicator } from './replicator.js';

export interface SwitchDeps {
  state: ClusterState;
  moves: MoveRegistry;
  calls: DrAgents;
  protections: Protections;
  checkpointer: Checkpointer;
  replicator: Replicator;
  /** Stages the kernel and initrd the VM boots from on the host it is restored on. */
  images?: Pick<ImageService, 'ensureOn'>;
}

export function switchIo(d: SwitchDeps, inp: FailoverInput): FailoverIo {
  const name = inp.vm.name;
  const before = d.protections.row(name).protection;
  return {
    stored: async (host, signal) => d.calls.up(host).drStored(name, signal),
    checkpoint: (from, to, leavePaused, signal, progress) => {
      // The final checkpoint pauses the source: service endpoints hold new clients from here.
      if (leavePaused && inp.kind !== 'test') d.moves.beginSwitch(name);
      return d.checkpointer.run(name, { from, to, atDrSite: inp.kind !== 'failback', leavePaused, ...(progress ? { progress } : {}) }, signal);
    },
    restore: async (host, req, signal) => {
      await d.images?.ensureOn(host, inp.vm.spec, 'boot', signal);
      if (inp.kind !== 'test') d.moves.beginSwitch(name);
      return d.calls.up(host).drRestore(req, signal);
    },
    status: (host, vm) => d.calls.status(host, vm),
    console: (host, vm) => d.calls.console(host, vm),
    health: (host, vm) => d.calls.health(host, vm),
    probe: (host, vm, port) => d.calls.probe(host, vm, port),
    resume: (host, vm) => d.calls.resume(host, vm),
    discard: (host, vm) => d.calls.discard(host, vm),
    moved: (host, st) => moved(d, inp, host, st),
    replication: () => replicationCheck(before, d.protections.repo.get(name)?.protection),
    save: (r) => d.protections.repo.saveReport(r),
    log,
  };
}

function moved(d: SwitchDeps, inp: FailoverInput, host: string, st: VmStatus): void {
  const name = inp.vm.name;
  const site = d.state.hosts.get(host)?.info.site ?? inp.vm.site;
  d.state.updateVm(name, { host, site, error: undefined }, inp.kind === 'failback' ? 'failback' : 'failover');
  d.state.applyStatus(st);
  d.moves.endSwitch(name);
  const now = new Date().toISOString();
  d.protections.change(name, ({ protection, meta }) => {
    const next: Protection = { ...protection, state: inp.kind === 'failback' ? 'syncing' : 'failed-over' };
    delete next.alarm;
    if (inp.kind !== 'failback') return { protection: next, meta: { ...meta, homeHost: inp.from } };
    // Home again: the DR site holds nothing of the VM's life since the failover, so it syncs anew.
    delete next.lastCheckpoint;
    return { protection: next, meta: { syncingSince: now } };
  });
  if (inp.kind === 'failback') d.replicator.forget(name);
  log('VM %s now runs on %s (%s)', name, host, inp.kind);
}

function replicationCheck(before: Protection, now: Protection | undefined): Check {
  const name = 'replication untouched';
  if (!now) return { name, passed: false, detail: 'the protection is gone' };
  const n = now.checkpoints - before.checkpoints;
  return { name, passed: now.state !== 'failed-over', detail: `${n} checkpoint${n === 1 ? '' : 's'} committed during the test; replication is ${now.state}` };
}
