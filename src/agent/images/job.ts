// One image job on this host: an import (file → chunk store → library file), a send (library
// file → a peer over ferry-wire) or a receive (the chunks this host lacks → store → library
// file). States, closed:
//
//   running ──▶ done
//      └──────▶ failed
//
// Progress is an immutable snapshot, replaced on every change; bytesDone never runs backwards.
import type { ImageFacts, ImageJobProgress, ImageJobState } from '../../contracts/index.js';
import { FerryError } from '../../contracts/index.js';
import { DriverState, type TransitionTable } from '../driver-state.js';

const TABLE: TransitionTable<ImageJobState> = { running: ['done', 'failed'], done: [], failed: [] };

export class ImageJob {
  readonly #state: DriverState<ImageJobState>;
  #progress: ImageJobProgress;
  readonly #abort = new AbortController();

  constructor(id: string, kind: ImageJobProgress['kind'], imageId: string, bytesTotal = 0) {
    this.#state = new DriverState(`image job ${id}`, TABLE, 'running');
    this.#progress = Object.freeze({ id, kind, imageId, state: 'running', bytesDone: 0, bytesTotal });
  }

  get progress(): ImageJobProgress {
    return this.#progress;
  }

  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  get live(): boolean {
    return this.#state.is('running');
  }

  update(change: Partial<Pick<ImageJobProgress, 'bytesTotal' | 'newBytes' | 'facts'>>): void {
    this.#progress = Object.freeze({ ...this.#progress, ...change });
  }

  addBytes(n: number): void {
    this.#progress = Object.freeze({ ...this.#progress, bytesDone: this.#progress.bytesDone + n });
  }

  done(facts?: ImageFacts): void {
    this.#state.to('done');
    this.#progress = Object.freeze({ ...this.#progress, state: 'done', ...(facts ? { facts } : {}) });
  }

  /** Ends the job with `err` unless it already ended. */
  fail(err: unknown): void {
    if (!this.#state.can('failed')) return;
    this.#state.to('failed');
    this.#progress = Object.freeze({ ...this.#progress, state: 'failed', error: err instanceof Error ? err.message : String(err) });
  }

  abort(): void {
    this.#abort.abort(new FerryError('ABORTED', 'aborted by request'));
  }
}
