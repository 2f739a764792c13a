// The migration drivers' own failures, one class each, with the contract code callers match on
// (src/contracts/errors.ts). QEMU's failures come as ../errors.ts's classes.
import { FerryError, isFailureCode, type FailureCode } from '../../contracts/index.js';

/** A disk mirror job ended although we did not end it (its NBD connection to the target broke, an I/O error…). */
export class MirrorJobError extends FerryError {
  constructor(readonly job: string, desc: string) {
    super('QEMU_FAILED', `disk mirror ${job}: ${desc}`);
    this.name = 'MirrorJobError';
  }
}

/** The declared code `err` carries (a FerryError's, ferry-wire's WIRE_*), or `fallback` (a socket's ECONNRESET, a plain Error). */
export function codeOr(err: unknown, fallback: FailureCode): FailureCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isFailureCode(code) ? code : fallback;
}
