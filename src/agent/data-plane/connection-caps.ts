// How many data-plane connections one peer host, and all peers together, may hold at once. A
// host's certificate lets it open sessions, not exhaust this host: past the cap a connection is
// refused (WIRE_LIMIT) at its HELLO. Legitimate use is far below: a migration or a checkpoint
// is one session, a probe another.
export interface ConnectionLimits {
  /** Connections from one peer host (certificate CN). */
  perPeer: number;
  /** Connections in total, before TLS as well (net.Server maxConnections). */
  total: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = { perPeer: 32, total: 256 };

export class ConnectionCaps {
  readonly #perPeer = new Map<string, number>();

  constructor(readonly limits: ConnectionLimits) {}

  /** Counts a connection from `peer`; returns its release (idempotent), or undefined when over the cap. */
  admit(peer: string): (() => void) | undefined {
    const n = this.#perPeer.get(peer) ?? 0;
    if (n >= this.limits.perPeer) return undefined;
    this.#perPeer.set(peer, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#perPeer.get(peer) ?? 1) - 1;
      if (left > 0) this.#perPeer.set(peer, left);
      else this.#perPeer.delete(peer);
    };
  }

  count(peer: string): number {
    return this.#perPeer.get(peer) ?? 0;
  }
}
