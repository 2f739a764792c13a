import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GUARD_STATES, GUARD_TRANSITIONS, GuardTransitionError, assertTransition, decideGuard, reachesQuorum, type GuardInput } from './decide.js';

const timing = { windowMs: 3000, aheadMs: 500 };
const base: GuardInput = { state: 'leased', now: 10_000, lease: { expiresAtMs: 15_000, vms: 2 }, contacts: [], hosts: 2, timing };

describe('fence guard decision', () => {
  it('holds while the lease runs, and fences ahead of its end when cut off', () => {
    assert.equal(decideGuard(base), 'leased');
    assert.equal(decideGuard({ ...base, now: 14_499 }), 'leased');
    assert.equal(decideGuard({ ...base, now: 14_500 }), 'fencing', 'aheadMs before the end');
    assert.equal(decideGuard({ ...base, now: 20_000 }), 'fencing');
  });

  it('after the lease, holds on while it reaches a quorum of peers, and fences once it does not', () => {
    const out = { ...base, now: 16_000 };
    assert.equal(decideGuard({ ...out, contacts: [15_000] }), 'holding');
    assert.equal(decideGuard({ ...out, state: 'holding', contacts: [13_001] }), 'holding');
    assert.equal(decideGuard({ ...out, state: 'holding', contacts: [13_000] }), 'fencing', 'the contact is windowMs old');
    // Five hosts: two peers are a quorum (with itself, 3 of 5); one is not.
    assert.equal(decideGuard({ ...out, hosts: 5, contacts: [15_900] }), 'fencing');
    assert.equal(decideGuard({ ...out, hosts: 5, contacts: [15_900, 15_800] }), 'holding');
  });

  it('without peers (a cluster of one, or peers unknown) it cannot be sure, so it fences', () => {
    assert.equal(reachesQuorum([15_900], 1, 16_000, 3000), false);
    assert.equal(decideGuard({ ...base, now: 16_000, hosts: 1, contacts: [15_900] }), 'fencing');
  });

  it('nothing leased: idle; fenced stays fenced until a newer lease', () => {
    assert.equal(decideGuard({ ...base, lease: undefined }), 'idle');
    assert.equal(decideGuard({ ...base, lease: { expiresAtMs: 15_000, vms: 0 } }), 'idle');
    const fenced = { ...base, state: 'fenced' as const, now: 16_000, fencedLeaseEndsAt: 15_000 };
    assert.equal(decideGuard(fenced), 'fenced');
    assert.equal(decideGuard({ ...fenced, lease: { expiresAtMs: 20_000, vms: 2 } }), 'leased');
    assert.equal(decideGuard({ ...base, state: 'fencing', lease: undefined }), 'fencing', 'a kill under way ends first');
  });

  it('a stepped wall clock changes nothing: only monotonic readings go in', () => {
    const realNow = Date.now;
    try {
      Date.now = () => realNow() + 3_600_000;
      assert.equal(decideGuard(base), 'leased');
      Date.now = () => realNow() - 3_600_000;
      assert.equal(decideGuard({ ...base, now: 16_000 }), 'fencing', 'an old lease does not look fresh');
    } finally {
      Date.now = realNow;
    }
  });

  it('every state the decision can name is reachable by a declared transition', () => {
    for (const from of GUARD_STATES) {
      for (const now of [10_000, 14_600, 16_000]) {
        for (const contacts of [[], [now - 100]]) {
          for (const lease of [undefined, { expiresAtMs: 15_000, vms: 1 }, { expiresAtMs: 30_000, vms: 1 }]) {
            const to = decideGuard({ state: from, now, contacts, hosts: 2, timing, ...(lease ? { lease } : {}), fencedLeaseEndsAt: 15_000 });
            assert.doesNotThrow(() => assertTransition(from, to), `${from} -> ${to}`);
          }
        }
      }
    }
    assert.throws(() => assertTransition('fencing', 'leased'), GuardTransitionError);
    assert.deepEqual(GUARD_TRANSITIONS.fencing, ['fenced']);
  });
});
