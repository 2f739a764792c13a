// A VM's NIC MAC addresses: stable for the VM's life (derived from its uuid, which migrations and
// failovers keep), new for a clone (new uuid). Agents put them on QEMU's command line; the
// controller shows them in the location registry.
import { createHash } from 'node:crypto';

/** A locally administered MAC (QEMU's 52:54:00 prefix) from the VM's uuid and the NIC's index. */
export function macFor(uuid: string, nicIndex: number): string {
  const h = createHash('sha256').update(`${uuid}/${nicIndex}`).digest();
  return ['52', '54', '00', ...[h[0], h[1], h[2]].map((b) => (b ?? 0).toString(16).padStart(2, '0'))].join(':');
}
