// The migration drivers' own failures, one class each, with the contract code callers match on
// (src/contracts/errors.ts). QEMU's failures come as ../errors.ts's classes.
import { FerryError } from '../../contracts/index.js';

/** A disk mirror job ended although we did not end it (its NBD connection to the target broke, an I/O error…). */
export class MirrorJobError extends FerryError {
  constructor(readonly job: string, desc: string) {
    super('QEMU_FAILED', `disk mirror ${job}: ${desc}`);
    this.name = 'MirrorJobError';
  }
}
