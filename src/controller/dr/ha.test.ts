import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decideHa, leasedVms, type HaInput } from './ha.js';
import type { HostEvidence, Witness } from '../host-witness.js';

const LEASE = 5000;
const MARGIN = 2000;
const SENT = 100_000; // the last reply to h1 (monotonic ms)
const OUT = SENT + LEASE + MARGIN + 1; // the first instant the lease is surely out

const UUID = '00000000-0000-4000-8000-000000000001';
/** h2 and h3 heartbeat, and their guards have not heard h1's for long. */
const CUT_OFF: HostEvidence = { hosts: 3, witnesses: [{ host: 'h2', fresh: true, guard: 'running' }, { host: 'h3', fresh: true, guard: 'none' }], agentLastSeenAt: SENT };

/** h1 down, silent since SENT, with a lease on `web`; one checkpoint at h3, which is up; h1 is cut off. */
const base = (o: Partial<HaInput> = {}): HaInput => ({
  vm: 'web', uuid: UUID, evidence: CUT_OFF, ha: true, state: 'protected', checkpoints: 1, vmState: 'running', host: 'h1', hostUp: false, targetHost: 'h3', targetUp: true,
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

describe('high availability decision: who still hears the host', () => {
  const W = 3000; // GUARD_WINDOW_MS
  const heard = (at: number, agent: 'gone' | 'stopped' | 'running', running: boolean): Witness => ({ host: 'h2', fresh: true, guard: 'running', heardAt: at, self: { agent, vms: [{ name: 'web', uuid: UUID, running }] } });
  const ev = (h2: Witness, h3: Partial<Witness> = {}): HostEvidence => ({ hosts: 3, witnesses: [h2, { host: 'h3', fresh: true, guard: 'running', ...h3 }], agentLastSeenAt: SENT });
  const verdict = (o: Partial<HaInput>): string => {
    const v = decideHa(base(o));
    return v.action === 'blocked' ? `blocked ${v.code}` : v.action;
  };

  it('agent killed or stopped while its QEMU runs: a peer still hears its guard, so never a failover', () => {
    for (const agent of ['gone', 'stopped'] as const) {
      for (const now of [OUT, OUT + 60_000, OUT + 3_600_000]) {
        const v = decideHa(base({ now, evidence: ev(heard(now - 400, agent, true)) }));
        assert.equal(v.action === 'blocked' && v.code, 'HOST_ALIVE', JSON.stringify(v));
        assert.match(v.action === 'blocked' ? v.reason : '', new RegExp(`fence guard still answers h2 \\(its agent ${agent}, the VM running\\)`));
      }
    }
  });

  it('agent and QEMU killed, guard alive: its own guard says the VM is gone, so fail over at once', () => {
    const v = decideHa(base({ now: SENT + 3500, evidence: ev(heard(SENT + 3000, 'gone', false)) }));
    assert.equal(v.action, 'failover');
    assert.match(v.action === 'failover' ? v.reason : '', /fence guard says the VM's QEMU no longer runs there \(heard by h2\)/);
    assert.equal(verdict({ now: SENT + 3500, evidence: ev(heard(SENT - 10, 'gone', false)) }), 'blocked HOST_ALIVE', 'said before the agent last spoke: not proof');
    assert.equal(verdict({ now: SENT + 3500, evidence: ev({ ...heard(SENT + 3000, 'gone', false), fresh: false }) }), 'blocked HOST_ALIVE', 'a witness that is not fresh proves nothing');
    assert.equal(verdict({ now: SENT + 3500, evidence: ev(heard(SENT + 3000, 'gone', false), { heardAt: SENT + 3200, self: { agent: 'gone', vms: [{ name: 'web', uuid: UUID, running: true }] } }) }), 'blocked HOST_ALIVE', 'the latest word counts');
    assert.equal(verdict({ now: SENT + 3500, checkpoints: 0, evidence: ev(heard(SENT + 3000, 'gone', false)) }), 'blocked NO_CHECKPOINT');
  });

  it('cut off: the last contact is older than the window and margin, and enough peers say so', () => {
    assert.equal(verdict({ evidence: ev({ ...heard(OUT - W - MARGIN - 1, 'running', true) }) }), 'failover');
    assert.equal(verdict({ evidence: ev({ ...heard(OUT - W - MARGIN, 'running', true) }) }), 'blocked HOST_ALIVE', 'within the window and margin: it may hold on yet');
  });

  it('a peer that cannot testify leaves no quorum to prove it: no failover', () => {
    assert.equal(verdict({ evidence: ev({ host: 'h2', fresh: false, guard: 'running' }) }), 'blocked NO_QUORUM', 'h2 is silent too (a partition of h1+h2 may keep the VM)');
    assert.equal(verdict({ evidence: ev({ host: 'h2', fresh: true, guard: 'unknown' }) }), 'blocked NO_QUORUM', "h2's guard cannot vouch");
    // After the controller stalled, no report counts until it is renewed.
    assert.equal(verdict({ evidence: { hosts: 3, witnesses: [{ host: 'h2', fresh: false, guard: 'running' }, { host: 'h3', fresh: false, guard: 'running' }] } }), 'blocked NO_QUORUM');
    // Five hosts: a cut-off host needs two peers to hold on, so three must not hear it.
    const five = (deaf: number): HostEvidence => ({ hosts: 5, witnesses: ['h2', 'h3', 'h4', 'h5'].map((host, n) => ({ host, fresh: n < deaf, guard: 'running' as const })) });
    assert.equal(verdict({ evidence: five(2) }), 'blocked NO_QUORUM');
    assert.equal(verdict({ evidence: five(3) }), 'failover');
  });

  it('no failover at any moment while a peer hears the host, however long its lease is out', () => {
    for (let now = SENT; now <= SENT + 120_000; now += 500) assert.notEqual(decideHa(base({ now, evidence: ev(heard(now - 600, 'stopped', true)) })).action, 'failover');
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
