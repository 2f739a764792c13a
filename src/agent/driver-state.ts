// The state of a driver (outgoing or incoming migration, disk mirror): one value of a closed enum,
// changed only along its transition table. A move the table does not list is refused with a
// typed error (TransitionRefusedError, INVALID_STATE), never carried out half-way.
import { TransitionRefusedError } from './errors.js';

/** For each state, the states it may move to. Terminal states list none. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

export class DriverState<S extends string> {
  #current: S;

  constructor(
    /** Names the driver in refusals, e.g. `migration 1234 (vm a)`. */
    readonly machine: string,
    readonly table: TransitionTable<S>,
    initial: S,
  ) {
    this.#current = initial;
  }

  get current(): S {
    return this.#current;
  }

  is(...states: S[]): boolean {
    return states.includes(this.#current);
  }

  can(next: S): boolean {
    return this.table[this.#current].includes(next);
  }

  /** Moves to `next`; throws TransitionRefusedError (`why` says it for humans) if the table forbids it. */
  to(next: S, why?: string): void {
    if (!this.can(next)) throw new TransitionRefusedError(this.machine, this.#current, next, why);
    this.#current = next;
  }
}
