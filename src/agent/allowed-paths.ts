// Host files a VM spec may name (a disk's base `image`, a kernel boot's `kernel` and `initrd`):
// only files under the directories this agent allows (AgentOptions.imageDirs; by default its own
// <data-dir>/images and the demo guest's directory). Otherwise an API caller could load any file
// of this host into a guest's RAM (/etc/shadow as an initrd) or layer another VM's disk.
// Paths are compared after realpath, so `..` and symlinks cannot lead out; a path that does not
// exist yet is judged by its nearest existing ancestor (QEMU then fails on it as before).
import { realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { FerryError, type VmSpec } from '../contracts/index.js';
import { specPaths } from '../contracts/host-paths.js';

export { specPaths };

/** realpath of `p`, or of its nearest existing ancestor joined with the rest. */
function realOrNearest(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    const parent = dirname(p);
    return parent === p ? p : join(realOrNearest(parent), basename(p));
  }
}

export class AllowedPaths {
  readonly dirs: readonly string[];

  constructor(dirs: readonly string[]) {
    this.dirs = dirs.map((d) => resolve(d));
  }

  /** True when `path`, symlinks resolved, lies under one of the allowed directories. */
  allows(path: string): boolean {
    if (!isAbsolute(path)) return false;
    const real = realOrNearest(path);
    return this.dirs.some((d) => {
      const rel = relative(realOrNearest(d), real);
      return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
    });
  }

  /** Throws INVALID_REQUEST naming the field (`${prefix}.disks.0.image`) of the first path outside. */
  check(spec: Pick<VmSpec, 'boot' | 'disks'>, prefix: string): void {
    for (const [field, path] of specPaths(spec)) {
      if (this.allows(path)) continue;
      const name = `${prefix}.${field}`;
      throw new FerryError('INVALID_REQUEST', `${name} ${path} is not under a directory this host allows for images (${this.dirs.join(', ')}; agent option --image-dir)`, { field: name });
    }
  }
}
