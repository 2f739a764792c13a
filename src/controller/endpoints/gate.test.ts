import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { HoldQueue, route, type RouteView } from './gate.js';

const view = (o: Partial<RouteView> = {}): RouteView => ({
  vm: { state: 'running', host: 'h1', endpoints: [{ guestPort: 80, host: '127.0.0.1', port: 40001 }] },
  confirmedHost: 'h1',
  switching: false,
  guestPort: 80,
  ...o,
});

describe('service endpoint routing', () => {
  it('connects to the forward of the VM of record on its host', () => {
    assert.deepEqual(route(view()), { kind: 'connect', host: '127.0.0.1', port: 40001 });
  });

  it('holds while a move switches over, even though the old forward still looks usable', () => {
    assert.equal(route(view({ switching: true })).kind, 'hold');
  });

  it('holds when the forwards are not (yet) the current host\'s', () => {
    assert.equal(route(view({ confirmedHost: undefined })).kind, 'hold');
    assert.equal(route(view({ confirmedHost: 'h0' })).kind, 'hold');
  });

  it('holds while the VM is not running or lacks the forward; refuses once the VM is gone', () => {
    assert.equal(route(view({ vm: { state: 'paused', host: 'h1', endpoints: [] } })).kind, 'hold');
    assert.equal(route(view({ guestPort: 22 })).kind, 'hold');
    assert.equal(route(view({ vm: undefined })).kind, 'refuse');
  });
});

describe('hold queue', () => {
  it('is bounded, drains oldest first, and expires what waits too long', async () => {
    const expired: string[] = [];
    const q = new HoldQueue<string>(2, 30, (s) => expired.push(s));
    assert.ok(q.hold('a'));
    assert.ok(q.hold('b'));
    assert.equal(q.hold('c'), false, 'full');
    assert.deepEqual(q.drain(), ['a', 'b']);
    assert.equal(q.size, 0);
    q.hold('d');
    q.hold('e');
    q.drop('e');
    await sleep(60);
    assert.deepEqual(expired, ['d']);
  });
});
