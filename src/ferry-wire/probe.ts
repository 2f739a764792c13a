// Link probe for the planner (session kind `probe`): RTT from PINGs, then a timed transfer on
// CHANNEL_PROBE that the peer counts, discards and answers with the count (u64) when it ends.
import { once } from 'node:events';
import { CHANNEL_PROBE, MiB } from './constants.js';
import { WireError } from './errors.js';
import type { WireSession } from './types.js';

export interface LinkMeasurement {
  bytesPerSec: number;
  rttMs: number;
}

/** Acceptor side, installed automatically for `probe` sessions. */
export function serveProbe(session: WireSession): void {
  const ch = session.channel(CHANNEL_PROBE);
  let count = 0;
  ch.on('data', (b: Buffer) => (count += b.length));
  ch.on('error', () => {});
  ch.on('end', () => {
    const reply = Buffer.alloc(8);
    reply.writeBigUInt64BE(BigInt(count));
    ch.end(reply);
  });
}

export async function measureLink(session: WireSession, opts: { bytes: number; signal?: AbortSignal }): Promise<LinkMeasurement> {
  const rtts: number[] = [];
  for (let i = 0; i < 3; i++) rtts.push(await session.ping());
  rtts.sort((a, b) => a - b);
  const ch = session.channel(CHANNEL_PROBE);
  const reply: Buffer[] = [];
  ch.on('data', (b: Buffer) => reply.push(b));
  const ended = once(ch, 'end', opts.signal ? { signal: opts.signal } : {});
  const block = Buffer.alloc(Math.min(MiB, Math.max(1, opts.bytes)), 0x5a);
  const t0 = performance.now();
  for (let sent = 0; sent < opts.bytes; ) {
    opts.signal?.throwIfAborted();
    const n = Math.min(block.length, opts.bytes - sent);
    if (!ch.write(block.subarray(0, n))) await once(ch, 'drain', opts.signal ? { signal: opts.signal } : {});
    sent += n;
  }
  ch.end();
  await ended;
  const secs = (performance.now() - t0) / 1000;
  const got = Buffer.concat(reply);
  if (got.length !== 8 || Number(got.readBigUInt64BE(0)) !== opts.bytes) throw new WireError('WIRE_PROTOCOL', 'probe peer counted a different number of bytes');
  return { bytesPerSec: opts.bytes / Math.max(secs, 1e-6), rttMs: rtts[1]! };
}
