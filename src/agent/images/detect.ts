// What kind of file an import is, from its content only (never its name): qemu-img info names
// the container format; a file qemu-img calls raw is then a Linux kernel (the bzImage "HdrS"
// magic at 0x202), an initrd (a cpio archive or a compressed one) or a raw disk.
import { open } from 'node:fs/promises';
import { FerryError, type ImageFormat } from '../../contracts/index.js';
import { qemuImg } from '../disks.js';

const INFO_TIMEOUT_MS = 60_000;
const SNIFF_BYTES = 0x210;

interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
}

const INITRD_MAGICS: Buffer[] = [
  Buffer.from('070701'), // newc cpio
  Buffer.from('070702'),
  Buffer.from([0x1f, 0x8b]), // gzip
  Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), // zstd
  Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]), // xz
  Buffer.from([0x02, 0x21, 0x4c, 0x18]), // lz4 legacy
  Buffer.from([0x5d, 0x00, 0x00]), // lzma
];

/** Kind of a file qemu-img reads as raw, from its first bytes. */
export function sniffRaw(head: Buffer): ImageFormat {
  if (head.length >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS') return 'kernel';
  if (INITRD_MAGICS.some((m) => head.length >= m.length && head.subarray(0, m.length).equals(m))) return 'initrd';
  return 'raw';
}

async function head(path: string): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The file's format and the size a guest sees; INVALID_REQUEST naming `field` for what the library cannot take. */
export async function detectImage(path: string, field: string, signal?: AbortSignal): Promise<{ format: ImageFormat; virtualSize: number }> {
  let info: QemuImgInfo;
  try {
    info = JSON.parse(await qemuImg(['info', '-U', '--output=json', path], INFO_TIMEOUT_MS, signal)) as QemuImgInfo;
  } catch (err) {
    throw new FerryError('INVALID_REQUEST', `${field} ${path}: qemu-img cannot read it: ${err instanceof Error ? err.message : String(err)}`, { field, cause: err });
  }
  if (info.format === 'qcow2') {
    if (info['backing-filename']) {
      throw new FerryError('INVALID_REQUEST', `${field} ${path} is a qcow2 overlay on ${info['backing-filename']}; import a standalone image (qemu-img convert -O qcow2)`, { field });
    }
    return { format: 'qcow2', virtualSize: info['virtual-size'] };
  }
  if (info.format === 'raw') return { format: sniffRaw(await head(path)), virtualSize: info['virtual-size'] };
  throw new FerryError('INVALID_REQUEST', `${field} ${path} is ${info.format}; the library takes qcow2, raw, a kernel or an initrd (convert with qemu-img convert -O qcow2)`, { field });
}
