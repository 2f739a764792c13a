// What a hostile peer (one that passed the handshake) cannot do to a session: open channels
// nobody asked for, buffer more than the session window, or grow our socket queue with PONGs.
// The floods run against a separate process whose memory is measured (a size, not a time).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { CONTROL_BACKLOG_BYTES, INITIAL_WINDOW, MiB, PROTOCOL_VERSION, SESSION_WINDOW } from './constants.js';
import { encodeFrame } from './encoder.js';
import { FrameParser } from './parser.js';
import { collect, codeOf, pair } from '../testing/ferry-wire-session.js';

const target = fileURLToPath(new URL('../testing/ferry-wire-flood-target.js', import.meta.url));

interface Target {
  child: ChildProcess;
  port: number;
  ask<T>(msg: string, type: string): Promise<T>;
  ended: Promise<string>;
}

async function startTarget(peerChannels: number): Promise<Target> {
  const child = fork(target, [String(peerChannels)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (type: string): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const on = (m: Record<string, unknown>): void => {
        if (m.type !== type) return;
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
    });
  const ready = await next('ready');
  return {
    child,
    port: ready.port as number,
    ask: async <T>(msg: string, type: string) => {
      const reply = next(type);
      child.send(msg);
      return (await reply) as T;
    },
    ended: next('ended').then((m) => m.code as string),
  };
}

/** A raw peer: handshake done by hand, then whatever frames the test writes. */
async function rawPeer(port: number): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  sock.on('error', () => undefined);
  await once(sock, 'connect');
  sock.write(encodeFrame({ type: 'HELLO', channel: 0, version: PROTOCOL_VERSION, hello: { kind: 'migration', sessionId: 'flood', role: 'source', capabilities: [], mode: 'passthrough' } }));
  const parser = new FrameParser();
  for (;;) {
    const [chunk] = (await once(sock, 'data')) as [Buffer];
    if (parser.push(chunk).some((f) => f.type === 'HELLO_ACK')) return sock;
  }
}

function drainOrClose(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      sock.off('drain', done).off('close', done);
      resolve();
    };
    sock.on('drain', done).on('close', done);
  });
}

/** Writes frames until done or the socket closes; returns the bytes written. */
async function flood(sock: net.Socket, frames: Iterable<Buffer>): Promise<number> {
  let sent = 0;
  for (const f of frames) {
    if (sock.destroyed || !sock.writable) break;
    sent += f.length;
    if (!sock.write(f)) await drainOrClose(sock);
  }
  return sent;
}

test('DATA on a channel nobody opened fails the session with WIRE_PROTOCOL on both sides', async () => {
  const { client, server, clientSocket } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough' }));
  clientSocket.write(encodeFrame({ type: 'DATA', channel: 7, data: Buffer.from('uninvited') }));
  assert.equal(await codeOf(server.closed), 'WIRE_PROTOCOL');
  assert.equal(await codeOf(client.closed), 'WIRE_PROTOCOL');
});

test('a flood of channels on one session is refused and the receiver stays under 16 MiB of growth', async () => {
  const t = await startTarget(9);
  try {
    await t.ask('reset', 'reset');
    const sock = await rawPeer(t.port);
    const piece = randomBytes(16 * 1024);
    function* frames(): Generator<Buffer> {
      for (let ch = 1; ch <= 0xffff; ch++) yield encodeFrame({ type: 'DATA', channel: ch, data: piece });
    }
    const sent = await flood(sock, frames());
    assert.equal(await t.ended, 'WIRE_PROTOCOL', 'channel 9 and up were never opened');
    const { growth } = await t.ask<{ growth: number }>('peak', 'peak');
    assert.ok(growth < 16 * MiB, `receiver grew by ${(growth / MiB).toFixed(1)} MiB while the peer wrote ${(sent / MiB).toFixed(1)} MiB`);
    sock.destroy();
  } finally {
    t.child.kill();
  }
});

test('a peer that fills every channel it may open is cut off at the session window, not at channels × window', async () => {
  const t = await startTarget(9);
  try {
    await t.ask('reset', 'reset');
    const sock = await rawPeer(t.port);
    const piece = randomBytes(MiB);
    function* frames(): Generator<Buffer> {
      // Each channel's own window is respected (16 MiB); together they are 144 MiB.
      for (let ch = 0; ch < 9; ch++) for (let i = 0; i < INITIAL_WINDOW / MiB; i++) yield encodeFrame({ type: 'DATA', channel: ch, data: piece });
    }
    const sent = await flood(sock, frames());
    assert.equal(await t.ended, 'WIRE_LIMIT');
    const { growth } = await t.ask<{ growth: number }>('peak', 'peak');
    assert.ok(growth < SESSION_WINDOW + 32 * MiB, `receiver grew by ${(growth / MiB).toFixed(1)} MiB while the peer wrote ${(sent / MiB).toFixed(1)} MiB`);
    sock.destroy();
  } finally {
    t.child.kill();
  }
});

test('a writer on many channels waits at the session window; everything arrives once the reader reads', async () => {
  const channels = 6;
  const each = 16 * MiB;
  const { client, server } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough', peerChannels: channels }));
  const data = randomBytes(each);
  const writes = Array.from({ length: channels }, (_, n) => new Promise<void>((resolve, reject) => client.channel(n).end(data, (err?: Error | null) => (err ? reject(err) : resolve()))));
  // Nobody reads yet: the writers run out of session credit, the receiver holds at most the window.
  await new Promise((r) => setTimeout(r, 500));
  const rx = Array.from({ length: channels }, (_, n) => server.channel(n));
  const held = rx.reduce((sum, ch) => sum + ch.readableLength, 0);
  assert.ok(held <= SESSION_WINDOW, `receiver holds ${held} bytes`);
  assert.ok(held < channels * each, 'the writers were held back');
  const got = await Promise.all(rx.map((ch) => collect(ch)));
  await Promise.all(writes);
  for (const g of got) assert.ok(g.data.equals(data));
  await client.close();
  await server.closed;
});

test('PINGs from a peer that does not read get no growing queue of PONGs', async () => {
  const { client, server, clientSocket, serverSocket } = await pair({ mode: 'passthrough' }, () => ({ mode: 'passthrough' }));
  clientSocket.pause(); // the client reads nothing from here on
  const ping = encodeFrame({ type: 'PING', channel: 0, seq: 1, time: 0 });
  const pings = Buffer.concat(Array.from({ length: 20_000 }, () => ping));
  let most = 0;
  for (let i = 0; i < 40; i++) {
    if (!clientSocket.write(pings)) await once(clientSocket, 'drain');
    most = Math.max(most, serverSocket.writableLength);
  }
  await new Promise((r) => setImmediate(r));
  most = Math.max(most, serverSocket.writableLength);
  // 800,000 PONGs would be 19 MiB; the queue stops at the backlog limit plus one PONG.
  assert.ok(most <= CONTROL_BACKLOG_BYTES + 64, `server queued ${most} bytes`);
  client.destroy();
  server.destroy();
});
