// One controller among several sharing a PostgreSQL: it follows the leader's writes as a
// standby and serves reads from its copy, takes over when the election makes it leader (a fresh
// copy, then the start-up path of core.ts, recovery included), and goes back to standby when it
// stops leading — its election lease ran out, or the database refused its writes. Changes of
// role are done one at a time, in the order they happen.
//
//   state       event                          next
//   standby     elected                        leader   (after loading and starting a leader core)
//   leader      deposed / writes refused       standby  (agent calls cut, core closed, copy reloaded)
//   any         close()                        closed
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { ControllerAbout } from '../contracts/controller-api.js';
import { FerryError } from '../contracts/errors.js';
import type { ControllerTls } from './tls.js';
import type { LeadershipView } from './api/leadership.js';
import { openCore, type ControllerCore } from './core.js';
import { NotLeaderError } from './errors.js';
import type { ControllerOptions } from './index.js';
import { createLog } from './log.js';
import type { Change } from './store/capture.js';
import { LeaderElection } from './store/election.js';
import { PgFollower } from './store/follower.js';
import { PgLeaderStore } from './store/pg-store.js';
import type { StateStore } from './store/state-store.js';

const log = createLog('ferry:controller:leadership');

/** How long a change waits for PostgreSQL before the request is answered with a timeout (the change stays applied and is written later). */
const DURABLE_WAIT_MS = 10_000;

type Phase = 'standby' | 'leader' | 'closed';

export class Leadership implements LeadershipView {
  private phase: Phase = 'standby';
  private core: ControllerCore | undefined;
  private store: StateStore | undefined;
  private election: LeaderElection | undefined;
  private chain: Promise<void> = Promise.resolve();
  private url = '';
  readonly holder = randomUUID();

  private readonly pool: pg.Pool;
  private readonly electionPool: pg.Pool;

  constructor(
    pools: { data: pg.Pool; election: pg.Pool },
    private readonly tls: ControllerTls,
    private readonly opts: ControllerOptions,
    private readonly leaseMs: number,
  ) {
    this.pool = pools.data;
    this.electionPool = pools.election;
  }

  /** Opens as a standby (reads served at once), before the HTTP server listens. */
  async open(): Promise<void> {
    await this.becomeStandby();
  }

  /** Starts standing for election, once this controller's URL is known. */
  startElection(url: string): void {
    this.url = url;
    this.election = new LeaderElection(this.electionPool, {
      holder: this.holder,
      url,
      ...(this.opts.leaderLeaseMs !== undefined ? { leaseMs: this.opts.leaderLeaseMs } : {}),
      onElected: (term) => this.then(() => this.becomeLeader(term)),
      onDeposed: (reason) => this.then(() => this.stepDown(reason)),
    });
    this.election.start();
  }

  /** The services of the current role (undefined only while changing role). */
  current(): ControllerCore {
    if (!this.core) throw new NotLeaderError('this controller is changing role; retry shortly', this.leaderUrl());
    return this.core;
  }

  leads(): boolean {
    return this.phase === 'leader' && this.core?.role === 'leader';
  }

  leaderUrl(): string | undefined {
    const seen = this.election?.leader;
    return seen?.live ? seen.url : undefined;
  }

  async durable(): Promise<void> {
    const store = this.store;
    if (!store || !this.leads()) throw new NotLeaderError('this controller stopped leading before the change was durable', this.leaderUrl());
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new FerryError('TIMEOUT', `PostgreSQL did not confirm the change within ${DURABLE_WAIT_MS} ms; it is applied and will be written when the database answers`)), DURABLE_WAIT_MS);
    });
    try {
      await Promise.race([store.flushed(), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  about(): ControllerAbout {
    const seen = this.election?.leader;
    const leaderUrl = this.leads() ? this.url : this.leaderUrl();
    return {
      url: this.url,
      role: this.leads() ? 'leader' : 'standby',
      store: 'postgres',
      ...(leaderUrl ? { leaderUrl } : {}),
      ...(seen && seen.term > 0 ? { term: seen.term } : {}),
      pid: process.pid,
    };
  }

  /** Resigns if leading (a standby takes over at once), then stops. Idempotent. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return this.chain;
    this.phase = 'closed';
    await this.election?.close();
    await this.then(() => this.dropCore({ deposed: false }));
  }

  private then(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step).catch((err: Error) => log('change of role failed: %s', err.stack ?? err.message));
    return this.chain;
  }

  private async becomeLeader(term: number): Promise<void> {
    if (this.phase === 'closed' || this.election?.role !== 'leader' || this.election.term !== term) return;
    await this.dropCore({ deposed: false });
    const store = await PgLeaderStore.open(this.pool, { term, holder: this.holder }, (err) => {
      log('writes refused: %s', err.message);
      this.election?.relinquish(err.message);
    });
    if (this.election?.role !== 'leader' || this.election.term !== term) {
      await store.close();
      return this.becomeStandby();
    }
    this.store = store;
    this.core = openCore(store, this.tls, this.opts, this.leaseMs, 'leader', () => this.about());
    this.phase = 'leader';
    await this.core.start();
    log('leading with term %d at %s', term, this.url);
  }

  private async stepDown(reason: string): Promise<void> {
    if (this.phase !== 'leader') return;
    log('no longer leading (%s): back to standby', reason);
    this.phase = 'standby';
    await this.dropCore({ deposed: true });
    await this.becomeStandby();
  }

  private async becomeStandby(): Promise<void> {
    if (this.phase === 'closed') return;
    const follower = await PgFollower.open(this.pool, (changes) => this.replay(changes));
    this.store = {
      kind: 'postgres',
      db: follower.db,
      flushed: () => Promise.reject(new NotLeaderError('a standby writes nothing', this.leaderUrl())),
      close: () => follower.close(),
    };
    this.core = openCore(this.store, this.tls, this.opts, this.leaseMs, 'standby', () => this.about());
    this.phase = 'standby';
  }

  private async dropCore(opts: { deposed: boolean }): Promise<void> {
    const core = this.core;
    const store = this.store;
    this.core = undefined;
    this.store = undefined;
    await core?.close(opts);
    await store?.close();
  }

  /** A standby's event stream: the leader's changes of tasks, VMs and hosts, as they arrive. */
  private replay(changes: readonly Change[]): void {
    const core = this.core;
    if (!core || core.role !== 'standby') return;
    const { runner, vms, hosts } = core.deps;
    for (const c of changes) {
      if (c.op !== 'upsert' || !c.row) continue;
      try {
        if (c.tbl === 'tasks') core.bus.publish({ type: 'task', task: runner.get(String(c.row.id)) });
        else if (c.tbl === 'vms') core.bus.publish({ type: 'vm', vm: vms.get(String(c.row.name)) });
        else if (c.tbl === 'hosts') {
          const host = hosts.list().find((h) => h.name === c.row!.name);
          if (host) core.bus.publish({ type: 'host', host });
        }
      } catch {
        // gone again by a later change of the same batch
      }
    }
  }
}
