// The DR site's content-addressed chunk store: the public surface. Design: chunk-store.ts.
export { ChunkStore, DEFAULT_RESERVE_BYTES, type ChunkStoreOptions } from './chunk-store.js';
export type { Staging } from './staging.js';
export type { ChunkId, CheckpointFile, CheckpointManifest, CommittedCheckpoint } from './manifest.js';
export { StoreError, type StoreErrorCode } from './errors.js';
