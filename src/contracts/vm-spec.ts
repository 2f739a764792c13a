// The VM specification and VM status shared by the controller, the agents and the CLI.
// Schemas are TypeBox (JSON Schema + static types), so the controller validates requests with
// the same definitions the types come from, and the OpenAPI description is generated from them.
import { Type, type Static } from '@sinclair/typebox';
import { ImageRef } from './images.js';
import { WORKLOAD_MAX_LENGTH, WORKLOAD_PATTERN } from './workload.js';

export const VM_NAME_PATTERN = '^[a-z][a-z0-9-]{0,62}$';
/** A layer-2 guest network segment's name (one per site in a local cluster: docs/networking.md). */
export const SEGMENT_PATTERN = '^[a-z][a-z0-9-]{0,31}$';
const IPV4 = '(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}';
export const IPV4_PATTERN = `^${IPV4}$`;
/** ADDR/PREFIX, e.g. 10.77.1.10/24. */
export const IPV4_CIDR_PATTERN = `^${IPV4}/([89]|[12][0-9]|30)$`;
/**
 * A host file: absolute and normalised (no `.` or `..` segment, no empty one). Where it may point
 * is the agent's to say (src/agent/allowed-paths.ts); what the shape alone shows is refused here.
 */
export const HOST_PATH_PATTERN = '^(/(?!\\.\\.?(/|$))[^/\\x00]+)+$';
const HostPath = Type.String({ minLength: 2, maxLength: 4096, pattern: HOST_PATH_PATTERN });

export const DiskSpec = Type.Object(
  {
    /** Size of a new, empty qcow2 disk in MiB (ignored when `image` is given; with `fromImage`, grows the disk beyond the image's size). */
    sizeMiB: Type.Optional(Type.Integer({ minimum: 1, maximum: 4 * 1024 * 1024 })),
    /** Absolute path of an existing qcow2 image on the host to use as a read-only base (layered). */
    image: Type.Optional(HostPath),
    /** A library image (src/contracts/images.ts) as the read-only base: qcow2 or raw. */
    fromImage: Type.Optional(ImageRef),
  },
  { additionalProperties: false },
);
export type DiskSpec = Static<typeof DiskSpec>;

/** Forwarded guest ports per NIC at most (user-mode networking). */
export const MAX_FORWARD_PORTS = 16;
/** Disks of one VM (a migration carries each on its own data-plane channel). */
export const MAX_DISKS = 8;

const MAC = Type.String({ pattern: '^([0-9a-f]{2}:){5}[0-9a-f]{2}$' });

/** QEMU user-mode networking (NAT, host port forwards): works anywhere, reachable through forwards and endpoints. */
export const UserNicSpec = Type.Object(
  {
    network: Type.Literal('user'),
    mac: Type.Optional(MAC),
    /** Guest TCP ports to forward from a free loopback port on the host. */
    forwardPorts: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { maxItems: MAX_FORWARD_PORTS })),
  },
  { additionalProperties: false },
);
export type UserNicSpec = Static<typeof UserNicSpec>;

/**
 * A tap on the host's guest bridge, on a layer-2 segment shared by the hosts of a site: the
 * guest keeps its IP and MAC when it migrates within the segment, and open connections survive.
 * The controller fills in `segment`, `ip` and `gw` at creation (from the host's GuestNetwork).
 */
export const BridgedNicSpec = Type.Object(
  {
    network: Type.Literal('bridged'),
    mac: Type.Optional(MAC),
    segment: Type.Optional(Type.String({ pattern: SEGMENT_PATTERN })),
    /** The guest's static address, ADDR/PREFIX (default: the lowest free one in the segment). */
    ip: Type.Optional(Type.String({ pattern: IPV4_CIDR_PATTERN })),
    /** Default route (default: the segment's gateway, if it has one). */
    gw: Type.Optional(Type.String({ pattern: IPV4_PATTERN })),
  },
  { additionalProperties: false },
);
export type BridgedNicSpec = Static<typeof BridgedNicSpec>;

export const NicSpec = Type.Union([UserNicSpec, BridgedNicSpec]);
export type NicSpec = Static<typeof NicSpec>;

/** Guest ports forwarded from the host (user-mode NICs only). */
export function forwardPortsOf(nic: NicSpec | undefined): number[] {
  return nic?.network === 'user' ? (nic.forwardPorts ?? []) : [];
}

/** The layer-2 guest network a host's bridge is on (`ferry agent --guest-bridge …`). */
export const GuestNetwork = Type.Object({
  segment: Type.String({ pattern: SEGMENT_PATTERN }),
  /** The segment's subnet, e.g. 10.77.1.0/24; guests get addresses from it. */
  subnet: Type.String({ pattern: IPV4_CIDR_PATTERN }),
  gateway: Type.Optional(Type.String({ pattern: IPV4_PATTERN })),
  /** The network namespace QEMU of bridged VMs runs in on this host: its own TCP sockets live there. */
  netns: Type.Optional(Type.String()),
});
export type GuestNetwork = Static<typeof GuestNetwork>;

export const BootSpec = Type.Union([
  /** The project's demo guest (build/guest/vmlinuz + initrd.img). */
  Type.Object({ kind: Type.Literal('demo') }, { additionalProperties: false }),
  Type.Object(
    {
      kind: Type.Literal('kernel'),
      kernel: HostPath,
      initrd: Type.Optional(HostPath),
      cmdline: Type.Optional(Type.String({ maxLength: 4096 })),
    },
    { additionalProperties: false },
  ),
  /** A kernel (and initrd) from the image library (src/contracts/images.ts). */
  Type.Object(
    {
      kind: Type.Literal('image'),
      kernel: ImageRef,
      initrd: Type.Optional(ImageRef),
      cmdline: Type.Optional(Type.String({ maxLength: 4096 })),
    },
    { additionalProperties: false },
  ),
  /** Boot from the first disk (BIOS). */
  Type.Object({ kind: Type.Literal('disk') }, { additionalProperties: false }),
]);
export type BootSpec = Static<typeof BootSpec>;

/** The most user-data a NoCloud seed carries. */
export const MAX_USER_DATA_BYTES = 64 * 1024;

/** A NoCloud seed (volume `cidata`, built by the agent) so stock cloud images configure themselves. */
export const CloudInitSpec = Type.Object(
  { userData: Type.String({ maxLength: MAX_USER_DATA_BYTES }) },
  { additionalProperties: false },
);
export type CloudInitSpec = Static<typeof CloudInitSpec>;

/** What a user asks for. Defaults are filled in by the controller (see `withDefaults`). */
export const VmSpecInput = Type.Object(
  {
    name: Type.String({ pattern: VM_NAME_PATTERN }),
    memoryMiB: Type.Integer({ minimum: 32, maximum: 1024 * 1024 }),
    vcpus: Type.Optional(Type.Integer({ minimum: 1, maximum: 64 })),
    boot: Type.Optional(BootSpec),
    disks: Type.Optional(Type.Array(DiskSpec, { maxItems: MAX_DISKS })),
    nics: Type.Optional(Type.Array(NicSpec, { maxItems: 4 })),
    balloon: Type.Optional(Type.Boolean()),
    /** The demo guest's workloads: src/contracts/workload.ts. */
    workload: Type.Optional(Type.String({ pattern: WORKLOAD_PATTERN, maxLength: WORKLOAD_MAX_LENGTH })),
    cloudInit: Type.Optional(CloudInitSpec),
    /** A virtio-serial channel for qemu-guest-agent in the guest: health checks and file-system freeze at DR checkpoints. */
    guestAgent: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type VmSpecInput = Static<typeof VmSpecInput>;

/** A complete spec, as stored by the controller and sent to an agent. */
export const VmSpec = Type.Object(
  {
    name: Type.String({ pattern: VM_NAME_PATTERN }),
    /** Identity: stays with the VM across migrations, changes on clone. */
    uuid: Type.String({ format: 'uuid' }),
    memoryMiB: Type.Integer({ minimum: 32 }),
    vcpus: Type.Integer({ minimum: 1 }),
    boot: BootSpec,
    disks: Type.Array(DiskSpec),
    nics: Type.Array(NicSpec),
    balloon: Type.Boolean(),
    workload: Type.String(),
    cloudInit: Type.Optional(CloudInitSpec),
    guestAgent: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type VmSpec = Static<typeof VmSpec>;

export function withDefaults(input: VmSpecInput, uuid: string): VmSpec {
  const workload = input.workload ?? 'idle';
  const wantsHttp = workload.split(',').includes('http');
  return {
    name: input.name,
    uuid,
    memoryMiB: input.memoryMiB,
    vcpus: input.vcpus ?? 1,
    boot: input.boot ?? { kind: 'demo' },
    disks: input.disks ?? [],
    nics: input.nics ?? [{ network: 'user', ...(wantsHttp ? { forwardPorts: [80] } : {}) }],
    balloon: input.balloon ?? true,
    workload,
    ...(input.cloudInit ? { cloudInit: input.cloudInit } : {}),
    ...(input.guestAgent ? { guestAgent: true } : {}),
  };
}

export const VM_STATES = ['stopped', 'starting', 'running', 'paused', 'suspending', 'suspended', 'restoring', 'stopping', 'crashed'] as const;
export const VmState = Type.Union(VM_STATES.map((s) => Type.Literal(s)));
export type VmState = (typeof VM_STATES)[number];

export const VmMetrics = Type.Object({
  /** CPU seconds used by the QEMU process (user + system). */
  cpuSeconds: Type.Number(),
  /** Resident memory of the QEMU process. */
  rssBytes: Type.Integer(),
  /** Guest memory as the balloon reports it (actual), when there is a balloon. */
  balloonBytes: Type.Optional(Type.Integer()),
  diskReadBytes: Type.Integer(),
  diskWriteBytes: Type.Integer(),
  diskReadOps: Type.Integer(),
  diskWriteOps: Type.Integer(),
  /** Bytes the guest received and sent on its network interfaces (counters). */
  netRxBytes: Type.Optional(Type.Integer()),
  netTxBytes: Type.Optional(Type.Integer()),
  /** Guest memory dirtied per second, as last measured (QMP calc-dirty-rate, page sampling). */
  dirtyBytesPerSec: Type.Optional(Type.Number()),
  /** Epoch ms (agent clock) when these numbers were read: rates are taken between two samples. */
  sampledAtMs: Type.Optional(Type.Number()),
});
export type VmMetrics = Static<typeof VmMetrics>;

export const Endpoint = Type.Object({
  guestPort: Type.Integer(),
  host: Type.String(),
  port: Type.Integer(),
});
export type Endpoint = Static<typeof Endpoint>;

/** What an agent knows about one of its VMs. */
export const VmStatus = Type.Object({
  name: Type.String(),
  uuid: Type.String(),
  state: VmState,
  spec: VmSpec,
  pid: Type.Optional(Type.Integer()),
  accel: Type.Optional(Type.Union([Type.Literal('kvm'), Type.Literal('tcg')])),
  metrics: Type.Optional(VmMetrics),
  endpoints: Type.Array(Endpoint),
  /** Why the VM is in `crashed`, or the last failure. */
  error: Type.Optional(Type.String()),
  /** Revision of the agent's record, +1 on every state change: a report with a lower revision
   *  than one already applied is stale (a heartbeat collected before an action finished). */
  rev: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type VmStatus = Static<typeof VmStatus>;
