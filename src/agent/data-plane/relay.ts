// Joins QEMU's migration socket to a data-plane channel, both directions (the return path
// carries post-copy page requests). Backpressure both ways via pipe(); the first error or
// premature close reported once through `onError`; counts the bytes of the QEMU side.
import { createServer, createConnection, type Socket } from 'node:net';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
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

/** Listens on `path` for exactly one connection (QEMU's outgoing migration). */
export async function acceptOne(path: string, timeoutMs: number, signal: AbortSignal): Promise<{ accepted: Promise<Socket>; close(): void }> {
  rmSync(path, { force: true });
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const close = (): void => {
    server.close();
    rmSync(path, { force: true });
  };
  const accepted = new Promise<Socket>((resolve, reject) => {
    const timer = setTimeout(() => reject(new FerryError('TIMEOUT', `QEMU did not connect to ${path} within ${timeoutMs} ms`)), timeoutMs);
    signal.addEventListener('abort', () => reject(new FerryError('ABORTED', 'aborted')), { once: true });
    server.once('connection', (sock) => {
      clearTimeout(timer);
      close();
      resolve(sock);
    });
  });
  accepted.catch(() => close());
  return { accepted, close };
}

/** Connects to QEMU's incoming migration socket. */
export async function connectUnix(path: string): Promise<Socket> {
  const sock = createConnection({ path });
  await once(sock, 'connect');
  return sock;
}
