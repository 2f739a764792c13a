// Frame checksum: CRC-32 (IEEE 802.3, zlib's) over header + payload. node:zlib's crc32 is native
// (~3 GB/s here); a table fallback keeps older Node 20 releases working.
import * as zlib from 'node:zlib';

type Crc = (data: Uint8Array, value?: number) => number;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32Js(data: Uint8Array, value = 0): number {
  let c = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = (TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as unknown as { crc32?: Crc }).crc32;
export const crc32: Crc = typeof native === 'function' ? native : crc32Js;
export { crc32Js };
