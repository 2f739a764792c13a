// `ferry vm create`'s image options turned into the parts of a CreateVmRequest they set. Pure, so
// every combination is unit-tested. --image is disk 0 (a layered disk on the image; the first
// --disk SIZE, if given, grows it); --kernel boots a library kernel directly (else the image's
// own boot loader); --port forwards guest ports on a user-mode NIC.
import { readFileSync, statSync } from 'node:fs';
import type { CreateVmRequest } from '../contracts/controller-api.js';
import { MAX_USER_DATA_BYTES } from '../contracts/vm-spec.js';
import { UsageError } from './output.js';

export interface ImageOpts {
  image?: string;
  kernel?: string;
  initrd?: string;
  append?: string;
  disk: number[];
  port: number[];
  net?: 'user' | 'bridged';
  cloudInit?: string;
}

export type ImageParts = Pick<CreateVmRequest, 'boot' | 'disks' | 'nics' | 'cloudInit'>;

/** userData: the --cloud-init file's content (read by the caller). */
export function imageParts(o: ImageOpts, userData?: string): ImageParts {
  if ((o.initrd !== undefined || o.append !== undefined) && o.kernel === undefined) throw new UsageError('--initrd and --append go with --kernel');
  if (o.port.length > 0 && o.net === 'bridged') throw new UsageError('--port forwards ports of a user-mode NIC; a bridged VM is reached at its own address');
  const out: ImageParts = {};
  if (o.kernel !== undefined) {
    out.boot = { kind: 'image', kernel: { name: o.kernel }, ...(o.initrd !== undefined ? { initrd: { name: o.initrd } } : {}), ...(o.append !== undefined ? { cmdline: o.append } : {}) };
  } else if (o.image !== undefined) out.boot = { kind: 'disk' };
  const empty = o.disk.map((sizeMiB) => ({ sizeMiB }));
  if (o.image !== undefined) {
    const [grow, ...rest] = o.disk;
    out.disks = [{ fromImage: { name: o.image }, ...(grow !== undefined ? { sizeMiB: grow } : {}) }, ...rest.map((sizeMiB) => ({ sizeMiB }))];
  } else if (empty.length > 0) out.disks = empty;
  if (o.port.length > 0) out.nics = [{ network: 'user', forwardPorts: o.port }];
  if (userData !== undefined) out.cloudInit = { userData };
  return out;
}

/** The --cloud-init file's content, refused (usage error) when missing or larger than a seed takes. */
export function readUserData(path: string): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    throw new UsageError(`--cloud-init ${path}: ${(err as Error).message}`);
  }
  if (size > MAX_USER_DATA_BYTES) throw new UsageError(`--cloud-init ${path} is ${size} bytes; a seed takes at most ${MAX_USER_DATA_BYTES}`);
  return readFileSync(path, 'utf8');
}
