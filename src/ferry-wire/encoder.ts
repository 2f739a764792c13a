// ferry-wire encoder: frames → bytes. Spec: docs/ferry-wire.md.
//
//   0       1       2               4                               8
//   +-------+-------+---------------+-------------------------------+
//   | type  | flags |   channel     |            length             |  header, big-endian
//   +-------+-------+---------------+-------------------------------+
//   |                payload[length]  (≤ MAX_FRAME_PAYLOAD = 4 MiB)  |
//   +---------------------------------------------------------------+
//   |          crc32 of header + payload (IEEE, big-endian)          |
//   +---------------------------------------------------------------+
//
// Payloads (all integers big-endian):
//   HELLO      magic u32 "FRRY" | version u16 | 0 u16 | JSON Hello (≤ 64 KiB)
//   HELLO_ACK  version u16 | 0 u16 | JSON HelloAck (≤ 64 KiB)
//   DATA       bytes of the channel
//   MANIFEST   round u32 | count u32 | count × (id[32] | length u32 | flags u8: 1 = zero chunk)
//   WANT       round u32 | count u32 | count × index u32 (into that round's manifest)
//   CHUNK      round u32 | index u32 | codec u8 | id[32] | body
//   ACK        round u32 | chunks u32 | bytes u64
//   DONE, CLOSE  empty        ERROR  JSON {code, message} (≤ 64 KiB)
//   PING/PONG  seq u32 | time f64 (sender's clock, echoed)       WINDOW  increment u32
// flags are 0 in version 1. Payloads are never copied for DATA/CHUNK: encodeFrame returns parts
// to hand to a writev-capable socket.
import { crc32 } from './checksum.js';
import { CHUNK_ID_BYTES, CODECS, FRAME_TYPES, HEADER_BYTES, MAGIC, MANIFEST_ENTRY_BYTES, MANIFEST_ENTRY_ZERO, PROTOCOL_VERSION, TRAILER_BYTES } from './constants.js';
import type { Frame } from './frames.js';

function header(type: number, channel: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = type;
  h[1] = 0;
  h.writeUInt16BE(channel, 2);
  h.writeUInt32BE(length, 4);
  return h;
}

function framed(type: number, channel: number, parts: Buffer[]): Buffer[] {
  let length = 0;
  for (const p of parts) length += p.length;
  const h = header(type, channel, length);
  let crc = crc32(h);
  for (const p of parts) crc = crc32(p, crc);
  const t = Buffer.allocUnsafe(TRAILER_BYTES);
  t.writeUInt32BE(crc >>> 0, 0);
  return [h, ...parts, t];
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

function payloadOf(f: Frame): Buffer[] {
  switch (f.type) {
    case 'HELLO': {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(MAGIC, 0);
      b.writeUInt16BE(f.version, 4);
      return [b, json(f.hello)];
    }
    case 'HELLO_ACK': {
      const b = Buffer.alloc(4);
      b.writeUInt16BE(f.version, 0);
      return [b, json(f.ack)];
    }
    case 'DATA':
      return [f.data];
    case 'MANIFEST': {
      const b = Buffer.allocUnsafe(8 + f.entries.length * MANIFEST_ENTRY_BYTES);
      b.writeUInt32BE(f.round, 0);
      b.writeUInt32BE(f.entries.length, 4);
      let o = 8;
      for (const e of f.entries) {
        e.id.copy(b, o, 0, CHUNK_ID_BYTES);
        b.writeUInt32BE(e.length, o + CHUNK_ID_BYTES);
        b[o + CHUNK_ID_BYTES + 4] = e.zero ? MANIFEST_ENTRY_ZERO : 0;
        o += MANIFEST_ENTRY_BYTES;
      }
      return [b];
    }
    case 'WANT': {
      const b = Buffer.allocUnsafe(8 + f.indices.length * 4);
      b.writeUInt32BE(f.round, 0);
      b.writeUInt32BE(f.indices.length, 4);
      f.indices.forEach((ix, i) => b.writeUInt32BE(ix, 8 + i * 4));
      return [b];
    }
    case 'CHUNK': {
      const b = Buffer.allocUnsafe(9 + CHUNK_ID_BYTES);
      b.writeUInt32BE(f.round, 0);
      b.writeUInt32BE(f.index, 4);
      b[8] = CODECS[f.codec];
      f.id.copy(b, 9, 0, CHUNK_ID_BYTES);
      return [b, f.body];
    }
    case 'ACK': {
      const b = Buffer.allocUnsafe(16);
      b.writeUInt32BE(f.round, 0);
      b.writeUInt32BE(f.chunks, 4);
      b.writeBigUInt64BE(BigInt(f.bytes), 8);
      return [b];
    }
    case 'DONE':
    case 'CLOSE':
      return [];
    case 'ERROR':
      return [json({ code: f.code, message: f.message.slice(0, 4096) })];
    case 'PING':
    case 'PONG': {
      const b = Buffer.allocUnsafe(12);
      b.writeUInt32BE(f.seq >>> 0, 0);
      b.writeDoubleBE(f.time, 4);
      return [b];
    }
    case 'WINDOW': {
      const b = Buffer.allocUnsafe(4);
      b.writeUInt32BE(f.increment, 0);
      return [b];
    }
  }
}

/** The frame as buffers to write in order (header, payload parts, trailer). */
export function encodeFrameParts(f: Frame): Buffer[] {
  return framed(FRAME_TYPES[f.type], f.channel, payloadOf(f));
}

export function encodeFrame(f: Frame): Buffer {
  return Buffer.concat(encodeFrameParts(f));
}

export const HELLO_VERSION = PROTOCOL_VERSION;
