// Builds QEMU's command line from a VmSpec. Pure (no I/O) so every option is unit-tested.
// QEMU starts in the VM's directory and binds its Unix sockets by relative name (sun_path is
// limited to 108 bytes and data dirs can be deep); everything QEMU may reopen later (disks,
// pidfile, logs) is absolute, because -daemonize moves QEMU to / once it has started.
// Options used and why:
//   -daemonize -pidfile  QEMU leaves the agent's session; killing the agent never kills a VM,
//                        and the foreground process exits non-zero with QEMU's message if init fails
//   -no-reboot           a guest reset (the demo guest panics with panic=-1) ends QEMU, so the
//                        agent sees it, instead of a silent reboot that restarts `seq` from 0
//   chardev logfile      the console survives agent restarts and is kept across suspend/restore
import { join } from 'node:path';
import type { VmSpec } from '../contracts/index.js';
import { macFor } from '../contracts/mac.js';
import type { Accel } from './vm-dir.js';

export const QEMU_BINARY = process.env.FERRY_QEMU ?? 'qemu-system-x86_64';
export const QEMU_IMG = process.env.FERRY_QEMU_IMG ?? 'qemu-img';

export interface QemuLaunch {
  spec: VmSpec;
  /** Absolute VM directory (for files QEMU opens by absolute path). */
  vmDir: string;
  accel: Accel;
  /** Directory holding vmlinuz and initrd.img of the demo guest. */
  guestDir: string;
  /** Host loopback port for each forwarded guest port, per NIC (same shape as nics[i].forwardPorts). */
  hostPorts: number[][];
  /** The address forwards listen on (default 127.0.0.1; an agent reached over the network: its own address). */
  forwardBind?: string;
  /** Start waiting for `migrate-incoming` (restore). */
  incoming?: boolean;
  /** Keep the guest stopped until `cont` (-S): a migration target runs only once committed. */
  startPaused?: boolean;
  /** An isolated copy (DR test): its bridged NICs become user-mode NICs, which reach nothing outside. */
  isolated?: boolean;
  /** The tap of each bridged NIC, by NIC index (made by guest-taps.ts before QEMU starts). */
  taps?: Record<number, string>;
}

export { macFor };

/** QEMU's id of NIC `i`'s backend: filters (counters, DR output hold) and hostfwd_add name it. */
export const netdevId = (i: number): string => `net${i}`;

/** A user-mode forward from a port of the host (on `bind`, loopback by default) to a guest port (-netdev and hostfwd_add). */
export const hostfwdRule = (hostPort: number, guestPort: number, bind = '127.0.0.1'): string => `tcp:${bind}:${hostPort}-:${guestPort}`;

export function demoCmdline(spec: VmSpec): string {
  const parts = ['console=ttyS0', 'quiet', 'panic=-1', `ferry.workload=${spec.workload}`];
  if (spec.disks.length > 0) parts.push('ferry.disk=1');
  // The demo guest configures eth0 only: a bridged first NIC gives it its segment address.
  const nic0 = spec.nics[0];
  if (nic0?.network === 'bridged' && nic0.ip) parts.push(`ferry.ip=${nic0.ip}`, `ferry.gw=${nic0.gw ?? ''}`);
  return parts.join(' ');
}

export function buildQemuArgs(l: QemuLaunch): string[] {
  const { spec } = l;
  const args = [
    '-name', `${spec.name},process=ferry-${spec.name}`,
    '-uuid', spec.uuid,
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-machine', 'q35',
    '-accel', l.accel,
    '-cpu', l.accel === 'kvm' ? 'host' : 'max',
    '-smp', String(spec.vcpus),
    '-m', `${spec.memoryMiB}M`,
    '-daemonize', '-pidfile', join(l.vmDir, 'qemu.pid'),
    '-qmp', 'unix:qmp.sock,server=on,wait=off',
    '-chardev', `socket,id=ser0,path=console.sock,server=on,wait=off,logfile=${join(l.vmDir, 'console.log')},logappend=on`,
    '-serial', 'chardev:ser0',
  ];
  const boot = spec.boot;
  if (boot.kind === 'demo') {
    args.push('-kernel', join(l.guestDir, 'vmlinuz'), '-initrd', join(l.guestDir, 'initrd.img'), '-append', demoCmdline(spec));
  } else if (boot.kind === 'kernel') {
    args.push('-kernel', boot.kernel);
    if (boot.initrd) args.push('-initrd', boot.initrd);
    args.push('-append', boot.cmdline ?? 'console=ttyS0');
  }
  spec.disks.forEach((_d, i) => {
    args.push('-blockdev', `driver=qcow2,node-name=disk${i},file.driver=file,file.filename=${join(l.vmDir, `disk${i}.qcow2`)}`);
    args.push('-device', `virtio-blk-pci,drive=disk${i},id=vd${i}${boot.kind === 'disk' && i === 0 ? ',bootindex=0' : ''}`);
  });
  spec.nics.forEach((nic, i) => {
    args.push('-netdev', netdevArg(l, i));
    // romfile= : no PXE option ROM; we never network-boot and it saves guest memory and time.
    args.push('-device', `virtio-net-pci,netdev=${netdevId(i)},mac=${nic.mac ?? macFor(spec.uuid, i)},romfile=`);
  });
  if (spec.balloon) args.push('-device', 'virtio-balloon-pci,id=balloon0');
  if (l.incoming) args.push('-incoming', 'defer');
  if (l.startPaused) args.push('-S');
  return args;
}

/**
 * The backend of NIC `i`. A bridged NIC is a tap on the host's guest bridge (vhost off: TCG).
 * An isolated copy (DR test) never joins the segment, where the VM of record answers at the
 * same address: its bridged NICs become restricted user-mode NICs.
 * Every user-mode NIC is `restrict=on`: without it the guest reaches the host's loopback at
 * 10.0.2.2 (other VMs' forwards, the agent's and controller's ports) and anything the host can
 * reach. Restricted, the guest opens no connection out; only the explicit `hostfwd`s (and those
 * hostfwd_add adds later) come in. The price: no outbound network for user-mode guests.
 */
function netdevArg(l: QemuLaunch, i: number): string {
  const nic = l.spec.nics[i]!;
  if (nic.network === 'bridged' && !l.isolated) {
    const tap = l.taps?.[i];
    if (tap === undefined) throw new Error(`no tap for bridged nic ${i}`);
    return `tap,id=${netdevId(i)},ifname=${tap},script=no,downscript=no,vhost=off`;
  }
  const fwd = (nic.network === 'user' ? (nic.forwardPorts ?? []) : []).map((guestPort, j) => {
    const hostPort = l.hostPorts[i]?.[j];
    if (hostPort === undefined) throw new Error(`no host port for nic ${i} guest port ${guestPort}`);
    return `,hostfwd=${hostfwdRule(hostPort, guestPort, l.forwardBind)}`;
  });
  return `user,id=${netdevId(i)},restrict=on${fwd.join('')}`;
}
