// ferry-wire errors: one class, a stable `code` callers match on, and a `cause`.
// Codes a peer sends in an ERROR frame that are Ferry API codes come back as FerryError.
import { FerryError, isErrorCode } from '../errors.js';

export const WIRE_ERROR_CODES = [
  'WIRE_PROTOCOL', // malformed frame, unknown type, bad magic/version, unexpected frame
  'WIRE_FRAME_TOO_LARGE', // a length above the named limit
  'WIRE_CHECKSUM', // frame CRC mismatch
  'WIRE_CHUNK_CORRUPT', // a chunk whose content does not hash to its id
  'WIRE_PEER_SILENT', // missedPingsLimit pings unanswered
  'WIRE_CONNECTION_LOST', // the socket ended or failed before DONE
  'WIRE_REFUSED', // the acceptor refused the session
  'WIRE_REMOTE', // the peer reported an error
  'WIRE_ABORTED', // the caller's AbortSignal fired, or destroy() without a cause
  'WIRE_TIMEOUT',
] as const;
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

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
