// Which codec for a chunk (MECOM: by content) and link (compress only when it saves time).
// Pure: callers pass the measured link and codec speeds.
import type { CodecName } from './constants.js';

export type ChunkCodec = CodecName | 'zero';

/** Order-0 entropy of a strided sample, in bits per byte (0 = constant, 8 = random). */
export function entropyBitsPerByte(data: Uint8Array, sampleBytes = 4096): number {
  if (data.length === 0) return 0;
  const counts = new Uint32Array(256);
  const step = Math.max(1, Math.floor(data.length / sampleBytes));
  let n = 0;
  for (let i = 0; i < data.length; i += step, n++) counts[data[i]!]!++;
  let h = 0;
  for (const c of counts) {
    if (c === 0) continue;
    const p = c / n;
    h -= p * Math.log2(p);
  }
  return h;
}

/** Above this a chunk is treated as incompressible (already compressed/encrypted data). */
export const INCOMPRESSIBLE_BITS = 7.5;

/** Expected compressed size as a fraction of the input; order-0 entropy is a conservative guess. */
export function expectedRatio(codec: 'deflate' | 'brotli', bits: number): number {
  const overhead = codec === 'brotli' ? 1.0 : 1.08;
  return Math.min(1, (bits / 8) * overhead + 0.01);
}

export interface CodecChoiceInput {
  zero: boolean;
  entropyBits: number;
  /** Link speed in bytes/s; Infinity when unknown and uncapped (assume a fast LAN). */
  linkBytesPerSec: number;
  codecSpeeds: Record<'deflate' | 'brotli', number>;
}

/** The codec that gets the chunk across soonest: time to compress + time to send what's left. */
export function chooseCodec(i: CodecChoiceInput): ChunkCodec {
  if (i.zero) return 'zero';
  if (i.entropyBits >= INCOMPRESSIBLE_BITS || !Number.isFinite(i.linkBytesPerSec)) return 'raw';
  const raw = 1 / i.linkBytesPerSec;
  let best: ChunkCodec = 'raw';
  let bestTime = raw * 0.9; // compress only for a clear win
  for (const c of ['deflate', 'brotli'] as const) {
    const t = 1 / i.codecSpeeds[c] + expectedRatio(c, i.entropyBits) * raw;
    if (t < bestTime) {
      best = c;
      bestTime = t;
    }
  }
  return best;
}
