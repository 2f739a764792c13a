import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { ServerResponse } from 'node:http';
import { EventBus } from './events.js';
import { formatEvent, SseHub } from './sse.js';

/** Just enough of a ServerResponse for the hub: a writable stream with writeHead. */
function fakeResponse(): { res: ServerResponse; out: () => string } {
  const s = new PassThrough();
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  return { res: Object.assign(s, { writeHead: () => s }) as unknown as ServerResponse, out: () => text };
}

describe('SSE', () => {
  it('formats an event with id, type and JSON data', () => {
    assert.equal(formatEvent({ id: 7, event: { type: 'vm.removed', name: 'a' } }), 'id: 7\nevent: vm.removed\ndata: {"type":"vm.removed","name":"a"}\n\n');
  });

  it('streams bus events and removes its listener when the client goes away', () => {
    const bus = new EventBus();
    const hub = new SseHub(bus);
    const { res, out } = fakeResponse();
    hub.attach(res, '127.0.0.1');
    assert.equal(bus.listenerCount(), 1);
    bus.publish({ type: 'vm.removed', name: 'a' });
    res.destroy();
    res.emit('close');
    assert.equal(bus.listenerCount(), 0);
    assert.equal(hub.size, 0);
    hub.closeAll();
    return new Promise<void>((resolve) => setImmediate(() => {
      assert.match(out(), /event: vm.removed/);
      resolve();
    }));
  });

  it('caps streams per client (429) and in total (503); a closed stream frees its slot', () => {
    const hub = new SseHub(new EventBus(), { perClient: 2, total: 3 });
    const a = [fakeResponse().res, fakeResponse().res];
    for (const res of a) hub.attach(res, '10.0.0.1');
    assert.throws(() => hub.admit('10.0.0.1'), { code: 'RATE_LIMITED' });
    assert.throws(() => hub.attach(fakeResponse().res, '10.0.0.1'), { code: 'RATE_LIMITED' });
    hub.attach(fakeResponse().res, '10.0.0.2');
    assert.throws(() => hub.admit('10.0.0.3'), { code: 'BUSY' });
    a[0]!.emit('close');
    hub.admit('10.0.0.1');
    hub.admit('10.0.0.3');
    hub.closeAll();
    assert.equal(hub.size, 0);
  });
});
