// One checkpoint job as this host reports it (CheckpointProgress, contracts/dr.ts). Its driver
// (send-job.ts on the protected host, receive-job.ts on the DR host) moves it through the table
// below and adds to its counters; every change publishes a new frozen snapshot, so what a
// reader got never changes under it.
//
//   source:  capturing ─▶ sending ─▶ committed
//   target:  waiting ───▶ sending ─▶ committed
//                │            │
//                └─────┬──────┘   settle(err): the first cause wins, later ones are ignored
//                      ▼
//               failed | aborted  (aborted: the job's signal fired)
import type { CheckpointProgress } from '../../contracts/index.js';
import { failureOf } from './errors.js';
import { checkTransition, type TransitionTable } from '../driver-state.js';

export type JobState = CheckpointProgress['state'];
export type JobRole = CheckpointProgress['role'];

const NEXT: TransitionTable<JobState> = {
  waiting: ['sending', 'failed', 'aborted'],
  capturing: ['sending', 'failed', 'aborted'],
  sending: ['committed', 'failed', 'aborted'],
  committed: [],
  failed: [],
  aborted: [],
};

/** What a driver may fill in besides the state, error and identity. */
export type JobFields = Partial<Omit<CheckpointProgress, 'id' | 'role' | 'vm' | 'seq' | 'state' | 'error'>>;

export class CheckpointJob {
  readonly #abort = new AbortController();
  #progress: Readonly<CheckpointProgress>;
  #done: Promise<void> = Promise.resolve();

  constructor(id: string, role: JobRole, vm: string, seq: number) {
    this.#progress = Object.freeze({
      id, role, vm, seq, state: role === 'source' ? 'capturing' : 'waiting',
      memoryBytes: 0, diskBytes: 0, bytesDone: 0, bytesTotal: 0, wireBytes: 0, newBytes: 0,
    });
  }

  get progress(): Readonly<CheckpointProgress> {
    return this.#progress;
  }
  get id(): string {
    return this.#progress.id;
  }
  get vm(): string {
    return this.#progress.vm;
  }
  get role(): JobRole {
    return this.#progress.role;
  }
  get live(): boolean {
    return NEXT[this.#progress.state].length > 0;
  }
  get signal(): AbortSignal {
    return this.#abort.signal;
  }
  /** Settles once the driver is done with everything it holds (session, staging, capture). */
  get done(): Promise<void> {
    return this.#done;
  }

  /** The driver's run; `done` follows it. Set once, when the job starts. */
  track(run: Promise<void>): void {
    this.#done = run;
  }

  /** Asks the driver to stop; a job that already ended is left as it is. */
  abort(): void {
    if (this.live) this.#abort.abort();
  }

  /** Moves to `next` (with these fields); refuses what the table forbids. */
  to(next: JobState, fields: JobFields = {}): void {
    const { state } = this.#progress;
    checkTransition(`checkpoint job ${this.id}`, NEXT, state, next);
    this.#publish({ ...fields, state: next });
  }

  /** Counters of a live job (bytes so far); a job that ended keeps its final numbers. */
  update(fields: JobFields | ((p: Readonly<CheckpointProgress>) => JobFields)): void {
    if (!this.live) return;
    this.#publish(typeof fields === 'function' ? fields(this.#progress) : fields);
  }

  addBytes(n: number): void {
    this.update((p) => ({ bytesDone: p.bytesDone + n }));
  }

  /** Ends a live job with `err` as its cause: `aborted` if its signal fired, else `failed`. False if it had ended already. */
  settle(err: unknown): boolean {
    if (!this.live) return false;
    this.#publish({ state: this.signal.aborted ? 'aborted' : 'failed', error: failureOf(err) });
    return true;
  }

  #publish(change: Partial<CheckpointProgress>): void {
    this.#progress = Object.freeze({ ...this.#progress, ...change });
  }
}
