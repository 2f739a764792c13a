// The error body every Ferry HTTP API (controller and agent) returns, and the codes that
// cross component boundaries. Each component declares its own error classes; these codes are
// the contract callers match on.
import { Type, type Static } from '@sinclair/typebox';

export const ERROR_CODES = [
  'UNAUTHORIZED', // missing or wrong credential
  'FORBIDDEN', // a credential, but not enough for this request (a console change without its CSRF header)
  'RATE_LIMITED', // too many from this client (failed logins, open event streams): wait (retry-after)
  'INVALID_REQUEST', // body/query failed validation; `field` names the bad field
  'NOT_FOUND', // no such VM, host or task
  'CONFLICT', // e.g. a VM with that name exists
  'INVALID_STATE', // the VM's state forbids the action (pause a stopped VM)
  'NO_CAPACITY', // placement found no host with enough free memory/CPU
  'BUSY', // the server is at a limit of its own (event streams): try again later
  'HOST_DOWN', // the host that owns the VM is not answering
  'QEMU_FAILED', // QEMU refused or failed; message carries QEMU's own words
  'TIMEOUT',
  'ABORTED',
  'INTERNAL',
  'NOT_LEADER', // a standby controller, or one whose leadership ended: ask the leader (x-ferry-leader names it when known)
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** ferry-wire's codes (src/ferry-wire/errors.ts raises them); declared here so every seam can name them. */
export const WIRE_ERROR_CODES = [
  'WIRE_PROTOCOL', // malformed frame, unknown type, bad magic/version, unexpected frame
  'WIRE_FRAME_TOO_LARGE', // a length above the named limit
  'WIRE_CHECKSUM', // frame CRC mismatch
  'WIRE_CHUNK_CORRUPT', // a chunk whose content does not hash to its id
  'WIRE_PEER_SILENT', // missedPingsLimit pings unanswered
  'WIRE_CONNECTION_LOST', // the socket ended or failed before DONE
  'WIRE_REFUSED', // the acceptor refused the session
  'WIRE_LIMIT', // the peer went past a session limit (channels, unacknowledged bytes)
  'WIRE_REMOTE', // the peer reported an error
  'WIRE_ABORTED', // the caller's AbortSignal fired, or destroy() without a cause
  'WIRE_TIMEOUT',
] as const;
export type WireErrorCode = (typeof WIRE_ERROR_CODES)[number];

/** Codes only a failed long operation (migration, checkpoint, failover test) reports. */
export const OPERATION_ERROR_CODES = [
  'WIRE_FAILED', // a data-plane stream failed without a ferry-wire code of its own
  'WIRE_CLOSED', // the data session ended before the operation completed
  'MIGRATION_FAILED', // the controller gave up on a migration (no target listener, no verdict)
  'CHECK_FAILED', // a failover test's checks did not pass
  'STORE_FULL', // the DR chunk store's disk is full; nothing was half-written
  'CHECKPOINT_FAILED', // an agent reported a DR checkpoint failed without saying why
] as const;
export type OperationErrorCode = (typeof OPERATION_ERROR_CODES)[number];

/** Why a task, migration or checkpoint failed: the closed set callers, records and the UI match on. */
export type FailureCode = ErrorCode | WireErrorCode | OperationErrorCode;
const FAILURE_CODES: ReadonlySet<string> = new Set<string>([...ERROR_CODES, ...WIRE_ERROR_CODES, ...OPERATION_ERROR_CODES]);

export function isFailureCode(s: unknown): s is FailureCode {
  return typeof s === 'string' && FAILURE_CODES.has(s);
}

/** A code read from a peer or a stored record: one of ours, or INTERNAL for anything else. */
export function asFailureCode(s: unknown): FailureCode {
  return isFailureCode(s) ? s : 'INTERNAL';
}

/** The code of any error: its own if it carries a declared one, else `fallback` (a socket's ECONNRESET, a plain Error). */
export function failureCodeOf(err: unknown, fallback: FailureCode = 'INTERNAL'): FailureCode {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return isFailureCode(code) ? code : fallback;
}

/**
 * A failure code in a record a Ferry component keeps and serves (a task, a migration record, a
 * protection, a failover report): a plain string in JSON, FailureCode in TypeScript. Whoever
 * reads one from a peer or from storage passes it through asFailureCode.
 */
export const FailureCodeString = Type.Unsafe<FailureCode>(Type.String());

/** Why an operation failed: the closed code, and the cause's own words. */
export const FailureSummary = Type.Object({ code: FailureCodeString, message: Type.String() });
export type FailureSummary = Static<typeof FailureSummary>;

export const ApiErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String(),
    message: Type.String(),
    /** For INVALID_REQUEST: the offending field, e.g. `body.memoryMiB`. */
    field: Type.Optional(Type.String()),
  }),
});
export type ApiErrorBody = Static<typeof ApiErrorBody>;

/** HTTP status for each code: the one place this mapping lives. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  INVALID_REQUEST: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID_STATE: 409,
  NO_CAPACITY: 507,
  HOST_DOWN: 503,
  BUSY: 503,
  QEMU_FAILED: 502,
  TIMEOUT: 504,
  ABORTED: 499,
  INTERNAL: 500,
  NOT_LEADER: 503,
};

/** An error reported by a remote Ferry API, or raised locally with a wire code. */
export class FerryError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  constructor(code: ErrorCode, message: string, opts: { field?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'FerryError';
    this.code = code;
    this.field = opts.field;
  }
  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }
  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.field ? { field: this.field } : {}) } };
  }
}

export function isErrorCode(s: string): s is ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(s);
}
