// The agent's HTTP API, called by the controller (and only by it). Every request carries
// `Authorization: Bearer <cluster secret>`; see auth.ts. Long actions are synchronous here:
// the controller wraps each call in a task and gives it a timeout. The routes of this file,
// migration.ts and dr.ts with their schemas, as one table: agent-routes.ts.
//
//   GET    /agent/v1/host                  -> HostInfo
//   GET    /agent/v1/vms                   -> VmStatus[]
//   POST   /agent/v1/vms          VmSpec   -> VmStatus   (defines the VM; state `stopped`)
//   GET    /agent/v1/vms/:name             -> VmStatus
//   DELETE /agent/v1/vms/:name             -> 204        (VM must be stopped/suspended/crashed; removes its files)
//   POST   /agent/v1/vms/:name/start|pause|resume|suspend|restore   {} -> VmStatus
//   POST   /agent/v1/vms/:name/stop   StopRequest  -> VmStatus
//   POST   /agent/v1/vms/:name/resize ResizeRequest -> VmStatus
//   POST   /agent/v1/vms/:name/clone  CloneRequest  -> VmStatus (of the clone, `stopped`)
//   GET    /agent/v1/vms/:name/console?tailBytes=N -> text/plain (serial console output)
//   POST   /agent/v1/vms/:name/probe  ProbeRequest -> ProbeResult (HTTP GET of a forwarded guest
//                                     port from the agent's own host: DR tests check the service)
//   POST   /agent/v1/vms/:name/forwards  ForwardRequest -> VmStatus (adds a forwarded guest port to
//                                     the spec and, if QEMU runs, at once: hostfwd_add)
import { Type, type Static } from '@sinclair/typebox';
import { GuestNetwork, NicSpec, VM_NAME_PATTERN, VmSpec, VmStatus } from './vm-spec.js';

export const AGENT_API_PREFIX = '/agent/v1';

export const HostInfo = Type.Object({
  name: Type.String(),
  site: Type.String(),
  /** Base URL where this agent's API listens, e.g. http://127.0.0.1:40123 */
  url: Type.String(),
  cpus: Type.Integer(),
  memoryMiB: Type.Integer(),
  accel: Type.Union([Type.Literal('kvm'), Type.Literal('tcg')]),
  qemuVersion: Type.String(),
  agentVersion: Type.String(),
  /** PID of the agent process (for `ferry down`). */
  pid: Type.Integer(),
  /** Host load: 1-minute load average and free memory. */
  loadAvg1: Type.Number(),
  memoryFreeMiB: Type.Integer(),
  /** Capacity of the host's network link in bytes/s (configured; the balancer's net utilisation is against it). */
  netBytesPerSec: Type.Optional(Type.Number()),
  /** CPU seconds the whole machine spent busy (counter from /proc/stat, all cpus). */
  cpuBusySeconds: Type.Optional(Type.Number()),
  /** Epoch ms (agent clock) when the numbers above were read. */
  sampledAtMs: Type.Optional(Type.Number()),
  /** The agent's ferry-wire data endpoint (mutual TLS), e.g. `ferry-wire://127.0.0.1:41234`. */
  dataUrl: Type.Optional(Type.String()),
  /** The guest bridge's segment, when VMs with bridged NICs can run here. */
  guestNetwork: Type.Optional(GuestNetwork),
  /** The directories whose files VM specs may name on this host (agent option --image-dir); the controller checks specs against them too. */
  imageDirs: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 64 })),
});
export type HostInfo = Static<typeof HostInfo>;

export const StopRequest = Type.Object(
  {
    /** Skip the graceful ACPI power-off and kill QEMU at once. */
    force: Type.Optional(Type.Boolean()),
    /** How long to wait for a graceful power-off before forcing (default 10000). */
    timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  },
  { additionalProperties: false },
);
export type StopRequest = Static<typeof StopRequest>;

export const ResizeRequest = Type.Object(
  {
    /** New balloon target in MiB (at most the VM's configured memory). */
    memoryMiB: Type.Integer({ minimum: 32 }),
  },
  { additionalProperties: false },
);
export type ResizeRequest = Static<typeof ResizeRequest>;

export const CloneRequest = Type.Object(
  {
    name: Type.String({ pattern: VM_NAME_PATTERN }),
    uuid: Type.String({ format: 'uuid' }),
    /** true: the clone's disks are qcow2 overlays on a frozen copy; false: full copies. */
    linked: Type.Boolean(),
    /** The clone's NICs when they differ from the source's (a bridged NIC gets its own address). */
    nics: Type.Optional(Type.Array(NicSpec, { maxItems: 4 })),
  },
  { additionalProperties: false },
);
export type CloneRequest = Static<typeof CloneRequest>;

export { VmSpec, VmStatus };

export const ProbeRequest = Type.Object({ guestPort: Type.Integer({ minimum: 1, maximum: 65535 }) }, { additionalProperties: false });
export type ProbeRequest = Static<typeof ProbeRequest>;

/** Forward this guest port from a loopback port of the host (user-mode networking). */
export const ForwardRequest = ProbeRequest;
export type ForwardRequest = ProbeRequest;

export const ProbeResult = Type.Object({
  guestPort: Type.Integer(),
  /** An HTTP answer came (any status). */
  answered: Type.Boolean(),
  status: Type.Optional(Type.Integer()),
  ms: Type.Number(),
  error: Type.Optional(Type.String()),
});
export type ProbeResult = Static<typeof ProbeResult>;
