// ferry-wire parser: a pure, push-based state machine (after nats.js core/src/parser.ts).
// push(bytes) returns the frames completed by those bytes. It never holds more than one frame
// (≤ MAX_FRAME_BYTES): a length above the limit, an unknown type or non-zero flags are refused
// as soon as the 8-byte header is in, before any payload is buffered. After an error the parser
// stays failed and rethrows it. Layout: encoder.ts, docs/ferry-wire.md.
import { crc32 } from './checksum.js';
import { FRAME_TYPE_NAMES, HEADER_BYTES, MAX_FRAME_PAYLOAD, TRAILER_BYTES, type FrameTypeName } from './constants.js';
import { decodePayload } from './decode.js';
import { WireError } from './errors.js';
import type { Frame } from './frames.js';

export class FrameParser {
  #parts: Buffer[] = [];
  #buffered = 0;
  /** Total bytes of the frame being assembled, known once its header is in; 0 before. */
  #need = 0;
  #type: FrameTypeName | undefined;
  #failed: WireError | undefined;

  /** Bytes held while waiting for the rest of a frame (always ≤ MAX_FRAME_BYTES). */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (this.#failed) throw this.#failed;
    const out: Frame[] = [];
    if (chunk.length === 0) return out;
    this.#parts.push(chunk);
    this.#buffered += chunk.length;
    try {
      for (;;) {
        if (this.#need === 0) {
          if (this.#buffered < HEADER_BYTES) break;
          this.#readHeader();
        }
        if (this.#buffered < this.#need) break;
        out.push(this.#readFrame());
      }
    } catch (err) {
      this.#failed = err instanceof WireError ? err : new WireError('WIRE_PROTOCOL', String(err), { cause: err });
      this.#parts = [];
      this.#buffered = 0;
      throw this.#failed;
    }
    return out;
  }

  #take(n: number): Buffer {
    const first = this.#parts[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#parts.shift();
      else this.#parts[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let o = 0;
      while (o < n) {
        const p = this.#parts[0]!;
        const k = Math.min(p.length, n - o);
        p.copy(out, o, 0, k);
        o += k;
        if (k === p.length) this.#parts.shift();
        else this.#parts[0] = p.subarray(k);
      }
    }
    this.#buffered -= n;
    return out;
  }

  #peekHeader(): Buffer {
    const first = this.#parts[0]!;
    if (first.length >= HEADER_BYTES) return first.subarray(0, HEADER_BYTES);
    const h = Buffer.concat(this.#parts, Math.min(this.#buffered, 64)).subarray(0, HEADER_BYTES);
    return h;
  }

  #readHeader(): void {
    const h = this.#peekHeader();
    const type = FRAME_TYPE_NAMES.get(h[0]!);
    if (!type) throw new WireError('WIRE_PROTOCOL', `unknown frame type ${h[0]}`);
    if (h[1] !== 0) throw new WireError('WIRE_PROTOCOL', `unknown flags 0x${h[1]!.toString(16)} on ${type}`);
    const length = h.readUInt32BE(4);
    if (length > MAX_FRAME_PAYLOAD) throw new WireError('WIRE_FRAME_TOO_LARGE', `${type} frame of ${length} bytes (limit ${MAX_FRAME_PAYLOAD})`);
    this.#type = type;
    this.#need = HEADER_BYTES + length + TRAILER_BYTES;
  }

  #readFrame(): Frame {
    const whole = this.#take(this.#need);
    const type = this.#type!;
    this.#need = 0;
    this.#type = undefined;
    const end = whole.length - TRAILER_BYTES;
    const want = whole.readUInt32BE(end);
    const got = crc32(whole.subarray(0, end)) >>> 0;
    if (want !== got) throw new WireError('WIRE_CHECKSUM', `${type} frame checksum mismatch`);
    return decodePayload(type, whole.readUInt16BE(2), whole.subarray(HEADER_BYTES, end));
  }
}
