// Decoded ferry-wire frames. `channel` is the header's channel; control frames use 0.
import type { CodecName } from './constants.js';

export type SessionKind = 'migration' | 'probe' | 'replication';
export type TransferMode = 'passthrough' | 'chunked';

/** The opener's introduction (JSON in HELLO; magic and version travel in binary before it). */
export interface Hello {
  kind: SessionKind;
  /** Correlates the session with a migration/replication id; 1..128 chars. */
  sessionId: string;
  /** Free-form role of the opener, e.g. `source`. */
  role: string;
  capabilities: string[];
  /** Filled in by openSession from its options; the acceptor's decision wins (see HelloAck). */
  mode?: TransferMode;
  meta?: Record<string, unknown>;
}

export interface HelloAck {
  mode: TransferMode;
  capabilities: string[];
}

export interface ManifestEntry {
  id: Buffer; // 32 bytes, SHA-256 of the uncompressed content
  length: number;
  zero: boolean;
}

interface Base {
  channel: number;
}
export type Frame =
  | (Base & { type: 'HELLO'; version: number; hello: Hello })
  | (Base & { type: 'HELLO_ACK'; version: number; ack: HelloAck })
  | (Base & { type: 'DATA'; data: Buffer })
  | (Base & { type: 'MANIFEST'; round: number; entries: ManifestEntry[] })
  | (Base & { type: 'WANT'; round: number; indices: number[] })
  | (Base & { type: 'CHUNK'; round: number; index: number; codec: CodecName; id: Buffer; body: Buffer })
  | (Base & { type: 'ACK'; round: number; chunks: number; bytes: number })
  | (Base & { type: 'DONE' })
  | (Base & { type: 'ERROR'; code: string; message: string })
  | (Base & { type: 'PING' | 'PONG'; seq: number; time: number })
  | (Base & { type: 'CLOSE' })
  | (Base & { type: 'WINDOW'; increment: number });

export type FrameOf<T extends Frame['type']> = Extract<Frame, { type: T }>;
