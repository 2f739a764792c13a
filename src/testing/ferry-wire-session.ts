// Test helpers for sessions over real loopback TCP (not part of the public surface).
import * as net from 'node:net';
import { once } from 'node:events';
import type { Duplex, Readable } from 'node:stream';
import { acceptSession, openSession, type HelloInit } from '../ferry-wire/handshake.js';
import type { Hello } from '../ferry-wire/frames.js';
import type { SessionOptions, WireSession } from '../ferry-wire/types.js';

export interface Pair {
  client: WireSession;
  server: WireSession;
  clientSocket: net.Socket;
  serverSocket: net.Socket;
}

export async function listen(onSocket: (s: net.Socket) => void): Promise<{ port: number; close: () => void }> {
  const srv = net.createServer(onSocket);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

export async function pair(
  clientOpts: SessionOptions,
  decide: (h: Hello) => SessionOptions | Promise<SessionOptions>,
  hello: HelloInit = { kind: 'migration', sessionId: 'test-1' },
): Promise<Pair> {
  let serverSocket!: net.Socket;
  const accepted = new Promise<WireSession>((resolve, reject) => {
    void listen((s) => {
      serverSocket = s;
      acceptSession(s, decide).then(resolve, reject);
    }).then((l) => {
      listening.resolve(l);
    });
  });
  accepted.catch(() => {});
  const listening = deferred<{ port: number; close: () => void }>();
  const l = await listening.p;
  const clientSocket = net.connect(l.port, '127.0.0.1');
  await once(clientSocket, 'connect');
  l.close();
  const client = await openSession(clientSocket, hello, clientOpts);
  const server = await accepted;
  return { client, server, clientSocket, serverSocket };
}

export function deferred<T>(): { p: Promise<T>; resolve: (v: T) => void; reject: (e: Error) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const p = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { p, resolve, reject };
}

/** Reads a stream to its end; on error resolves with what arrived and the error. */
export function collect(s: Readable): Promise<{ data: Buffer; error?: Error }> {
  const parts: Buffer[] = [];
  s.on('data', (b: Buffer) => parts.push(b));
  return new Promise((resolve) => {
    s.once('end', () => resolve({ data: Buffer.concat(parts) }));
    s.once('error', (error: Error) => resolve({ data: Buffer.concat(parts), error }));
  });
}

/** Writes `data` in pieces honouring backpressure, then ends. */
export async function feed(s: Duplex, data: Buffer, piece = 256 * 1024): Promise<void> {
  for (let o = 0; o < data.length; o += piece) {
    if (!s.write(data.subarray(o, o + piece))) await once(s, 'drain');
  }
  s.end();
}

export function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: { code?: string }) => e.code ?? 'no code',
  );
}
