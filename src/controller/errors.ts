// The controller's typed refusals. Each carries a wire code (see src/contracts/errors.ts), so the
// HTTP status is decided in one place (createApiServer's error handler) and callers — the
// CLI, tests — match on `code`, never on message text.
import { FerryError } from '../contracts/errors.js';

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

export class InvalidRequestError extends FerryError {
  constructor(field: string, message: string) {
    super('INVALID_REQUEST', `${field} ${message}`, { field });
    this.name = 'InvalidRequestError';
  }
}

/**
 * A migration that an agent reported as failed, with the agent's own code and words (which
 * need not be one of the wire codes: the task and the record keep them verbatim).
 */
export class MigrationFailedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MigrationFailedError';
  }
}

/**
 * A disaster-recovery step that failed: a checkpoint job an agent reported as failed (its own
 * code and words, kept verbatim), or a failover check that did not pass (`CHECK_FAILED`).
 */
export class DrFailedError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DrFailedError';
  }
}

/** The `{code, message}` a task keeps when it fails: the cause's own words, untouched. */
export function errorSummary(err: unknown): { code: string; message: string } {
  if (err instanceof FerryError || err instanceof MigrationFailedError || err instanceof DrFailedError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}
