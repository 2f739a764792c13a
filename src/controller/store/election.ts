// Leader election on PostgreSQL itself: one leadership row (pg-schema.ts, ferry_leader) holding
// a term that only grows, the leader's id and URL, and a lease expiry in database time. A
// standby takes the row once the lease has expired (term + 1: the fencing token every write of
// the new leader is checked against, pg-store.ts); the leader renews it every leaseMs/4. Expiry is
// computed by PostgreSQL (clock_timestamp()), never by a controller's wall clock; the leader's own
// deadline is on its monotonic clock, counted from when it *sent* its last successful renewal,
// so it steps down (stops writing, stops leading) before the database could let another take over.
//
//   role        event                                  next
//   standby     acquired the expired row               leader
//   leader      renewal refused (row taken)            standby
//   leader      no renewal before the local deadline   standby
//   leader      relinquish() (its writes were refused) standby
//   standby|leader  close()                            closed  (a leader resigns: expiry -infinity)
import type pg from 'pg';
import { createLog } from '../log.js';
import { timedQuery } from './pg-pool.js';

const log = createLog('ferry:controller:election');

export type ElectionRole = 'standby' | 'leader' | 'closed';

const TRANSITIONS: Readonly<Record<ElectionRole, readonly ElectionRole[]>> = {
  standby: ['leader', 'closed'],
  leader: ['standby', 'closed'],
  closed: [],
};

/** The lease a leader holds unless told otherwise: agents' leases (5 s by default) must outlast a takeover. */
export const LEADER_LEASE_MS = 2_000;

/** A standby tries at least this often, so a resignation is taken up at once whatever the lease. */
const STANDBY_EVERY_MS = 250;

export interface LeaderSeen {
  term: number;
  url: string | undefined;
  /** Was its lease unexpired when read? */
  live: boolean;
}

export interface ElectionOptions {
  /** This controller's instance id (unique per process). */
  holder: string;
  url: string;
  leaseMs?: number;
  /** Told when this controller becomes leader, with its term. */
  onElected: (term: number) => void;
  /** Told when it stops leading (not on close). */
  onDeposed: (reason: string) => void;
}

export class LeaderElection {
  private current: ElectionRole = 'standby';
  private heldTerm = 0;
  private seen: LeaderSeen = { term: 0, url: undefined, live: false };
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private busy: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: ElectionOptions,
  ) {
    this.leaseMs = opts.leaseMs ?? LEADER_LEASE_MS;
  }

  get role(): ElectionRole {
    return this.current;
  }

  /** The term this controller leads with (0 when it does not lead). */
  get term(): number {
    return this.current === 'leader' ? this.heldTerm : 0;
  }

  /** The leader as last read (a standby reads it on every attempt). */
  get leader(): LeaderSeen {
    return this.current === 'leader' ? { term: this.heldTerm, url: this.opts.url, live: true } : this.seen;
  }

  start(): void {
    this.tick();
  }

  /** Resigns if leading (so a standby takes over at once), then stops. Idempotent. */
  async close(): Promise<void> {
    if (this.current === 'closed') return;
    const wasLeading = this.current === 'leader';
    const term = this.heldTerm;
    this.to('closed');
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    await this.busy?.catch(() => undefined);
    if (wasLeading) {
      await timedQuery(this.pool, `UPDATE ferry_leader SET holder = NULL, expires_at = '-infinity' WHERE id = 1 AND term = $1 AND holder = $2`, [term, this.opts.holder], this.leaseMs)
        .catch((err: Error) => log('resigning term %d failed (the lease will expire): %s', term, err.message));
    }
  }

  private to(next: ElectionRole): void {
    if (!TRANSITIONS[this.current].includes(next)) throw new Error(`election: ${this.current} -> ${next} is not allowed`);
    this.current = next;
  }

  private tick(): void {
    if (this.current === 'closed') return;
    let failed = false;
    this.busy = (this.current === 'leader' ? this.renew() : this.tryAcquire())
      .catch((err: Error) => {
        failed = true;
        log('%s: %s', this.current === 'leader' ? 'renewal failed' : 'election attempt failed', err.message);
      })
      .finally(() => {
        this.busy = undefined;
        // A leader whose renewal failed tries again at once: its deadline is running.
        const wait = this.current === 'leader' ? (failed ? 0 : this.leaseMs / 4) : Math.min(this.leaseMs / 8, STANDBY_EVERY_MS);
        if (this.current !== 'closed') this.timer = setTimeout(() => this.tick(), wait);
      });
  }

  private async tryAcquire(): Promise<void> {
    const sentAt = performance.now();
    const r = await timedQuery<{ term: number }>(
      this.pool,
      `UPDATE ferry_leader SET term = term + 1, holder = $1, url = $2, expires_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000)
       WHERE id = 1 AND expires_at <= clock_timestamp() RETURNING term`,
      [this.opts.holder, this.opts.url, this.leaseMs],
      this.leaseMs / 2,
    );
    if (this.current !== 'standby') return; // closed while asking; the lease will expire
    const won = r.rows[0];
    if (won) {
      this.heldTerm = won.term;
      this.to('leader');
      this.armDeadline(sentAt);
      log('leading with term %d', won.term);
      this.opts.onElected(won.term);
      return;
    }
    const s = await timedQuery<{ term: number; url: string | null; live: boolean }>(
      this.pool,
      'SELECT term, url, expires_at > clock_timestamp() AS live FROM ferry_leader WHERE id = 1',
      [],
      this.leaseMs / 2,
    );
    const row = s.rows[0];
    if (row) this.seen = { term: row.term, url: row.url ?? undefined, live: row.live };
  }

  private async renew(): Promise<void> {
    const sentAt = performance.now();
    const term = this.heldTerm;
    const r = await timedQuery(
      this.pool,
      `UPDATE ferry_leader SET expires_at = clock_timestamp() + make_interval(secs => $3::double precision / 1000)
       WHERE id = 1 AND term = $1 AND holder = $2 AND expires_at > clock_timestamp() RETURNING term`,
      [term, this.opts.holder, this.leaseMs],
      this.leaseMs / 2,
    );
    if (this.current !== 'leader' || this.heldTerm !== term) return;
    if (r.rowCount === 1) this.armDeadline(sentAt);
    else this.stepDown(`term ${term}: the lease was lost`);
  }

  /** A quarter of the lease before it could expire in the database, this controller stops leading on its own. */
  private armDeadline(sentAt: number): void {
    clearTimeout(this.deadline);
    const left = sentAt + (this.leaseMs * 3) / 4 - performance.now();
    this.deadline = setTimeout(() => this.stepDown(`term ${this.heldTerm}: could not renew the lease in time`), Math.max(0, left));
  }

  /** Stops leading at once (the store's writes were refused: someone else holds the term). */
  relinquish(reason: string): void {
    this.stepDown(reason);
  }

  private stepDown(reason: string): void {
    if (this.current !== 'leader') return;
    clearTimeout(this.deadline);
    this.to('standby');
    this.seen = { term: this.heldTerm, url: undefined, live: false };
    log('stepping down: %s', reason);
    this.opts.onDeposed(reason);
  }
}
