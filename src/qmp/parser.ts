// Pure, push-based QMP stream decoder (after nats.js core/src/parser.ts).
//
// Wire format (QEMU docs/interop/qmp-spec.rst): every message from QEMU is one JSON object
// on one line, terminated by "\r\n". Bytes are buffered until LF; the line (CR included)
// may be at most `maxLineBytes` long, so a peer that never sends LF cannot grow our buffer
// without bound. Lines are decoded as UTF-8 only once whole, so multi-byte characters may
// be split across chunks. Blank lines are skipped.
//
// The first malformed line poisons the parser: QMP has no way to resynchronise a
// conversation whose replies we cannot read, so every later push() throws the same error.
import { MAX_LINE_BYTES } from './constants.js';
import { QmpProtocolError } from './errors.js';

export type QmpMessage = Record<string, unknown>;

const LF = 0x0a;
const BLANK = /^\s*$/;

export class QmpParser {
  readonly #onMessage: (msg: QmpMessage) => void;
  readonly #maxLineBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failure: QmpProtocolError | undefined;

  constructor(onMessage: (msg: QmpMessage) => void, maxLineBytes: number = MAX_LINE_BYTES) {
    this.#onMessage = onMessage;
    this.#maxLineBytes = maxLineBytes;
  }

  /** Bytes held while waiting for the end of a line. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Feeds bytes; calls onMessage once per complete message, in order.
   * @throws QmpProtocolError on an over-long line, invalid JSON, or a non-object message.
   */
  push(chunk: Uint8Array): void {
    if (this.#failure) throw this.#failure;
    let start = 0;
    while (start < chunk.length) {
      const lf = chunk.indexOf(LF, start);
      const end = lf === -1 ? chunk.length : lf;
      const length = this.#buffered + (end - start);
      if (length > this.#maxLineBytes) {
        this.#fail(new QmpProtocolError(`line from QEMU exceeds ${this.#maxLineBytes} bytes`));
      }
      const piece = Buffer.from(chunk.buffer, chunk.byteOffset + start, end - start);
      if (lf === -1) {
        // Copy: the caller may reuse its buffer after push() returns.
        this.#chunks.push(Buffer.from(piece));
        this.#buffered = length;
        return;
      }
      const line = this.#buffered === 0 ? piece : Buffer.concat([...this.#chunks, piece], length);
      this.#chunks = [];
      this.#buffered = 0;
      start = lf + 1;
      this.#line(line);
    }
  }

  #line(line: Buffer): void {
    const text = line.toString('utf8');
    if (BLANK.test(text)) return;
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      this.#fail(new QmpProtocolError(`invalid JSON from QEMU: ${preview(text)}`, { cause: err }));
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.#fail(new QmpProtocolError(`QMP message is not a JSON object: ${preview(text)}`));
    }
    this.#onMessage(msg as QmpMessage);
  }

  #fail(err: QmpProtocolError): never {
    this.#failure = err;
    this.#chunks = [];
    this.#buffered = 0;
    throw err;
  }
}

function preview(text: string): string {
  const trimmed = text.trim();
  return JSON.stringify(trimmed.length > 80 ? `${trimmed.slice(0, 80)}…` : trimmed);
}
