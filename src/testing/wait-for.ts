// Waiting, in tests and benchmarks, for something that happens in its own time: the one poll
// loop with a deadline. `probe` answers the value once it is there; undefined or false means
// "not yet", and so does a thrown error (a server still starting refuses connections, a console
// is not written yet). On timeout the error names what was awaited and the probe's last answer
// or error, so a failure says what was seen instead.
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

export interface WaitOptions {
  /** Give up after this long (default 60 s): only a failure limit, never a timing assertion. */
  timeoutMs?: number;
  /** Pause between two probes (default 250 ms). */
  everyMs?: number;
}

export const WAIT_TIMEOUT_MS = 60_000;
export const WAIT_EVERY_MS = 250;

type Last = { value: unknown } | { error: unknown } | undefined;

export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    last: Last,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${seen(last)}`, last && 'error' in last ? { cause: last.error } : undefined);
    this.name = 'WaitTimeoutError';
  }
}

function seen(last: Last): string {
  if (last === undefined) return '';
  if ('error' in last) return `; last error: ${last.error instanceof Error ? last.error.message : inspect(last.error)}`;
  return `; last answer: ${inspect(last.value, { depth: 2, breakLength: Infinity })}`;
}

/** Polls `probe` until it answers something other than undefined or false; returns that answer. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, opts: WaitOptions = {}): Promise<T> {
  const { timeoutMs = WAIT_TIMEOUT_MS, everyMs = WAIT_EVERY_MS } = opts;
  const deadline = performance.now() + timeoutMs;
  let last: Last;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = { value: v };
    } catch (error) {
      last = { error };
    }
    if (performance.now() >= deadline) throw new WaitTimeoutError(what, timeoutMs, last);
    await sleep(everyMs);
  }
}
