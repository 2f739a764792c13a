// Chunk codecs (node:zlib): raw, deflate level 1, brotli quality 1. Decoding is bounded by the
// manifest's length so a hostile body cannot inflate without limit. Speeds are measured once,
// on first use, on a sample that compresses like typical guest memory.
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { CodecName } from './constants.js';
import { WireError } from './errors.js';

export function chunkId(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

const zeroIds = new Map<number, Buffer>();
/** The id of `length` zero bytes (cached per length). */
export function zeroChunkId(length: number): Buffer {
  let id = zeroIds.get(length);
  if (!id) {
    id = chunkId(Buffer.alloc(length));
    if (zeroIds.size < 64) zeroIds.set(length, id);
  }
  return id;
}

export function isZero(data: Buffer): boolean {
  // Compare 8 bytes at a time where aligned; fall back per byte.
  let i = 0;
  if (data.byteOffset % 8 === 0) {
    const words = new BigUint64Array(data.buffer, data.byteOffset, Math.floor(data.length / 8));
    for (const w of words) if (w !== 0n) return false;
    i = words.length * 8;
  }
  for (; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

export function compress(codec: CodecName, data: Buffer): Buffer {
  switch (codec) {
    case 'raw':
      return data;
    case 'deflate':
      return zlib.deflateRawSync(data, { level: 1 });
    case 'brotli':
      return zlib.brotliCompressSync(data, {
        params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length },
      });
  }
}

export function decompress(codec: CodecName, body: Buffer, length: number): Buffer {
  try {
    switch (codec) {
      case 'raw':
        return body;
      case 'deflate':
        return zlib.inflateRawSync(body, { maxOutputLength: length });
      case 'brotli':
        return zlib.brotliDecompressSync(body, { maxOutputLength: length });
    }
  } catch (err) {
    throw new WireError('WIRE_CHUNK_CORRUPT', `${codec} body does not decode`, { cause: err });
  }
}

export type CodecSpeeds = Record<'deflate' | 'brotli', number>;
let measured: CodecSpeeds | undefined;

/** Compression speed of each codec in input bytes per second, measured once per process. */
export function codecSpeeds(): CodecSpeeds {
  if (measured) return measured;
  const sample = Buffer.alloc(256 * 1024);
  for (let i = 0; i < sample.length; i++) sample[i] = i % 7 === 0 ? (i * 31) & 0xff : 48 + ((i * 13) % 10);
  const time = (c: CodecName): number => {
    const t = performance.now();
    compress(c, sample);
    compress(c, sample);
    const s = (performance.now() - t) / 1000;
    return s > 0 ? (2 * sample.length) / s : 1e9;
  };
  measured = { deflate: time('deflate'), brotli: time('brotli') };
  return measured;
}
