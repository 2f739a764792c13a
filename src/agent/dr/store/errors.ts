// The chunk store's failures, each with a stable `code` the receiver maps onto its job error
// and the agent API onto a wire code. `cause` carries the underlying fs or SQLite error.
import type { FailureCode } from '../../../contracts/errors.js';

export type StoreErrorCode =
  | 'STORE_CHUNK_CORRUPT' // a chunk's bytes do not hash to its id (on arrival, on read, or its file is gone)
  | 'STORE_FULL' // the disk (or the reserve kept for the index) is full; nothing was half-written
  | 'STORE_INCOMPLETE' // a commit names chunks the store does not hold
  | 'STORE_CONFLICT' // that checkpoint (vm, seq) is already committed
  | 'STORE_NOT_FOUND' // no such checkpoint, or no such file in it
  | 'STORE_BAD_MANIFEST'; // a manifest that contradicts itself (chunk count, sizes, ids)

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    opts?: ErrorOptions,
  ) {
    super(message, opts);
  }
}

const FULL_CODES = new Set(['ENOSPC', 'EDQUOT', 'SQLITE_FULL']);

/** True for "no space left" from the filesystem or from SQLite (or STORE_FULL made of one). */
export function isFullError(err: unknown): boolean {
  if (err instanceof StoreError) return err.code === 'STORE_FULL';
  return typeof err === 'object' && err !== null && FULL_CODES.has(String((err as { code?: unknown }).code));
}

/** Turns a no-space error into STORE_FULL; anything else passes through unchanged. */
export function asStoreError(err: unknown, what: string): unknown {
  return isFullError(err) ? new StoreError('STORE_FULL', `${what}: no space left`, { cause: err }) : err;
}

/** The declared failure code (contracts/errors.ts) a checkpoint job reports for each store failure. */
export const STORE_FAILURE_CODES: Readonly<Record<StoreErrorCode, FailureCode>> = {
  STORE_CHUNK_CORRUPT: 'WIRE_CHUNK_CORRUPT', // a chunk that does not hash to its id
  STORE_FULL: 'STORE_FULL',
  STORE_INCOMPLETE: 'INTERNAL',
  STORE_CONFLICT: 'CONFLICT',
  STORE_NOT_FOUND: 'NOT_FOUND',
  STORE_BAD_MANIFEST: 'INVALID_REQUEST',
};
