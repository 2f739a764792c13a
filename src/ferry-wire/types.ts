// Public types of a ferry-wire session.
import type { Duplex } from 'node:stream';
import type { Hello, TransferMode } from './frames.js';

/** Where a receiver finds chunks it already holds (replication plugs a disk store in here). */
export interface ChunkStore {
  hasChunk(id: Buffer): boolean | Promise<boolean>;
  getChunk(id: Buffer): Buffer | undefined | Promise<Buffer | undefined>;
}

export interface SessionOptions {
  mode: TransferMode;
  /** Cap on bytes per second written to the socket (all frames). */
  bandwidthBytesPerSec?: number;
  /** Default 1000. */
  pingIntervalMs?: number;
  /** Unanswered pings before the session fails with WIRE_PEER_SILENT; default 5. */
  missedPingsLimit?: number;
  /** Chunked mode: chunk size (default 64 KiB, at most 1 MiB). */
  chunkBytes?: number;
  signal?: AbortSignal;
  /**
   * Channels the peer may open by sending on them: 0..peerChannels-1 (default 1: channel 0 only;
   * at most MAX_SESSION_CHANNELS). A frame on any other channel this side did not open fails the session.
   */
  peerChannels?: number;
  /** Receiver: chunks held before the session started. */
  store?: ChunkStore;
}

export interface WireStats {
  wireBytesOut: number;
  wireBytesIn: number;
  /** Channel bytes written by us / delivered to us (before chunking and compression). */
  payloadBytesOut: number;
  payloadBytesIn: number;
  chunksSent: number;
  /** Chunks listed in a manifest the peer already held, so never sent. */
  chunksDeduped: number;
  zeroChunks: number;
  compressedChunks: number;
}

export interface WireSession {
  readonly hello: Hello;
  readonly mode: TransferMode;
  readonly stats: Readonly<WireStats>;
  /**
   * A Duplex per channel: what you write arrives on the peer's channel of the same number.
   * Channel 0 carries QEMU's stream forward (opener → acceptor) and its return path back.
   * Backpressure holds end to end; errors are emitted when the session fails, so attach a listener.
   */
  channel(n: number): Duplex;
  /** Round-trip time of one PING, in ms. */
  ping(): Promise<number>;
  /** Ends our channels, waits until all chunks are acknowledged, exchanges DONE, ends the socket. Idempotent. */
  close(): Promise<void>;
  /** Aborts: errors every channel, rejects `closed`, tells the peer (ERROR) when it can. Idempotent. */
  destroy(err?: Error): void;
  /** Resolves after a clean DONE exchange; rejects with the cause otherwise. */
  readonly closed: Promise<void>;
}
