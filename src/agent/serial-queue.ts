// Runs async functions one at a time, in the order they were given, whether the earlier ones
// succeeded or failed: the agent's per-VM action queue, the net counters' restarts, one
// metrics scrape at a time.
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(fn, fn);
    this.#tail = next.catch(() => undefined);
    return next;
  }
}
