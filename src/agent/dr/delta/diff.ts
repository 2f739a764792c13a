// The agent's side of the page diff (diff-worker.ts): one worker per checkpoint, asked for one
// batch at a time, so its work overlaps the sending of the previous batch and the agent never
// holds more than a batch. terminate() stops it whatever state it is in (idempotent).
import { Worker } from 'node:worker_threads';
import type { DiffBatch, DiffDone, DiffFile } from './diff-worker.js';

export type { DiffFile } from './diff-worker.js';

type Reply = DiffBatch | DiffDone | { kind: 'error'; message: string };

export class PageDiff {
  readonly #worker: Worker;
  #done: DiffDone | undefined;
  #failure: Error | undefined;
  #pending: { resolve: (r: Reply) => void; reject: (e: Error) => void } | undefined;

  constructor(files: DiffFile[]) {
    // Not the agent's own flags: `--input-type` (an agent started with `node -e`) fails a worker from a file.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    this.#worker = new Worker(new URL('./diff-worker.js', import.meta.url), { workerData: { files }, execArgv });
    this.#worker.on('message', (r: Reply) => this.#settle(r));
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => this.#fail(new Error(`the page-diff worker exited (${code})`)));
  }

  /** The changed chunks, batch by batch; then `result` holds every file's chunk ids. */
  async *batches(): AsyncGenerator<DiffBatch> {
    for (;;) {
      const r = await this.#ask();
      if (r.kind === 'error') throw new Error(`page diff: ${r.message}`);
      if (r.kind === 'done') {
        this.#done = r;
        return;
      }
      yield r;
    }
  }

  get result(): DiffDone {
    if (!this.#done) throw new Error('the page diff has not finished');
    return this.#done;
  }

  terminate(): void {
    this.#worker.removeAllListeners('exit');
    void this.#worker.terminate();
  }

  #ask(): Promise<Reply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<Reply>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#worker.postMessage('next');
    });
  }

  #settle(r: Reply): void {
    const p = this.#pending;
    this.#pending = undefined;
    p?.resolve(r);
  }

  #fail(err: Error): void {
    this.#failure ??= err;
    const p = this.#pending;
    this.#pending = undefined;
    p?.reject(err);
  }
}
