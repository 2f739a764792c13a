// Payload decoding for one complete, checksum-verified frame. Pure; throws WireError('WIRE_PROTOCOL')
// on anything that does not match the layout in encoder.ts.
import {
  CHUNK_ID_BYTES, CODEC_NAMES, MAGIC, MANIFEST_ENTRY_BYTES, MANIFEST_ENTRY_ZERO, MAX_CHUNK_BYTES,
  MAX_JSON_BYTES, MAX_MANIFEST_ENTRIES, PROTOCOL_VERSION, type FrameTypeName,
} from './constants.js';
import { WireError } from './errors.js';
import type { Frame, Hello, HelloAck, ManifestEntry } from './frames.js';

function bad(msg: string): WireError {
  return new WireError('WIRE_PROTOCOL', msg);
}
function need(p: Buffer, n: number, what: string): void {
  if (p.length !== n) throw bad(`${what}: payload of ${p.length} bytes, expected ${n}`);
}
function parseJson(p: Buffer, what: string): Record<string, unknown> {
  if (p.length > MAX_JSON_BYTES) throw new WireError('WIRE_FRAME_TOO_LARGE', `${what}: JSON of ${p.length} bytes`);
  let v: unknown;
  try {
    v = JSON.parse(p.toString('utf8'));
  } catch (err) {
    throw new WireError('WIRE_PROTOCOL', `${what}: invalid JSON`, { cause: err });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${what}: not an object`);
  return v as Record<string, unknown>;
}
const MODES = ['passthrough', 'chunked'];
const KINDS = ['migration', 'probe', 'replication'];
function strings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > 64 || !v.every((s) => typeof s === 'string' && s.length <= 64)) throw bad(`${what}: bad capabilities`);
  return v as string[];
}

function hello(o: Record<string, unknown>): Hello {
  const { kind, sessionId, role, capabilities, mode, meta } = o;
  if (typeof kind !== 'string' || !KINDS.includes(kind)) throw bad('HELLO: bad kind');
  if (typeof sessionId !== 'string' || sessionId.length < 1 || sessionId.length > 128) throw bad('HELLO: bad sessionId');
  if (typeof role !== 'string' || role.length > 64) throw bad('HELLO: bad role');
  if (mode !== undefined && (typeof mode !== 'string' || !MODES.includes(mode))) throw bad('HELLO: bad mode');
  if (meta !== undefined && (typeof meta !== 'object' || meta === null || Array.isArray(meta))) throw bad('HELLO: bad meta');
  return {
    kind: kind as Hello['kind'], sessionId, role, capabilities: strings(capabilities, 'HELLO'),
    ...(mode === undefined ? {} : { mode: mode as Hello['mode'] }),
    ...(meta === undefined ? {} : { meta: meta as Record<string, unknown> }),
  };
}

function helloAck(o: Record<string, unknown>): HelloAck {
  if (typeof o.mode !== 'string' || !MODES.includes(o.mode)) throw bad('HELLO_ACK: bad mode');
  return { mode: o.mode as HelloAck['mode'], capabilities: strings(o.capabilities, 'HELLO_ACK') };
}

function counted(p: Buffer, each: number, what: string): { round: number; count: number } {
  if (p.length < 8) throw bad(`${what}: short payload`);
  const round = p.readUInt32BE(0);
  const count = p.readUInt32BE(4);
  if (count > MAX_MANIFEST_ENTRIES) throw new WireError('WIRE_FRAME_TOO_LARGE', `${what}: ${count} entries`);
  need(p, 8 + count * each, what);
  return { round, count };
}

export function decodePayload(type: FrameTypeName, channel: number, p: Buffer): Frame {
  switch (type) {
    case 'HELLO': {
      if (p.length < 8 || p.readUInt32BE(0) !== MAGIC) throw bad('HELLO: bad magic');
      const version = p.readUInt16BE(4);
      if (version !== PROTOCOL_VERSION) throw bad(`HELLO: unsupported version ${version}`);
      return { type, channel, version, hello: hello(parseJson(p.subarray(8), type)) };
    }
    case 'HELLO_ACK': {
      if (p.length < 4) throw bad('HELLO_ACK: short payload');
      const version = p.readUInt16BE(0);
      if (version !== PROTOCOL_VERSION) throw bad(`HELLO_ACK: unsupported version ${version}`);
      return { type, channel, version, ack: helloAck(parseJson(p.subarray(4), type)) };
    }
    case 'DATA':
      return { type, channel, data: p };
    case 'MANIFEST': {
      const { round, count } = counted(p, MANIFEST_ENTRY_BYTES, type);
      const entries: ManifestEntry[] = [];
      for (let i = 0, o = 8; i < count; i++, o += MANIFEST_ENTRY_BYTES) {
        const length = p.readUInt32BE(o + CHUNK_ID_BYTES);
        const flags = p[o + CHUNK_ID_BYTES + 4]!;
        if (length < 1 || length > MAX_CHUNK_BYTES) throw new WireError('WIRE_FRAME_TOO_LARGE', `MANIFEST: chunk of ${length} bytes`);
        if (flags & ~MANIFEST_ENTRY_ZERO) throw bad('MANIFEST: unknown entry flags');
        entries.push({ id: Buffer.from(p.subarray(o, o + CHUNK_ID_BYTES)), length, zero: (flags & MANIFEST_ENTRY_ZERO) !== 0 });
      }
      return { type, channel, round, entries };
    }
    case 'WANT': {
      const { round, count } = counted(p, 4, type);
      const indices: number[] = [];
      for (let i = 0; i < count; i++) indices.push(p.readUInt32BE(8 + i * 4));
      return { type, channel, round, indices };
    }
    case 'CHUNK': {
      if (p.length < 9 + CHUNK_ID_BYTES) throw bad('CHUNK: short payload');
      const codec = CODEC_NAMES.get(p[8]!);
      if (!codec) throw bad(`CHUNK: unknown codec ${p[8]}`);
      const body = p.subarray(9 + CHUNK_ID_BYTES);
      return { type, channel, round: p.readUInt32BE(0), index: p.readUInt32BE(4), codec, id: p.subarray(9, 9 + CHUNK_ID_BYTES), body };
    }
    case 'ACK': {
      need(p, 16, type);
      const bytes = p.readBigUInt64BE(8);
      if (bytes > BigInt(Number.MAX_SAFE_INTEGER)) throw bad('ACK: byte count out of range');
      return { type, channel, round: p.readUInt32BE(0), chunks: p.readUInt32BE(4), bytes: Number(bytes) };
    }
    case 'DONE':
    case 'CLOSE':
      need(p, 0, type);
      return { type, channel };
    case 'ERROR': {
      const o = parseJson(p, type);
      if (typeof o.code !== 'string' || typeof o.message !== 'string') throw bad('ERROR: needs code and message');
      return { type, channel, code: o.code.slice(0, 64), message: o.message };
    }
    case 'PING':
    case 'PONG':
      need(p, 12, type);
      return { type, channel, seq: p.readUInt32BE(0), time: p.readDoubleBE(4) };
    case 'WINDOW': {
      need(p, 4, type);
      const increment = p.readUInt32BE(0);
      if (increment === 0) throw bad('WINDOW: zero increment');
      return { type, channel, increment };
    }
  }
}
