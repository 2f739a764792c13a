// The agent-to-agent data plane as migration (../migration) and DR (../dr) see it: a session
// carries numbered byte channels (a migration puts QEMU's stream on 0 and one NBD connection per
// disk on 1.., ../migration/disk-mirror.ts). The receiving side registers the sessions it expects
// (id + peer host); the sending side opens them. Everything else — TLS, ferry-wire framing,
// bandwidth caps — lives behind this interface (wire-plane.ts), so its users do not change with
// the transport. Joining a channel to QEMU's sockets: relay.ts.
import type { Duplex } from 'node:stream';
import type { ChunkStore } from '../../ferry-wire/index.js';
import type { TlsIdentity } from './tls-identity.js';

export interface DataSession {
  channel(n: number): Duplex;
  /** Bytes this side has sent plus received on the wire so far (framing included). */
  wireBytes(): number;
  /** Graceful end once both sides are done; idempotent. */
  close(): void;
  /** Tears the session down at once; idempotent. */
  destroy(err?: Error): void;
  /** Settles when the session ends; rejects with the cause when it failed. */
  readonly closed: Promise<void>;
}

export interface SessionHello {
  kind: 'migration' | 'probe' | 'replication';
  sessionId: string;
  /** Host name of the opening side (checked against its certificate). */
  sourceHost: string;
}

export interface ConnectOptions {
  mode: 'passthrough' | 'chunked';
  bandwidthBytesPerSec?: number;
  signal?: AbortSignal;
}

export interface ExpectOptions {
  kind?: 'migration' | 'replication';
  store?: ChunkStore;
}

export interface DataPlane {
  /** `ferry-wire://HOST:PORT`, or undefined while the host has no certificate yet. */
  url(): string | undefined;
  /** The address the endpoint listens on (a direct migration's target QEMU listens there too). */
  readonly host: string;
  /** This host's key and certificates (for QEMU's own TLS in direct migrations), once it has them. */
  tlsIdentity(): TlsIdentity | undefined;
  /** True when the plane itself enforces bandwidthBytesPerSec; otherwise QEMU's max-bandwidth must. */
  readonly enforcesBandwidth: boolean;
  /** Source side: opens a session to `url`, whose certificate must name `peerHost`. */
  connect(url: string, peerHost: string, hello: SessionHello, opts: ConnectOptions): Promise<DataSession>;
  /**
   * Target side: accept one session of `kind` (default migration) with this id from `peerHost`;
   * others are refused. A replication session is chunked and skips what `store` holds.
   */
  expect(sessionId: string, peerHost: string, onSession: (s: DataSession) => void, opts?: ExpectOptions): void;
  unexpect(sessionId: string): void;
  /** Link speed and RTT to a peer's endpoint over a probe session. */
  measure(url: string, peerHost: string, opts: { bytes: number; signal?: AbortSignal }): Promise<{ bytesPerSec: number; rttMs: number }>;
  close(): Promise<void>;
}

export function parseDataUrl(url: string): { host: string; port: number } {
  const m = /^ferry-wire:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(url);
  if (!m) throw new Error(`not a ferry-wire URL: ${url}`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}
