// Host files a VM spec names (a disk's base `image`, a kernel boot's `kernel` and `initrd`), and
// the lexical check the controller makes against the directories a host reports it allows
// (HostInfo.imageDirs), so a spec naming /etc/shadow is refused before any agent is called. The
// agent checks again after realpath (src/agent/allowed-paths.ts): symlinks are its to judge.
import { isAbsolute, normalize, relative } from 'node:path';
import type { VmSpec } from './vm-spec.js';

/** Each host path in `spec`, with its field relative to the spec (`disks.0.image`, `boot.kernel`). */
export function specPaths(spec: Pick<VmSpec, 'boot' | 'disks'>): [field: string, path: string][] {
  const out: [string, string][] = [];
  if (spec.boot?.kind === 'kernel') {
    out.push(['boot.kernel', spec.boot.kernel]);
    if (spec.boot.initrd !== undefined) out.push(['boot.initrd', spec.boot.initrd]);
  }
  (spec.disks ?? []).forEach((d, i) => {
    if (d.image !== undefined) out.push([`disks.${i}.image`, d.image]);
  });
  return out;
}

/** Is `path` (absolute, `..` resolved lexically) under one of `dirs`? */
export function lexicallyUnder(path: string, dirs: readonly string[]): boolean {
  if (!isAbsolute(path)) return false;
  const p = normalize(path);
  return dirs.some((d) => {
    const rel = relative(normalize(d), p);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  });
}

/** The first path of `spec` outside `dirs`, with its field, if any. */
export function pathOutside(spec: Pick<VmSpec, 'boot' | 'disks'>, dirs: readonly string[]): { field: string; path: string } | undefined {
  for (const [field, path] of specPaths(spec)) if (!lexicallyUnder(path, dirs)) return { field, path };
  return undefined;
}
