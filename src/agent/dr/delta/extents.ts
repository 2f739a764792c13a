// Where a checkpoint file holds data. The memory image is sparse (QEMU leaves zero pages as
// holes) and mostly holes for a large, mostly idle guest; reading a hole still costs a copy of
// zeros per page, which made the page diff grow with the VM's size. The extents come from the
// filesystem (FIEMAP, through e2fsprogs' `filefrag -e`); a region that is a hole in both the new
// file and its base is zeros in both, so unchanged. Where the filesystem cannot tell (tmpfs), the
// whole file counts as data.
import { execFileSync } from 'node:child_process';
import { CHUNK_BYTES } from './format.js';

/** Byte ranges [start, end), in order. */
export type Ranges = [number, number][];

const EXTENT = /^\s*\d+:\s*(\d+)\.\.\s*(\d+):/;
const BLOCK = /blocks of (\d+) bytes/;
const FILEFRAG_TIMEOUT_MS = 30_000;

/** Parses `filefrag -e` output into byte ranges; undefined if it names no block size. */
export function parseFilefrag(text: string): Ranges | undefined {
  const block = BLOCK.exec(text);
  if (!block) return undefined;
  const bs = Number(block[1]);
  const out: Ranges = [];
  for (const line of text.split('\n')) {
    const m = EXTENT.exec(line);
    if (m) out.push([Number(m[1]) * bs, (Number(m[2]) + 1) * bs]);
  }
  return out;
}

/** The file's data ranges, or the whole file when the filesystem does not say. Blocking: call it from a worker. */
export function dataRanges(path: string, size: number): Ranges {
  try {
    const r = parseFilefrag(execFileSync('filefrag', ['-e', path], { encoding: 'utf8', timeout: FILEFRAG_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'ignore'] }));
    if (r) return r;
  } catch {
    // not supported here (tmpfs), or no filefrag: read it all
  }
  return [[0, size]];
}

/** The chunk index spans [first, end) that any of the ranges touch, merged, within `count` chunks. */
export function chunkSpans(ranges: Ranges, count: number): [number, number][] {
  const spans = ranges
    .map(([a, b]): [number, number] => [Math.floor(a / CHUNK_BYTES), Math.min(count, Math.ceil(b / CHUNK_BYTES))])
    .filter(([a, b]) => a < b)
    .sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else out.push([s[0], s[1]]);
  }
  return out;
}
