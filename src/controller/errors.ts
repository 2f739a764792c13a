// The controller's typed refusals. Each carries a wire code (see src/contracts/errors.ts), so the
// HTTP status is decided in one place (createApiServer's error handler) and callers — the
// CLI, tests — match on `code`, never on message text.
import { asFailureCode, FerryError, type FailureCode, type FailureSummary } from '../contracts/errors.js';

export class NotFoundError extends FerryError {
  constructor(what: string) {
    super('NOT_FOUND', `${what} not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends FerryError {
  constructor(message: string) {
    super('CONFLICT', message);
    this.name = 'ConflictError';
  }
}

export class InvalidStateError extends FerryError {
  constructor(message: string) {
    super('INVALID_STATE', message);
    this.name = 'InvalidStateError';
  }
}

export class HostDownError extends FerryError {
  constructor(host: string, why = 'is down (no heartbeat)') {
    super('HOST_DOWN', `host ${host} ${why}`);
    this.name = 'HostDownError';
  }
}

export class NoCapacityError extends FerryError {
  constructor(message: string) {
    super('NO_CAPACITY', message);
    this.name = 'NoCapacityError';
  }
}

/** This controller does not lead (any more): its writes are refused; `leaderUrl` is who does, when known. */
export class NotLeaderError extends FerryError {
  constructor(
    message: string,
    readonly leaderUrl?: string,
  ) {
    super('NOT_LEADER', message);
    this.name = 'NotLeaderError';
  }
}

export class InvalidRequestError extends FerryError {
  constructor(field: string, message: string) {
    super('INVALID_REQUEST', `${field} ${message}`, { field });
    this.name = 'InvalidRequestError';
  }
}

/**
 * A migration that failed: an agent reported it failed (its code, read through asFailureCode,
 * and its own words, kept verbatim by the task and the record), or the controller gave up on
 * it (MIGRATION_FAILED, TIMEOUT).
 */
export class MigrationFailedError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'MigrationFailedError';
  }
}

/**
 * A disaster-recovery step that failed: a checkpoint job an agent reported as failed (its code
 * through asFailureCode, its words verbatim), or a failover check that did not pass (`CHECK_FAILED`).
 */
export class DrFailedError extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
  ) {
    super(message);
    this.name = 'DrFailedError';
  }
}

/** The code of an error an agent reported in a progress reply: one of ours, or `fallback` if it gave none. */
export function reportedCode(error: { code: string } | undefined, fallback: FailureCode): FailureCode {
  return error ? asFailureCode(error.code) : fallback;
}

/** A failure read back from storage (written by an older controller, maybe): its code one of ours, its words kept. */
export function storedFailure<T extends { code: string; message: string }>(e: T): T & FailureSummary {
  return { ...e, code: asFailureCode(e.code) };
}

/** The `{code, message}` a task keeps when it fails: the cause's own words, untouched. */
export function errorSummary(err: unknown): FailureSummary {
  if (err instanceof FerryError || err instanceof MigrationFailedError || err instanceof DrFailedError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}
