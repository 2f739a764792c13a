// The data of a QMP event, typed by its shape in src/qmp/commands (MigrationEventData,
// BlockJobEvent…): QmpClient hands every event over as a plain record.
import type { QmpEvent } from '../../qmp/index.js';

export const eventData = <T>(ev: QmpEvent): Partial<T> => (ev.data ?? {}) as Partial<T>;

/** An AbortSignal that fires with `outer` or when the returned `done()` is called (to drop waiters no longer needed). */
export function scoped(outer: AbortSignal | undefined): { signal: AbortSignal; done: () => void } {
  const inner = new AbortController();
  return { signal: outer ? AbortSignal.any([outer, inner.signal]) : inner.signal, done: () => inner.abort() };
}
