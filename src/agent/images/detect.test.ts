import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sniffRaw } from './detect.js';

test('a raw file is a kernel, an initrd or a disk by its first bytes, never its name', () => {
  const kernel = Buffer.alloc(0x210);
  kernel.write('HdrS', 0x202, 'latin1');
  assert.equal(sniffRaw(kernel), 'kernel');
  assert.equal(sniffRaw(Buffer.from('070701000000')), 'initrd');
  assert.equal(sniffRaw(Buffer.from([0x1f, 0x8b, 8, 0])), 'initrd');
  assert.equal(sniffRaw(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0])), 'initrd');
  assert.equal(sniffRaw(Buffer.alloc(0x210)), 'raw');
  assert.equal(sniffRaw(Buffer.alloc(0)), 'raw');
  // Too short to hold the kernel header: not a kernel.
  assert.equal(sniffRaw(kernel.subarray(0, 0x204)), 'raw');
});
