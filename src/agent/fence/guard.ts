// The fence guard: one small process per host that outlives its agent (spawn.ts starts it
// detached; a restarted agent finds it again by its pid file). The agent feeds it the lease
// with every heartbeat reply (feed.json, like petting a watchdog — Proxmox's watchdog-mux is fed
// by its LRM the same way); the guard, not the agent, decides when the host must fence itself
// (decide.ts) and then SIGKILLs every leased QEMU at once. So a dead, stopped or hung agent
// can neither stop a VM it should keep nor keep one it must stop.
//
// It also pings its peer guards (peer-link.ts): a host that reaches a quorum of them (or their
// hosts, when a guard is stopped or hung) is not cut off and keeps its VMs after the lease has run out — the controller, which asks the same peers,
// restarts nothing of a host some peer still hears. What it heard from each peer (and what that
// peer said about its own host) goes into status.json, which the agent passes on in its
// heartbeat: a peer that still hears a host whose agent is dead is how the controller learns
// "agent down, VMs alive" — or "agent down, VM gone".
import { existsSync, readFileSync } from 'node:fs';
import { GUARD_PING_TIMEOUT_MS, GUARD_WINDOW_MS, type AgentLiveness, type GuardSelf, type GuardVm } from '../../contracts/index.js';
import { warnRateLimited } from '../log.js';
import { readProcStat } from '../proc.js';
import { monoNowMs } from './clock.js';
import { assertTransition, decideGuard, type GuardState, type GuardTiming } from './decide.js';
import { ensureFenceDir, readJson, writeJsonAtomic, type Contact, type Feed, type FencePaths, type GuardPidFile, type GuardStatus } from './files.js';
import { PeerLink } from './peer-link.js';
import { isHostQemu, killAllNow, scanHostQemus, waitAllGone } from './qemu-procs.js';

/** The guard's timing; the controller's margins (controller/dr/ha.ts) are derived from it. */
export const GUARD_TIMING: GuardTiming = { windowMs: GUARD_WINDOW_MS, aheadMs: 500 };
export const PING_EVERY_MS = 500;
const TICK_MS = 100;
const STATUS_EVERY_MS = 250;
const KILL_WAIT_MS = 5000;
const FENCED_KEPT = 64;

export interface GuardOptions {
  dataDir: string;
  host: string;
  listenHost: string;
  port?: number;
  secret: string;
  /** Honour the fault-link-down test hook (FERRY_FAULT_HOOKS=1). */
  faultHooks?: boolean;
  timing?: GuardTiming;
}

const say = (format: string, ...args: unknown[]): void => warnRateLimited('ferry:fence-guard', format, 0, format, ...args);

export class FenceGuard {
  #state: GuardState = 'idle';
  #fencedLeaseEndsAt: number | undefined;
  #feed: Feed | undefined;
  #lastStatusAt = -Infinity;
  #timers: NodeJS.Timeout[] = [];
  #closed = false;
  readonly #contacts = new Map<string, Contact>();
  readonly #fenced: GuardStatus['fenced'] = [];
  readonly #paths: FencePaths;
  readonly #link: PeerLink;
  readonly #timing: GuardTiming;
  /** Called when the guard must end (another guard took over, or the data dir is gone). */
  onExit: (() => void) | undefined;

  constructor(private readonly o: GuardOptions) {
    this.#paths = ensureFenceDir(o.dataDir);
    this.#timing = o.timing ?? GUARD_TIMING;
    this.#link = new PeerLink({
      host: o.host, secret: o.secret, listenHost: o.listenHost, ...(o.port !== undefined ? { port: o.port } : {}),
      onPing: (from, self) => this.#contacts.set(from, { host: from, atMs: monoNowMs(), self }),
      cut: () => this.#cut(),
    });
  }

  get state(): GuardState {
    return this.#state;
  }

  async start(): Promise<string> {
    const url = await this.#link.listen();
    writeJsonAtomic(this.#paths.guard, { pid: process.pid, host: this.o.host, url } satisfies GuardPidFile);
    this.tick();
    this.#timers.push(setInterval(() => this.tick(), TICK_MS), setInterval(() => void this.pingAll(), PING_EVERY_MS));
    say('fence guard of host %s (pid %d) listening on %s; state %s', this.o.host, process.pid, url, this.#state);
    return url;
  }

  /** One decision: read the feed, move to the state decide.ts names, fence if it says so. */
  tick(): void {
    if (this.#closed) return;
    if (this.#replaced()) return this.#exit();
    if (this.o.faultHooks) void this.#link.applyCut(this.#cut());
    this.#feed = readJson<Feed>(this.#paths.feed) ?? this.#feed;
    const now = monoNowMs();
    const lease = this.#feed?.lease;
    const next = decideGuard({
      state: this.#state, now, contacts: [...this.#contacts.values()].map((c) => c.atMs), hosts: this.#feed?.cluster?.hosts ?? 1, timing: this.#timing,
      ...(lease ? { lease: { expiresAtMs: lease.expiresAtMs, vms: lease.vms.length } } : {}),
      ...(this.#fencedLeaseEndsAt !== undefined ? { fencedLeaseEndsAt: this.#fencedLeaseEndsAt } : {}),
    });
    const entering = next === 'fencing' && this.#state !== 'fencing';
    if (next !== this.#state) this.#move(next, now);
    if (entering && lease) this.#fence(lease, now);
    if (now - this.#lastStatusAt >= STATUS_EVERY_MS) this.#writeStatus(now);
  }

  /** Pings every peer guard the feed names; each ping that gets through is a contact. */
  async pingAll(): Promise<void> {
    const peers = (this.#feed?.cluster?.guards ?? []).filter((g) => g.host !== this.o.host);
    if (peers.length === 0) return;
    const self = this.selfReport();
    await Promise.all(peers.map(async (p) => {
      if (await this.#link.ping(p.host, p.url, self, GUARD_PING_TIMEOUT_MS)) {
        const prev = this.#contacts.get(p.host);
        this.#contacts.set(p.host, { host: p.host, atMs: monoNowMs(), ...(prev?.self ? { self: prev.self } : {}) });
      } else if (await this.#link.reachable(p.url, GUARD_PING_TIMEOUT_MS)) {
        // Its host answers, its guard does not (stopped, hung): not cut off, and what it last
        // said about its VMs may be out of date, so it is not passed on.
        this.#contacts.set(p.host, { host: p.host, atMs: monoNowMs() });
      }
    }));
  }

  /** What this guard tells its peers: is the agent alive, does each leased VM's QEMU run here. */
  selfReport(): GuardSelf {
    const vms = this.#feed?.lease?.vms ?? [];
    let scan: Map<string, number[]> | undefined;
    const out: GuardVm[] = vms.map((v) => {
      if (v.pid !== undefined && isHostQemu(this.o.dataDir, v.pid, v.uuid)) return { name: v.name, uuid: v.uuid, running: true };
      scan ??= scanHostQemus(this.o.dataDir, new Set(vms.map((x) => x.uuid)));
      return { name: v.name, uuid: v.uuid, running: (scan.get(v.uuid)?.length ?? 0) > 0 };
    });
    return { agent: this.#agentLiveness(), vms: out };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#link.close();
  }

  #move(next: GuardState, now: number): void {
    assertTransition(this.#state, next);
    const lease = this.#feed?.lease;
    const left = lease ? Math.round(lease.expiresAtMs - now) : 0;
    if (next === 'holding') say('lease %s, but this host reaches %d peer guard(s): not cut off, keeping its VMs', left > 0 ? `ends in ${left} ms` : `ran out ${-left} ms ago`, this.#recentContacts(now));
    else if (next === 'leased' && this.#state !== 'idle') say('lease renewed (%d ms left)', left);
    else if (next !== 'fencing') say('state %s -> %s', this.#state, next);
    this.#state = next;
  }

  /** SIGKILL every leased QEMU at once (no graceful quit: the lease is ending), then note it. */
  #fence(lease: NonNullable<Feed['lease']>, now: number): void {
    const found = scanHostQemus(this.o.dataDir, new Set(lease.vms.map((v) => v.uuid)));
    const hinted = lease.vms.flatMap((v) => (v.pid !== undefined && isHostQemu(this.o.dataDir, v.pid, v.uuid) ? [v.pid] : []));
    const pids = [...new Set([...[...found.values()].flat(), ...hinted])];
    const killed = killAllNow(pids);
    const left = Math.round(lease.expiresAtMs - now);
    say('FENCING: the lease %s and this host reaches no quorum of peers (%d heard lately): SIGKILLed %d QEMU(s) of %s', left > 0 ? `ends in ${left} ms` : `ran out ${-left} ms ago`, this.#recentContacts(now), killed.length, lease.vms.map((v) => v.name).join(', '));
    for (const v of lease.vms) this.#fenced.push({ vm: v.name, uuid: v.uuid, atMs: now });
    this.#fenced.splice(0, Math.max(0, this.#fenced.length - FENCED_KEPT));
    this.#fencedLeaseEndsAt = lease.expiresAtMs;
    this.#writeStatus(now);
    void waitAllGone(killed, KILL_WAIT_MS).then((gone) => {
      if (!gone) say('FENCING: some QEMU of %s survived SIGKILL for %d ms', lease.vms.map((v) => v.name).join(', '), KILL_WAIT_MS);
      if (this.#closed) return;
      this.#move('fenced', monoNowMs());
      this.#writeStatus(monoNowMs());
    });
  }

  #recentContacts(now: number): number {
    return [...this.#contacts.values()].filter((c) => now - c.atMs < this.#timing.windowMs).length;
  }

  #writeStatus(now: number): void {
    this.#lastStatusAt = now;
    const status: GuardStatus = {
      pid: process.pid, host: this.o.host, url: this.#link.url, state: this.#state, writtenAtMs: now,
      contacts: [...this.#contacts.values()], fenced: this.#fenced,
    };
    try {
      writeJsonAtomic(this.#paths.status, status);
    } catch (err) {
      warnRateLimited('ferry:fence-guard', 'status', 30_000, 'cannot write %s: %s', this.#paths.status, (err as Error).message);
    }
  }

  #agentLiveness(): AgentLiveness {
    const pid = readJson<{ pid?: number }>(`${this.o.dataDir}/agent.json`)?.pid;
    const st = pid !== undefined ? readProcStat(pid) : undefined;
    if (!st || st.state === 'Z' || st.state === 'X') return 'gone';
    return st.state === 'T' || st.state === 't' ? 'stopped' : 'running';
  }

  /** Another guard owns this data dir now, or the data dir is gone (e.g. a test cleaned up). */
  #replaced(): boolean {
    if (!existsSync(this.#paths.dir)) return true;
    const owner = readJson<GuardPidFile>(this.#paths.guard);
    return owner !== undefined && owner.pid !== process.pid;
  }

  #cut(): boolean {
    return this.o.faultHooks === true && existsSync(this.#paths.faultLinkDown);
  }

  #exit(): void {
    say('fence guard of host %s: data dir gone or taken over by another guard; exiting', this.o.host);
    void this.close().then(() => this.onExit?.());
  }
}

/** The cluster secret as the agent left it for its guard. */
export function readGuardSecret(paths: FencePaths): string {
  return readFileSync(paths.secret, 'utf8').trim();
}
