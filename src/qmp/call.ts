// One settle-once promise per outstanding operation (command, waitForEvent, handshake),
// with the caller's timeout and AbortSignal attached. Whichever way it settles — reply,
// timeout, abort, disconnect — the timer, the abort listener and the owner's bookkeeping
// (`cleanup`) are removed in one place, exactly once.
import { DEFAULT_TIMEOUT_MS, MAX_TIMER_MS } from './constants.js';
import { QmpAbortedError, QmpTimeoutError } from './errors.js';

export interface QmpCallOptions {
  /** Default 10_000. `Infinity` means no timeout. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface PendingCall<T> {
  readonly promise: Promise<T>;
  readonly settled: boolean;
  resolve(value: T): void;
  reject(err: Error): void;
}

export function pendingCall<T>(what: string, opts: QmpCallOptions | undefined, cleanup: () => void): PendingCall<T> {
  const timeoutMs = opts?.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const signal = opts?.signal;
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  let resolvePromise!: (value: T) => void;
  let rejectPromise!: (err: Error) => void;
  const promise = new Promise<T>((resolve, reject) => {
    resolvePromise = resolve;
    rejectPromise = reject;
  });

  const onAbort = (): void => settle(() => rejectPromise(new QmpAbortedError(what, signal?.reason)));

  function settle(finish: () => void): void {
    if (settled) return;
    settled = true;
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    cleanup();
    finish();
  }

  if (!(timeoutMs > 0)) {
    settle(() => rejectPromise(new RangeError(`${what}: timeoutMs must be > 0, got ${timeoutMs}`)));
  } else if (signal?.aborted) {
    onAbort();
  } else {
    if (timeoutMs <= MAX_TIMER_MS) {
      timer = setTimeout(() => settle(() => rejectPromise(new QmpTimeoutError(what, timeoutMs))), timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  }

  return {
    promise,
    get settled() {
      return settled;
    },
    resolve: (value) => settle(() => resolvePromise(value)),
    reject: (err) => settle(() => rejectPromise(err)),
  };
}
