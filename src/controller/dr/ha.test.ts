import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideHa, leasedVms, type HaInput } from './ha.js';

const LEASE = 5000;
const MARGIN = 2000;
const SENT = 100_000; // the last reply to h1 (monotonic ms)
const OUT = SENT + LEASE + MARGIN + 1; // the first instant the lease is surely out

/** h1 down, silent since SENT, with a lease on `web`; one checkpoint at h3, which is up. */
const base = (o: Partial<HaInput> = {}): HaInput => ({
  vm: 'web', ha: true, state: 'protected', checkpoints: 1, vmState: 'running', host: 'h1', hostUp: false, targetHost: 'h3', targetUp: true,
  lease: { at: SENT, vms: ['web', 'db'] }, leaseMs: LEASE, marginMs: MARGIN, now: OUT, ...o,
});

describe('high availability decision', () => {
  const table: [string, Partial<HaInput>, string][] = [
    ['host up', { hostUp: true }, 'none'],
    ['host up, even long after the last reply', { hostUp: true, now: OUT + 60_000 }, 'none'],
    ['HA off for this protection', { ha: false }, 'none'],
    ['failed over already', { state: 'failed-over' }, 'none'],
    ['stopped by its owner before the host went down', { vmState: 'stopped' }, 'none'],
    ['host down a moment after the last reply: the lease is live', { now: SENT + 1 }, 'wait'],
    ['the lease has just run out, the margin has not', { now: SENT + LEASE + 1 }, 'wait'],
    ['exactly at lease + margin: not yet', { now: SENT + LEASE + MARGIN }, 'wait'],
    ['lease + margin passed', {}, 'failover'],
    ['behind its RPO: the newest checkpoint is still the best copy', { state: 'behind' }, 'failover'],
    ['no reply was ever sent to the host', { lease: undefined }, 'blocked NOT_LEASED'],
    ['the last reply did not lease this VM', { lease: { at: SENT, vms: ['db'] } }, 'blocked NOT_LEASED'],
    ['the last reply leased nothing', { lease: { at: SENT, vms: [] }, now: SENT + 1 }, 'blocked NOT_LEASED'],
    ['no checkpoint committed', { checkpoints: 0, state: 'syncing' }, 'blocked NO_CHECKPOINT'],
    ['DR host down', { targetUp: false }, 'blocked DR_HOST_DOWN'],
    ['a task holds the VM', { busy: 'task t1 (dr.failover)' }, 'blocked BUSY'],
    ['a failed attempt is backing off', { retryAt: OUT + 1000 }, 'blocked RETRY_LATER'],
    ['the backoff is over', { retryAt: OUT }, 'failover'],
    ['lease live and no checkpoint: wait first (nothing may act yet anyway)', { now: SENT + 10, checkpoints: 0 }, 'wait'],
  ];
  for (const [name, o, want] of table) {
    it(name, () => {
      const v = decideHa(base(o));
      assert.equal(v.action === 'blocked' ? `blocked ${v.code}` : v.action, want, JSON.stringify(v));
    });
  }

  it('never fails over while the lease may be live, however the rest looks', () => {
    for (let now = SENT - 1000; now <= SENT + LEASE + MARGIN; now += 250) assert.notEqual(decideHa(base({ now })).action, 'failover', `at ${now - SENT} ms`);
  });

  it('says when it will act, and why it acted', () => {
    const w = decideHa(base({ now: SENT + 1000 }));
    assert.equal(w.action, 'wait');
    assert.equal(w.action === 'wait' && w.actAt, SENT + LEASE + MARGIN);
    assert.match(w.action === 'wait' ? w.reason : '', /host h1 of VM web is down; its lease runs out 5 s after the last reply \(1 s ago\)/);
    const f = decideHa(base());
    assert.match(f.action === 'failover' ? f.reason : '', /host h1 of VM web is down and its lease ran out \(no reply for 7 s, lease 5 s\)/);
    const b = decideHa(base({ targetUp: false }));
    assert.match(b.action === 'blocked' ? b.reason : '', /DR host h3 is down too/);
  });
});

describe('lease contents', () => {
  it('names the host\'s protected VMs with HA on that have not failed over', () => {
    const hosts: Record<string, string> = { web: 'h1', db: 'h1', off: 'h1', gone: 'h3', other: 'h2' };
    const ps = [
      { vm: 'web', state: 'protected' as const, ha: true },
      { vm: 'db', state: 'syncing' as const },
      { vm: 'off', state: 'protected' as const, ha: false },
      { vm: 'gone', state: 'failed-over' as const, ha: true },
      { vm: 'other', state: 'behind' as const, ha: true },
      { vm: 'deleted', state: 'protected' as const, ha: true },
    ];
    assert.deepEqual(leasedVms(ps, (vm) => hosts[vm], 'h1'), ['web', 'db']);
    assert.deepEqual(leasedVms(ps, (vm) => hosts[vm], 'h3'), []);
  });
});
