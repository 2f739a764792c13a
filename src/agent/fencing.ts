// The agent's side of fencing: it feeds the host's fence guard (src/agent/fence/) and passes on
// what the guard saw. The guard, a process of its own, decides and kills; the agent only
// - renews the lease with every heartbeat reply (HeartbeatReply.fence): it writes feed.json with
//   the leased VMs' uuids and QEMU pids and the moment the lease ends on CLOCK_MONOTONIC (the
//   reply's arrival + leaseMs), and the cluster's peer guards (HeartbeatReply.peers);
// - reports the guard in its heartbeat (AgentHeartbeat.guard: whom it heard, what it fenced) and
//   marks the VMs the guard fenced `stopped` with the reason;
// - kills on sight the stale copies the controller names (HeartbeatReply.kill): VMs that run on
//   another host now, found here when this host came back from being cut off;
// - starts the guard if none runs (at start and, if it died, with a later heartbeat).
// Nothing here stops a VM when the agent stops: the guard keeps the host's lease meanwhile.
import type { GuardReport, HeartbeatReply, StaleCopy } from '../contracts/index.js';
import { monoNowMs } from './fence/clock.js';
import { fencePaths, readJson, writeJsonAtomic, type Feed, type FeedVm, type GuardStatus } from './fence/files.js';
import { ensureGuard, guardPid, storedGuardSecret, type GuardSpawnOptions } from './fence/spawn.js';
import { log } from './log.js';
import type { VmManager } from './manager.js';
import { killPid } from './proc.js';

/** A guard status older than this is not believed: the guard may hang. */
const STATUS_FRESH_MS = 2000;
const RESPAWN_EVERY_MS = 5000;

export class FenceFeeder {
  readonly #paths;
  #cluster: Feed['cluster'];
  #lastEnsure = -Infinity;
  /** Fenced records already applied to the VMs (vm@atMs). */
  readonly #applied = new Set<string>();

  /** The guards' key: from the controller's replies (HeartbeatReply.fenceKey), kept in the fence dir for the next start. */
  #secret: string | undefined;

  constructor(
    private readonly mgr: VmManager,
    private readonly o: Omit<GuardSpawnOptions, 'secret'> & { secret?: string },
  ) {
    this.#paths = fencePaths(o.dataDir);
    this.#secret = o.secret ?? storedGuardSecret(o.dataDir);
    this.#cluster = readJson<Feed>(this.#paths.feed)?.cluster;
    this.#ensure();
  }

  /** A heartbeat reply arrived: feed the guard its lease and peers, kill what runs elsewhere now. */
  renew(reply: Partial<HeartbeatReply>, arrivedAtMs = monoNowMs()): void {
    if (reply.peers) this.#cluster = reply.peers;
    if (reply.fenceKey && reply.fenceKey !== this.#secret) {
      this.#secret = reply.fenceKey;
      this.#lastEnsure = -Infinity;
      this.#ensure();
    }
    const vms = (reply.fence?.vms ?? []).flatMap((name): FeedVm[] => {
      const vm = this.mgr.vms.get(name);
      return vm ? [{ name, uuid: vm.rec.spec.uuid, ...(vm.rec.pid !== undefined ? { pid: vm.rec.pid } : {}) }] : [];
    });
    const feed: Feed = {
      host: this.o.host, fedAtMs: arrivedAtMs,
      ...(reply.fence && vms.length > 0 ? { lease: { expiresAtMs: arrivedAtMs + reply.fence.leaseMs, leaseMs: reply.fence.leaseMs, vms } } : {}),
      ...(this.#cluster ? { cluster: this.#cluster } : {}),
    };
    try {
      writeJsonAtomic(this.#paths.feed, feed);
    } catch (err) {
      log('fencing: cannot feed the guard (%s): it will fence when the lease it has runs out', (err as Error).message);
    }
    for (const k of reply.kill ?? []) this.#killStale(k);
  }

  /** The guard for the heartbeat (undefined: no guard runs); applies what it fenced. */
  report(): GuardReport | undefined {
    this.#ensure();
    const now = monoNowMs();
    const st = readJson<GuardStatus>(this.#paths.status);
    const pid = guardPid(this.o.dataDir);
    if (!st || pid === undefined || st.pid !== pid || now - st.writtenAtMs > STATUS_FRESH_MS) {
      return pid === undefined ? undefined : { state: 'unknown', contacts: [], fenced: [] };
    }
    this.#applyFenced(st);
    const ago = (at: number): number => Math.max(0, Math.round(now - at));
    return {
      state: 'running', url: st.url,
      contacts: st.contacts.map((c) => ({ host: c.host, agoMs: ago(c.atMs), ...(c.self ? { self: c.self } : {}) })),
      fenced: st.fenced.map((f) => ({ vm: f.vm, uuid: f.uuid, agoMs: ago(f.atMs) })),
    };
  }

  #ensure(): void {
    const now = monoNowMs();
    if (this.#secret === undefined || now - this.#lastEnsure < RESPAWN_EVERY_MS) return;
    this.#lastEnsure = now;
    try {
      ensureGuard({ ...this.o, secret: this.#secret });
    } catch (err) {
      log('fencing: cannot start the fence guard: %s', (err as Error).message);
    }
  }

  /** The guard killed these VMs' QEMU: say so on the VM, once per fencing. */
  #applyFenced(st: GuardStatus): void {
    for (const f of st.fenced) {
      const key = `${f.vm}@${f.atMs}`;
      if (this.#applied.has(key)) continue;
      const vm = this.mgr.vms.get(f.vm);
      if (!vm || vm.rec.spec.uuid !== f.uuid || vm.pidAlive) continue;
      this.#applied.add(key);
      vm.setState('stopped', 'fenced: this host lost its lease and reached no quorum of its peers, so its guard killed the VM before anything could start it elsewhere');
    }
  }

  #killStale(k: StaleCopy): void {
    const vm = this.mgr.vms.get(k.vm);
    if (!vm || vm.rec.spec.uuid !== k.uuid) return;
    const pid = vm.rec.pid;
    if (pid !== undefined && vm.pidAlive) {
      log('killing vm %s on sight (pid %d): %s', k.vm, pid, k.reason);
      killPid(pid, 'SIGKILL');
    }
    if (vm.rec.state !== 'stopped') vm.setState('stopped', `killed on sight: ${k.reason}`);
  }
}
