// Joins QEMU's migration socket to a data-plane channel, both directions (the return path
// carries post-copy page requests). Backpressure both ways via pipe(); the first error or
// premature close reported once through `onError`; counts the bytes of the QEMU side.
import { createServer, createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Duplex } from 'node:stream';
import { FerryError } from '../../contracts/index.js';

export interface Relay {
  /** Bytes QEMU wrote into the relay, and bytes the relay gave QEMU. */
  fromQemu(): number;
  toQemu(): number;
  /** Settles once everything QEMU wrote has been handed to the channel and the channel ended (or closed). */
  readonly flushed: Promise<void>;
  destroy(): void;
}

export function relay(qemu: Socket, channel: Duplex, onError: (err: Error) => void): Relay {
  let failed = false;
  const fail = (err: Error): void => {
    if (failed) return;
    failed = true;
    onError(err);
  };
  qemu.on('error', fail);
  channel.on('error', fail);
  const flushed = new Promise<void>((resolve) => channel.once('finish', resolve).once('close', resolve));
  qemu.pipe(channel);
  channel.pipe(qemu);
  return {
    flushed,
    fromQemu: () => qemu.bytesRead,
    toQemu: () => qemu.bytesWritten,
    destroy() {
      failed = true;
      qemu.destroy();
    },
  };
}

/**
 * Resolves once `r` has flushed what QEMU wrote into it (Relay.flushed), after `timeoutMs` at the
 * most, or at once without a relay or once `signal` fired. Closing a session before that would end
 * its channel early: the peer would get a truncated stream.
 */
export async function waitFlushed(r: Relay | undefined, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (!r) return;
  await Promise.race([r.flushed, sleep(timeoutMs, undefined, { signal }).catch(() => undefined)]);
}

/**
 * Listens on `path` for exactly one connection (QEMU's outgoing migration, an NBD client).
 * `accepted` rejects on timeout, abort or close(); the listener is gone once it settled.
 */
export async function acceptOne(path: string, timeoutMs: number, signal: AbortSignal): Promise<{ accepted: Promise<Socket>; close(): void }> {
  rmSync(path, { force: true });
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  let settle!: (err: Error | undefined, sock?: Socket) => void;
  const accepted = new Promise<Socket>((resolve, reject) => {
    const onConnection = (sock: Socket): void => settle(undefined, sock);
    const onAbort = (): void => settle(new FerryError('ABORTED', `waiting for QEMU on ${path}: aborted`));
    const timer = setTimeout(() => settle(new FerryError('TIMEOUT', `QEMU did not connect to ${path} within ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    settle = (err, sock) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      server.off('connection', onConnection);
      server.close();
      rmSync(path, { force: true });
      if (err) reject(err);
      else resolve(sock!);
    };
    server.once('connection', onConnection);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) onAbort();
  });
  accepted.catch(() => undefined);
  return { accepted, close: () => settle(new FerryError('ABORTED', `stopped listening on ${path}`)) };
}

/** Connects to a Unix socket QEMU listens on (its incoming migration, its NBD server). */
export async function connectUnix(path: string, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  const sock = createConnection({ path });
  const timer = setTimeout(() => sock.destroy(new FerryError('TIMEOUT', `no connection to ${path} within ${timeoutMs} ms`)), timeoutMs);
  const onAbort = (): void => void sock.destroy(new FerryError('ABORTED', `connecting to ${path}: aborted`));
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  try {
    await once(sock, 'connect');
    return sock;
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
