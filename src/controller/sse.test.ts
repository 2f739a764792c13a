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
    hub.attach(res);
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
});
