// What Ferry can see of any guest, demo or not (docs/images.md, "Health of any guest"): QEMU's
// own run state, the QEMU guest agent when the VM has one (`spec.guestAgent`: a virtio-serial
// channel to qemu-guest-agent in the guest; answered guest-ping), and each forwarded guest port
// (a TCP connection through the forward that the guest keeps open). Every item says what was
// checked, so a report never claims more than was seen.
//
//   GET /api/v1/vms/:name/health -> GuestHealth   (the agent: GET /agent/v1/vms/:name/health)
import { Type, type Static } from '@sinclair/typebox';

export const HealthItem = Type.Object({
  /** `qemu`, `guest-agent`, `port 6379`. */
  name: Type.String(),
  ok: Type.Boolean(),
  detail: Type.String(),
});
export type HealthItem = Static<typeof HealthItem>;

export const GuestHealth = Type.Object({
  vm: Type.String(),
  host: Type.String(),
  /** True when every item is ok. */
  ok: Type.Boolean(),
  items: Type.Array(HealthItem),
});
export type GuestHealth = Static<typeof GuestHealth>;
