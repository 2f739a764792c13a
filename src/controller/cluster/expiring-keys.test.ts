import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiringKeys } from './expiring-keys.js';
import { ForeignCopies } from './foreign-copies.js';
import { TOMBSTONE_MS, Tombstones } from './tombstones.js';

describe('keys held until a time', () => {
  it('a key is held until its time, then forgotten', () => {
    const clock = { now: 1000 };
    const keys = new ExpiringKeys(() => clock.now);
    keys.holdFor('a', 50);
    keys.hold('b', Infinity);
    assert.equal(keys.has('a'), true);
    clock.now = 1050;
    assert.equal(keys.has('a'), false);
    assert.equal(keys.has('b'), true);
    assert.equal(keys.has('c'), false);
  });

  it('tombstones: a deleted VM is remembered for TOMBSTONE_MS', () => {
    const clock = { now: 0 };
    const t = new Tombstones(() => clock.now);
    t.remember('uuid-1');
    clock.now = TOMBSTONE_MS - 1;
    assert.equal(t.recentlyRemoved('uuid-1'), true);
    assert.equal(t.recentlyRemoved('uuid-2'), false);
    clock.now = TOMBSTONE_MS;
    assert.equal(t.recentlyRemoved('uuid-1'), false);
  });

  it('foreign copies: held while their task runs, and TOMBSTONE_MS after it settles', async () => {
    const clock = { now: 0 };
    const f = new ForeignCopies(() => clock.now);
    let settle!: () => void;
    f.holdUntil('web-drtest-1', new Promise<void>((r) => (settle = r)));
    clock.now = 10 * TOMBSTONE_MS;
    assert.equal(f.isForeign('web-drtest-1'), true, 'no expiry while the task runs');
    settle();
    await new Promise((r) => setImmediate(r));
    clock.now += TOMBSTONE_MS - 1;
    assert.equal(f.isForeign('web-drtest-1'), true, 'a late heartbeat is still skipped');
    clock.now += 1;
    assert.equal(f.isForeign('web-drtest-1'), false);
  });
});
