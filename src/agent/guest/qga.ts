// A small client of qemu-guest-agent (QGA) over the VM's virtio-serial channel (<vmdir>/qga.sock,
// qemu-command.ts). The channel carries no framing of its own and may hold a stale half-reply
// from an earlier client, so every call first resynchronises: `guest-sync-delimited` makes the
// agent send 0xFF and then echo our random id; everything before the 0xFF is dropped. Then one
// command, one JSON line back. What the guest sends is untrusted: replies are size-limited, and
// every call has a timeout and takes the caller's signal. One connection per call (the socket
// takes one client at a time).
import { randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { join } from 'node:path';
import { FerryError } from '../../contracts/index.js';
import { connectablePath } from '../launch.js';

export const QGA_SOCKET = 'qga.sock';
const MAX_REPLY_BYTES = 64 * 1024;
export const QGA_TIMEOUT_MS = 5_000;

export class GuestAgentError extends FerryError {
  constructor(message: string, cause?: unknown) {
    super('QEMU_FAILED', `guest agent: ${message}`, cause === undefined ? {} : { cause });
    this.name = 'GuestAgentError';
  }
}

/** Reads JSON lines after the 0xFF delimiter; pure, fed chunk by chunk. */
export class QgaReader {
  #buf = Buffer.alloc(0);
  #synced = false;

  /** Lines parsed so far from `chunk` (the first only after the delimiter). Throws on an oversize or non-JSON line. */
  push(chunk: Buffer): unknown[] {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    if (!this.#synced) {
      const ff = this.#buf.indexOf(0xff);
      if (ff < 0) {
        this.#buf = Buffer.alloc(0);
        return [];
      }
      this.#synced = true;
      this.#buf = this.#buf.subarray(ff + 1);
    }
    const out: unknown[] = [];
    for (let nl = this.#buf.indexOf(0x0a); nl >= 0; nl = this.#buf.indexOf(0x0a)) {
      const line = this.#buf.subarray(0, nl).toString('utf8').trim();
      this.#buf = this.#buf.subarray(nl + 1);
      if (line) out.push(JSON.parse(line));
    }
    if (this.#buf.length > MAX_REPLY_BYTES) throw new GuestAgentError(`reply longer than ${MAX_REPLY_BYTES} bytes`);
    return out;
  }
}

/** Runs `command` in the guest agent of the VM in `vmDir`; resolves with its `return` value. */
export function qgaCall(vmDir: string, command: string, args?: Record<string, unknown>, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
  const timeoutMs = opts.timeoutMs ?? QGA_TIMEOUT_MS;
  const syncId = randomInt(1, 2 ** 31);
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) return reject(new FerryError('ABORTED', `guest agent ${command}: aborted`));
    const sock = connect(connectablePath(join(vmDir, QGA_SOCKET)), () => {
      sock.write(`${JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id: syncId } })}\n`);
    });
    let settled = false;
    const finish = (err: Error | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const onAbort = (): void => finish(new FerryError('ABORTED', `guest agent ${command}: aborted`));
    const timer = setTimeout(() => finish(new GuestAgentError(`${command}: no answer within ${timeoutMs} ms (is qemu-guest-agent running in the guest?)`)), timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const reader = new QgaReader();
    let phase: 'sync' | 'command' = 'sync';
    sock.on('error', (err) => finish(new GuestAgentError(`${command}: ${err.message}`, err)));
    sock.on('close', () => finish(new GuestAgentError(`${command}: the channel closed before an answer`)));
    sock.on('data', (d: Buffer) => {
      let replies: unknown[];
      try {
        replies = reader.push(d);
      } catch (err) {
        return finish(err instanceof Error ? err : new GuestAgentError(String(err)));
      }
      for (const r of replies as { return?: unknown; error?: { desc?: string } }[]) {
        if (r.error) return finish(new GuestAgentError(`${phase === 'sync' ? 'guest-sync-delimited' : command}: ${r.error.desc ?? 'error'}`));
        if (phase === 'sync') {
          if (r.return !== syncId) continue; // a stale reply from before the sync
          phase = 'command';
          sock.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}) })}\n`);
        } else return finish(undefined, r.return);
      }
    });
  });
}
