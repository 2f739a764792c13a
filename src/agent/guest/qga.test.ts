import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QgaReader } from './qga.js';

test('replies count only after the 0xFF delimiter; stale bytes before it are dropped; fed byte by byte', () => {
  const stream = Buffer.concat([Buffer.from('{"return": 1}\n{"ret'), Buffer.from([0xff]), Buffer.from('{"return": 42}\n{"return": {}}\n')]);
  const r = new QgaReader();
  const got: unknown[] = [];
  for (const b of stream) got.push(...r.push(Buffer.from([b])));
  assert.deepEqual(got, [{ return: 42 }, { return: {} }]);
});

test('a reply longer than the limit, or not JSON, is refused', () => {
  const r = new QgaReader();
  r.push(Buffer.from([0xff]));
  assert.throws(() => r.push(Buffer.alloc(70 * 1024, 0x61)), /longer than/);
  const s = new QgaReader();
  assert.throws(() => s.push(Buffer.concat([Buffer.from([0xff]), Buffer.from('not json\n')])), SyntaxError);
});
