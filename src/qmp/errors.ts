// Every failure the QMP client reports, one class each, with a stable `code` callers can
// match on (modelled on undici's lib/core/errors.js). `cause` carries the underlying error.

export type QmpErrorCode =
  | 'QMP_TIMEOUT'
  | 'QMP_ABORTED'
  | 'QMP_DISCONNECTED'
  | 'QMP_COMMAND_FAILED'
  | 'QMP_PROTOCOL'
  | 'QMP_CONNECT_FAILED';

export abstract class QmpError extends Error {
  abstract readonly code: QmpErrorCode;
}

/** A call (or connect, or waitForEvent) did not finish within its `timeoutMs`. */
export class QmpTimeoutError extends QmpError {
  override readonly name = 'QmpTimeoutError';
  readonly code = 'QMP_TIMEOUT';
  constructor(
    what: string,
    readonly timeoutMs: number,
  ) {
    super(`${what} timed out after ${timeoutMs} ms`);
  }
}

/** The caller's AbortSignal fired; `cause` is the signal's reason. */
export class QmpAbortedError extends QmpError {
  override readonly name = 'QmpAbortedError';
  readonly code = 'QMP_ABORTED';
  constructor(what: string, reason?: unknown) {
    super(`${what} was aborted`, { cause: reason });
  }
}

/** The connection is closed or was lost; `cause` says why, when known. */
export class QmpDisconnectedError extends QmpError {
  override readonly name = 'QmpDisconnectedError';
  readonly code = 'QMP_DISCONNECTED';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** QEMU answered a command with `{"error": {"class", "desc"}}`. */
export class QmpCommandError extends QmpError {
  override readonly name = 'QmpCommandError';
  readonly code = 'QMP_COMMAND_FAILED';
  constructor(
    readonly command: string,
    /** QEMU's error class, e.g. 'GenericError', 'CommandNotFound', 'DeviceNotActive'. */
    readonly qemuClass: string,
    /** QEMU's human-readable message, verbatim. */
    readonly desc: string,
  ) {
    super(`${command}: ${desc}`);
  }
}

/** QEMU (or whatever is on the socket) sent something that is not valid QMP. */
export class QmpProtocolError extends QmpError {
  override readonly name = 'QmpProtocolError';
  readonly code = 'QMP_PROTOCOL';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** connect() failed for a reason other than timeout or abort; `cause` is the reason. */
export class QmpConnectError extends QmpError {
  override readonly name = 'QmpConnectError';
  readonly code = 'QMP_CONNECT_FAILED';
  constructor(
    readonly socketPath: string,
    cause: unknown,
  ) {
    super(`cannot connect to QMP at ${socketPath}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}
