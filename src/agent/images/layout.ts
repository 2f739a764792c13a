// Where a host keeps its library images: <dataDir>/images/lib/<id> is the materialized file QEMU
// opens (a disk's backing file, a kernel, an initrd) and <id>.json what the import found. The
// chunks themselves live in the host's chunk store (the DR store, ../dr/store) under the
// checkpoint key `image:<id>`, seq 1, so images and DR replicas share chunks.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FerryError } from '../../contracts/index.js';

export const imageLibDir = (dataDir: string): string => join(dataDir, 'images', 'lib');
export const imageFile = (dataDir: string, id: string): string => join(imageLibDir(dataDir), id);
export const imageMetaFile = (dataDir: string, id: string): string => join(imageLibDir(dataDir), `${id}.json`);
/** The image's key in the chunk store (a checkpoint of one file, `image`). */
export const storeKey = (id: string): string => `image:${id}`;
export const STORE_SEQ = 1;
export const STORE_FILE = 'image';

/** The library file of an image this host holds; NOT_FOUND (naming the host) if it holds none. */
export function heldImageFile(dataDir: string, host: string, id: string): string {
  const f = imageFile(dataDir, id);
  if (!existsSync(imageMetaFile(dataDir, id)) || !existsSync(f)) throw new FerryError('NOT_FOUND', `image ${id} is not on host ${host} (the controller fetches it before it is needed)`);
  return f;
}
