// The library images a VM spec names, where in the spec (for 4xx naming the field), and which a
// host needs when: a new VM needs them all; a running VM arriving by migration or restored from
// a DR checkpoint brings its disks with it and needs only its kernel and initrd.
import type { ImageFormat, ImageRef } from '../../contracts/images.js';
import type { VmSpec, VmSpecInput } from '../../contracts/vm-spec.js';

export interface SpecImage {
  field: string;
  ref: ImageRef;
  /** Formats that fit this place in the spec. */
  accepts: readonly ImageFormat[];
  /** A disk's base: carried by a migration or a checkpoint, never needed there. */
  disk: boolean;
}

export function specImages(spec: Pick<VmSpecInput, 'boot' | 'disks'>): SpecImage[] {
  const out: SpecImage[] = [];
  if (spec.boot?.kind === 'image') {
    out.push({ field: 'boot.kernel', ref: spec.boot.kernel, accepts: ['kernel'], disk: false });
    if (spec.boot.initrd) out.push({ field: 'boot.initrd', ref: spec.boot.initrd, accepts: ['initrd'], disk: false });
  }
  (spec.disks ?? []).forEach((d, i) => {
    if (d.fromImage) out.push({ field: `disks.${i}.fromImage`, ref: d.fromImage, accepts: ['qcow2', 'raw'], disk: true });
  });
  return out;
}

/** The image names `spec` uses. */
export function imageNames(spec: Pick<VmSpec, 'boot' | 'disks'>): string[] {
  return [...new Set(specImages(spec).map((s) => s.ref.name))];
}
