// Public surface of ferry-wire (spec: docs/ferry-wire.md). Everything else here is internal.
export { openSession, acceptSession, type HelloInit } from './handshake.js';
export { measureLink, type LinkMeasurement } from './probe.js';
export { WireError, WIRE_ERROR_CODES, type WireErrorCode } from './errors.js';
export type { Hello, HelloAck, SessionKind, TransferMode } from './frames.js';
export type { ChunkStore, SessionOptions, WireSession, WireStats } from './types.js';
export { CHANNEL_MAIN, CHANNEL_PROBE, MAX_FRAME_PAYLOAD, MAX_CHUNK_BYTES, MAX_MANIFEST_ENTRIES, PROTOCOL_VERSION } from './constants.js';
export { chunkId } from './codecs.js';
