// What each host's fence guard hears of the others (AgentHeartbeat.guard), kept so that high
// availability can tell a host that is cut off from one whose agent merely stopped talking.
// A guard that still hears a silent host proves it is not cut off: its guard keeps its VMs
// running, so nothing may start them elsewhere. Hosts that do not hear it for long enough, in
// a number the silent host cannot reach a quorum without, prove the opposite (decideHa in
// dr/ha.ts does that arithmetic). In memory, on the controller's monotonic clock: after a
// controller restart or stall nobody testifies until they have reported again.
import type { AgentHeartbeat, GuardPeers, GuardSelf } from '../contracts/index.js';

/** One other host as a witness of `host`. */
export interface Witness {
  host: string;
  /** Its report is recent (it heartbeats now, and did so since the controller's last stall). */
  fresh: boolean;
  /** `none`: no guard runs there, so nobody reached it; `unknown`: its guard cannot vouch. */
  guard: 'running' | 'unknown' | 'none';
  /** When it last heard `host`'s guard (controller monotonic ms, an upper estimate). */
  heardAt?: number;
  /** What `host`'s guard said about its host with that contact. */
  self?: GuardSelf;
}

export interface HostEvidence {
  /** Hosts in the cluster, `host` included. */
  hosts: number;
  witnesses: Witness[];
  /** When the host's agent last heartbeat (controller monotonic ms), if since the controller started. */
  agentLastSeenAt?: number;
}

interface View {
  at: number;
  guard: Witness['guard'];
  heard: Map<string, { at: number; self?: GuardSelf }>;
}

export class WitnessBook {
  readonly #views = new Map<string, View>();
  readonly #urls = new Map<string, string>();

  /** A heartbeat from `host` arrived at `now`: what its guard heard, ages turned into times. */
  note(hb: AgentHeartbeat, now: number): void {
    const g = hb.guard;
    if (g?.url) this.#urls.set(hb.host.name, g.url);
    // An age measured before the reply was sent makes the contact look later than it was: the safe side.
    const heard = new Map((g?.state === 'running' ? g.contacts : []).map((c) => [c.host, { at: now - c.agoMs, ...(c.self ? { self: c.self } : {}) }]));
    this.#views.set(hb.host.name, { at: now, guard: g ? g.state : 'none', heard });
  }

  /** Forget every report (after the controller stalled: they are all of before). */
  forgetReports(): void {
    this.#views.clear();
  }

  /** The peer guards `host`'s guard should ping. */
  peersOf(host: string, allHosts: readonly string[]): GuardPeers {
    return { hosts: allHosts.length, guards: [...this.#urls].filter(([h]) => h !== host && allHosts.includes(h)).map(([h, url]) => ({ host: h, url })) };
  }

  /** Every other host as a witness of `host`; `isUp` and `freshMs` decide whose report counts. */
  evidence(host: string, allHosts: readonly string[], now: number, freshMs: number, isUp: (h: string) => boolean, agentLastSeenAt?: number): HostEvidence {
    const witnesses = allHosts.filter((h) => h !== host).map((h): Witness => {
      const v = this.#views.get(h);
      if (!v) return { host: h, fresh: false, guard: 'unknown' };
      const heard = v.heard.get(host);
      return {
        host: h, fresh: isUp(h) && now - v.at < freshMs, guard: v.guard,
        ...(heard ? { heardAt: heard.at, ...(heard.self ? { self: heard.self } : {}) } : {}),
      };
    });
    return { hosts: allHosts.length, witnesses, ...(agentLastSeenAt !== undefined ? { agentLastSeenAt } : {}) };
  }
}
