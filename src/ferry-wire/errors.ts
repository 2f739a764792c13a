// ferry-wire errors: one class, a stable `code` callers match on, and a `cause`.
// Codes a peer sends in an ERROR frame that are Ferry API codes come back as FerryError.
import { FerryError, isErrorCode, WIRE_ERROR_CODES, type WireErrorCode } from '../contracts/errors.js';

export { WIRE_ERROR_CODES, type WireErrorCode } from '../contracts/errors.js';

export class WireError extends Error {
  readonly code: WireErrorCode;
  constructor(code: WireErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WireError';
    this.code = code;
  }
}

/** The code to put in an ERROR frame for a local failure. */
export function errorCodeOf(err: unknown): string {
  if (err instanceof WireError || err instanceof FerryError) return err.code;
  return 'INTERNAL';
}

/** Turns a peer's ERROR frame back into an error: Ferry codes as FerryError, the rest as WireError. */
export function remoteError(code: string, message: string): Error {
  if (isErrorCode(code)) return new FerryError(code, message);
  if ((WIRE_ERROR_CODES as readonly string[]).includes(code)) return new WireError(code as WireErrorCode, `peer: ${message}`);
  return new WireError('WIRE_REMOTE', `peer ${code}: ${message}`);
}
