import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { QmpProtocolError } from './errors.js';
import { QmpParser, type QmpMessage } from './parser.js';
import { rng } from '../testing/seeded-random.js';

function collect(maxLineBytes?: number): { parser: QmpParser; messages: QmpMessage[] } {
  const messages: QmpMessage[] = [];
  return { parser: new QmpParser((m) => messages.push(m), maxLineBytes), messages };
}

function pushBytewise(parser: QmpParser, input: Buffer): void {
  for (let i = 0; i < input.length; i++) parser.push(input.subarray(i, i + 1));
}

const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian"}, "capabilities": ["oob"]}}\r\n';
const STREAM = Buffer.from(
  GREETING +
    '{"return": {}, "id": 1}\r\n' +
    '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n' +
    '{"error": {"class": "GenericError", "desc": "naïve ✓ 😀"}, "id": 2}\r\n',
);
const EXPECTED = STREAM.toString()
  .split('\r\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as QmpMessage);

describe('QmpParser', () => {
  it('parses a stream fed in one chunk', () => {
    const { parser, messages } = collect();
    parser.push(STREAM);
    assert.deepEqual(messages, EXPECTED);
    assert.equal(parser.bufferedBytes, 0);
  });

  it('parses a stream fed one byte at a time, including split multi-byte UTF-8', () => {
    const { parser, messages } = collect();
    pushBytewise(parser, STREAM);
    assert.deepEqual(messages, EXPECTED);
    assert.equal((messages[3]?.error as { desc: string }).desc, 'naïve ✓ 😀');
  });

  it('emits a message only once its line is complete', () => {
    const { parser, messages } = collect();
    parser.push(Buffer.from('{"return": {}, "id": 1}'));
    assert.equal(messages.length, 0);
    parser.push(Buffer.from('\r'));
    assert.equal(messages.length, 0);
    parser.push(Buffer.from('\n{"ret'));
    assert.deepEqual(messages, [{ return: {}, id: 1 }]);
    assert.equal(parser.bufferedBytes, 5);
  });

  it('accepts bare LF and skips blank lines', () => {
    const { parser, messages } = collect();
    parser.push(Buffer.from('\r\n\n  \r\n{"a": 1}\n\n{"b": 2}\r\n'));
    assert.deepEqual(messages, [{ a: 1 }, { b: 2 }]);
  });

  it('does not keep references to the caller’s buffer', () => {
    const { parser, messages } = collect();
    const buf = Buffer.from('{"a": 1');
    parser.push(buf);
    buf.fill(0x20);
    parser.push(Buffer.from('}\n'));
    assert.deepEqual(messages, [{ a: 1 }]);
  });

  it('parses Uint8Array views at an offset', () => {
    const { parser, messages } = collect();
    const backing = Buffer.from('xxxx{"a": 1}\nyyyy');
    parser.push(new Uint8Array(backing.buffer, backing.byteOffset + 4, 9));
    assert.deepEqual(messages, [{ a: 1 }]);
  });

  it('accepts a line of exactly the limit and rejects one byte more, even without LF', () => {
    const line = '{"a": "' + 'x'.repeat(20) + '"}'; // 29 bytes
    const ok = collect(line.length);
    pushBytewise(ok.parser, Buffer.from(line + '\n'));
    assert.equal(ok.messages.length, 1);

    const bad = collect(line.length - 1);
    assert.throws(() => bad.parser.push(Buffer.from(line)), QmpProtocolError);
    const byByte = collect(10);
    const err = (() => {
      try {
        pushBytewise(byByte.parser, Buffer.from('{"aaaaaaaaaaaaa'));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof QmpProtocolError);
    assert.equal(err.code, 'QMP_PROTOCOL');
    assert.match(err.message, /exceeds 10 bytes/);
  });

  it('rejects invalid JSON and non-object messages, after delivering earlier ones', () => {
    for (const bad of ['{"a": ', '[1, 2]', '42', 'null', '"str"']) {
      const { parser, messages } = collect();
      assert.throws(() => parser.push(Buffer.from(`{"ok": true}\r\n${bad}\r\n{"b": 1}\r\n`)), QmpProtocolError, bad);
      assert.deepEqual(messages, [{ ok: true }], bad);
    }
  });

  it('stays failed after a protocol error', () => {
    const { parser, messages } = collect();
    assert.throws(() => parser.push(Buffer.from('nope\n')), QmpProtocolError);
    assert.throws(() => parser.push(Buffer.from('{"a": 1}\n')), QmpProtocolError);
    assert.deepEqual(messages, []);
  });

  it('fuzz: random splits of valid streams lose, reorder or invent no message', () => {
    const rand = rng(0xfe77);
    const alphabet = ['a', 'Z', ' ', '\\', '"', '\n', '\r', 'é', '✓', '😀', '{', '}', '\u0000'];
    for (let iter = 0; iter < 2000; iter++) {
      const expected: QmpMessage[] = [];
      const count = 1 + Math.floor(rand() * 6);
      for (let i = 0; i < count; i++) {
        let s = '';
        for (let j = Math.floor(rand() * 12); j > 0; j--) s += alphabet[Math.floor(rand() * alphabet.length)];
        expected.push({ event: s, id: i, data: { nested: [s, i, rand() < 0.5] } });
      }
      const stream = Buffer.from(expected.map((m) => JSON.stringify(m) + (rand() < 0.5 ? '\r\n' : '\n')).join(''));
      const { parser, messages } = collect();
      let at = 0;
      while (at < stream.length) {
        const n = 1 + Math.floor(rand() * 24);
        parser.push(stream.subarray(at, at + n));
        at += n;
      }
      assert.deepEqual(messages, expected, `iteration ${iter}`);
      assert.equal(parser.bufferedBytes, 0);
    }
  });

  it('fuzz: random bytes only ever raise QmpProtocolError', () => {
    const rand = rng(42);
    const pool = Buffer.from('{}[]":,\r\n \\0123456789abcdefnulltrue\u00e9', 'utf8');
    for (let iter = 0; iter < 3000; iter++) {
      const { parser } = collect(64);
      const len = Math.floor(rand() * 200);
      const bytes = Buffer.alloc(len);
      for (let i = 0; i < len; i++) bytes[i] = rand() < 0.7 ? pool[Math.floor(rand() * pool.length)]! : Math.floor(rand() * 256);
      let at = 0;
      try {
        while (at < len) {
          const n = 1 + Math.floor(rand() * 16);
          parser.push(bytes.subarray(at, at + n));
          at += n;
        }
      } catch (err) {
        assert.ok(err instanceof QmpProtocolError, `iteration ${iter}: ${String(err)}`);
      }
    }
  });
});
