// A service endpoint against real loopback sockets: a backend answering with its own name
// stands in for a VM's forwarded port.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { askLine as ask } from '../../testing/controller/tcp.js';
import { waitFor } from '../../testing/wait-for.js';
import type { Route } from './gate.js';
import { EndpointListener } from './proxy.js';

function backend(name: string): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer((s) => {
      s.once('data', () => s.end(`${name}\n`));
      s.on('error', () => undefined);
    });
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}


describe('service endpoint listener', () => {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const c of closers) await c();
  });

  it('pipes to the current location, holds during a switch and releases to the new one', async () => {
    const a = await backend('a');
    const b = await backend('b');
    closers.push(() => a.server.close(), () => b.server.close());
    let r: Route = { kind: 'connect', host: '127.0.0.1', port: a.port };
    const l = new EndpointListener({ name: 't', port: 0, route: () => r, limits: { holdMs: 2000 } });
    const port = await l.listen();
    closers.push(() => l.close());
    assert.equal(await ask(port), 'a');
    r = { kind: 'hold', why: 'switching' };
    const held = ask(port);
    await sleep(100);
    assert.equal(l.heldCount, 1);
    r = { kind: 'connect', host: '127.0.0.1', port: b.port };
    l.wake();
    assert.equal(await held, 'b', 'the held client reached the new location, not the old one');
  });

  it('closes a held connection after its deadline', async () => {
    const l = new EndpointListener({ name: 't2', port: 0, route: () => ({ kind: 'hold', why: 'nowhere yet' }), limits: { holdMs: 150 } });
    const port = await l.listen();
    closers.push(() => l.close());
    const answer = ask(port);
    await waitFor('one connection held', () => l.heldCount === 1, { everyMs: 5 });
    assert.equal(await answer, '', 'closed unanswered once the deadline passed');
    assert.equal(l.heldCount, 0);
  });

  it('refuses at once when told to, without holding', { timeout: 5_000 }, async () => {
    // A hold would last a minute and time the test out: an empty answer here is a refusal.
    const l = new EndpointListener({ name: 't2r', port: 0, route: () => ({ kind: 'refuse', why: 'gone' }), limits: { holdMs: 60_000 } });
    const port = await l.listen();
    closers.push(() => l.close());
    assert.equal(await ask(port), '');
    assert.equal(l.heldCount, 0);
  });

  it('retries a backend that refuses until the route changes, within the hold deadline', async () => {
    const dead = await backend('dead');
    const deadPort = dead.port;
    await new Promise((res) => dead.server.close(res));
    const b = await backend('b');
    closers.push(() => b.server.close());
    let r: Route = { kind: 'connect', host: '127.0.0.1', port: deadPort };
    const l = new EndpointListener({ name: 't3', port: 0, route: () => r, limits: { holdMs: 3000, retryMs: 50 } });
    const port = await l.listen();
    closers.push(() => l.close());
    const answer = ask(port);
    await sleep(200);
    r = { kind: 'connect', host: '127.0.0.1', port: b.port };
    assert.equal(await answer, 'b');
  });

  it('close is idempotent and ends held clients', async () => {
    const l = new EndpointListener({ name: 't4', port: 0, route: () => ({ kind: 'hold', why: 'x' }) });
    const port = await l.listen();
    const held = ask(port);
    await sleep(50);
    await Promise.all([l.close(), l.close()]);
    assert.equal(await held, '');
  });
});
