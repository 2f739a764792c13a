// Repairs a mapped-ram memory file written by background-snapshot before QEMU loads it.
// QEMU 10.0.2 leaves the per-RAMBlock page bitmaps all zero in that mode, so the loading QEMU
// would think no page is present and fail (docs/qemu-checkpoints.md). Every page sits at its
// fixed offset in the file and zero pages are holes that read as zeros, so marking every page
// present loads exactly the saved memory.
//
// Layout (QEMU migration/ram.c, mapped-ram): the RAM section starts with QEMU_VM_SECTION_START
// (0x01)… followed by the idstr "ram": we find `\x03ram` in the file's head, then
//   u32 instance id, u32 version, u64 total RAM bytes | RAM_SAVE_FLAG_MEM_SIZE (0x4)
// and per RAMBlock: u8 idlen, idstr, u64 used length, then the mapped-ram header
//   u32 version, u64 page size, u64 bitmap offset, u64 pages offset (big-endian),
// the block's pages at [pages offset, + used length), and the next block after them.
import { open } from 'node:fs/promises';
import { FerryError } from '../../contracts/index.js';

const HEAD_BYTES = 64 * 1024;
const RAM_SAVE_FLAG_MEM_SIZE = 0x4n;
const PAGE_MASK = 0xfffn;
const BLOCK_HEADER_BYTES = 1 + 255 + 8 + 28;
const MAX_BLOCKS = 1024;

export interface RamBlockInfo {
  name: string;
  usedBytes: number;
  pageSize: number;
  bitmapOffset: number;
  pagesOffset: number;
}

/** Marks every page of every RAMBlock present; returns the blocks found. */
export async function markAllPagesPresent(path: string): Promise<RamBlockInfo[]> {
  const fh = await open(path, 'r+');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(Math.min(HEAD_BYTES, size));
    await fh.read(head, 0, head.length, 0);
    const at = head.indexOf(Buffer.from('\x03ram', 'latin1'));
    if (at < 0 || at + 4 + 16 > head.length) throw bad('no RAM section in the file head');
    let off = at + 4 + 8; // skip the idstr, instance id and version
    const totalWord = head.readBigUInt64BE(off);
    if ((totalWord & RAM_SAVE_FLAG_MEM_SIZE) === 0n) throw bad('RAM section without its size');
    const total = Number(totalWord & ~PAGE_MASK);
    off += 8;
    const blocks: RamBlockInfo[] = [];
    for (let done = 0; done < total; ) {
      if (blocks.length >= MAX_BLOCKS || off >= size) throw bad(`RAM blocks cover ${done} of ${total} bytes`);
      const h = Buffer.alloc(BLOCK_HEADER_BYTES);
      await fh.read(h, 0, h.length, off);
      const idLen = h[0]!;
      const name = h.subarray(1, 1 + idLen).toString('latin1');
      let p = 1 + idLen;
      const usedBytes = Number(h.readBigUInt64BE(p));
      p += 8 + 4; // used length, mapped-ram header version
      const pageSize = Number(h.readBigUInt64BE(p));
      const bitmapOffset = Number(h.readBigUInt64BE(p + 8));
      const pagesOffset = Number(h.readBigUInt64BE(p + 16));
      if (!(pageSize >= 512 && usedBytes % pageSize === 0 && bitmapOffset > off && pagesOffset + usedBytes <= size)) throw bad(`RAM block ${name} has an implausible header`);
      const pages = usedBytes / pageSize;
      const bitmap = Buffer.alloc(Math.ceil(pages / 8), 0xff);
      if (pages % 8) bitmap[bitmap.length - 1] = (1 << (pages % 8)) - 1;
      await fh.write(bitmap, 0, bitmap.length, bitmapOffset);
      blocks.push({ name, usedBytes, pageSize, bitmapOffset, pagesOffset });
      done += usedBytes;
      off = pagesOffset + usedBytes;
    }
    await fh.sync();
    return blocks;
  } finally {
    await fh.close();
  }
}

function bad(why: string): FerryError {
  return new FerryError('QEMU_FAILED', `memory file is not a mapped-ram migration stream QEMU 10 wrote: ${why}`);
}
