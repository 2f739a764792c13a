// Disaster recovery's own failures, beside the agent's (../errors.ts: QEMU refused, timed out,
// aborted…) and the chunk store's (store/errors.ts). A checkpoint job reports any of them with
// one of the declared failure codes (contracts/errors.ts); failureOf() is the one place that
// decides which.
import { FerryError, failureCodeOf, type FailureCode } from '../../contracts/index.js';
import { STORE_FAILURE_CODES, StoreError } from './store/errors.js';

/** A QEMU block job (the commit of a checkpoint overlay) ended without doing its work. */
export class BlockJobError extends FerryError {
  constructor(
    readonly vm: string,
    readonly job: string,
    why: string,
  ) {
    super('QEMU_FAILED', `vm ${vm}: block job ${job} ${why}`);
    this.name = 'BlockJobError';
  }
}

/** Capturing a checkpoint failed for a reason that has no class of its own (a file the capture needed, say). */
export class CaptureFailedError extends FerryError {
  constructor(vm: string, cause: unknown) {
    super('QEMU_FAILED', `checkpoint of vm ${vm}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'CaptureFailedError';
  }
}

/** Node's codes for a stream or socket that broke under a read or write: the data session failed. */
const STREAM_FAILURES: ReadonlySet<string> = new Set(['ERR_STREAM_DESTROYED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_WRITE_AFTER_END', 'ECONNRESET', 'EPIPE']);

export interface JobFailure {
  code: FailureCode;
  message: string;
}

/** What a checkpoint job reports for `err`: its declared code, the store's mapped, a broken stream as WIRE_FAILED, else INTERNAL. */
export function failureOf(err: unknown): JobFailure {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof StoreError) return { code: STORE_FAILURE_CODES[err.code], message };
  const code = failureCodeOf(err);
  if (code !== 'INTERNAL') return { code, message };
  const broken = err instanceof Error && 'code' in err && typeof err.code === 'string' && STREAM_FAILURES.has(err.code);
  return { code: broken ? 'WIRE_FAILED' : 'INTERNAL', message };
}
