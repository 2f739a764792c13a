import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildQemuArgs, demoCmdline, macFor } from './qemu-command.js';
import { tapName } from './guest-taps.js';
import type { VmSpec } from '../contracts/index.js';

const spec: VmSpec = {
  name: 'web1',
  uuid: '5b0d3f7e-8f1c-4a53-9d5e-2f4b1c0a9e11',
  memoryMiB: 128,
  vcpus: 2,
  boot: { kind: 'demo' },
  disks: [{ sizeMiB: 64 }],
  nics: [{ network: 'user', forwardPorts: [80, 22] }],
  balloon: true,
  workload: 'http',
};

function valueOf(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1] ?? ''] : []));
}

test('demo boot: kernel, initrd and cmdline with workload and disk flag', () => {
  const args = buildQemuArgs({ spec, vmDir: '/d/vms/web1', accel: 'tcg', guestDir: '/g', hostPorts: [[4000, 4001]] });
  assert.deepEqual(valueOf(args, '-kernel'), ['/g/vmlinuz']);
  assert.deepEqual(valueOf(args, '-initrd'), ['/g/initrd.img']);
  assert.deepEqual(valueOf(args, '-append'), ['console=ttyS0 quiet panic=-1 ferry.workload=http ferry.disk=1']);
  assert.equal(demoCmdline({ ...spec, disks: [] }), 'console=ttyS0 quiet panic=-1 ferry.workload=http');
});

test('identity, sizing, accel and detachment options', () => {
  const args = buildQemuArgs({ spec, vmDir: '/d/vms/web1', accel: 'tcg', guestDir: '/g', hostPorts: [[4000, 4001]] });
  assert.deepEqual(valueOf(args, '-uuid'), [spec.uuid]);
  assert.deepEqual(valueOf(args, '-smp'), ['2']);
  assert.deepEqual(valueOf(args, '-m'), ['128M']);
  assert.deepEqual(valueOf(args, '-accel'), ['tcg']);
  assert.deepEqual(valueOf(args, '-cpu'), ['max']);
  assert.ok(args.includes('-daemonize') && args.includes('-nodefaults') && args.includes('-no-reboot'));
  assert.deepEqual(valueOf(args, '-pidfile'), ['/d/vms/web1/qemu.pid']);
  assert.deepEqual(valueOf(args, '-qmp'), ['unix:qmp.sock,server=on,wait=off']);
  assert.match(valueOf(args, '-chardev')[0] ?? '', /logfile=\/d\/vms\/web1\/console\.log,logappend=on/);
  assert.ok(!args.includes('-incoming'));
  const kvm = buildQemuArgs({ spec, vmDir: '/d', accel: 'kvm', guestDir: '/g', hostPorts: [[1, 2]] });
  assert.deepEqual(valueOf(kvm, '-cpu'), ['host']);
});

test('disks, NIC forwards on loopback, balloon, incoming', () => {
  const args = buildQemuArgs({ spec, vmDir: '/d/vms/web1', accel: 'tcg', guestDir: '/g', hostPorts: [[4000, 4001]], incoming: true });
  assert.deepEqual(valueOf(args, '-blockdev'), ['driver=qcow2,node-name=disk0,file.driver=file,file.filename=/d/vms/web1/disk0.qcow2']);
  assert.deepEqual(valueOf(args, '-netdev'), ['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:4000-:80,hostfwd=tcp:127.0.0.1:4001-:22']);
  const devices = valueOf(args, '-device');
  assert.ok(devices.includes('virtio-balloon-pci,id=balloon0'));
  assert.ok(devices.includes(`virtio-net-pci,netdev=net0,mac=${macFor(spec.uuid, 0)},romfile=`));
  assert.deepEqual(valueOf(args, '-incoming'), ['defer']);
  assert.equal(args.includes('-S'), false, 'a restore runs once its stream is in');
  const target = buildQemuArgs({ spec, vmDir: '/d/vms/web1', accel: 'tcg', guestDir: '/g', hostPorts: [[4000, 4001]], incoming: true, startPaused: true });
  assert.equal(target.includes('-S'), true, 'a migration target waits for its commit');
  assert.throws(() => buildQemuArgs({ spec, vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [[4000]] }), /no host port/);
});

test('an isolated VM (DR test copy): user net restricted, forwards kept', () => {
  const args = buildQemuArgs({ spec, vmDir: '/d/vms/web1', accel: 'tcg', guestDir: '/g', hostPorts: [[4000, 4001]], isolated: true });
  assert.deepEqual(valueOf(args, '-netdev'), ['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:4000-:80,hostfwd=tcp:127.0.0.1:4001-:22']);
});

test('kernel and disk boot; no balloon', () => {
  const k = buildQemuArgs({
    spec: { ...spec, balloon: false, disks: [], nics: [], boot: { kind: 'kernel', kernel: '/k', initrd: '/i', cmdline: 'x=1' } },
    vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [],
  });
  assert.deepEqual(valueOf(k, '-kernel'), ['/k']);
  assert.deepEqual(valueOf(k, '-append'), ['x=1']);
  assert.ok(!valueOf(k, '-device').some((d) => d.startsWith('virtio-balloon')));
  const d = buildQemuArgs({ spec: { ...spec, boot: { kind: 'disk' } }, vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [[1, 2]] });
  assert.ok(!d.includes('-kernel'));
  assert.ok(valueOf(d, '-device').includes('virtio-blk-pci,drive=disk0,id=vd0,bootindex=0'));
});

test('a bridged NIC: a tap by name in the netdev, its address on the demo command line', () => {
  const bridged: VmSpec = { ...spec, nics: [{ network: 'bridged', segment: 'main', ip: '10.77.1.10/24', gw: '10.77.1.1', mac: '52:54:00:77:00:10' }] };
  const a = buildQemuArgs({ spec: bridged, vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [[]], taps: { 0: 'fe770010n0' } });
  assert.deepEqual(valueOf(a, '-netdev'), ['tap,id=net0,ifname=fe770010n0,script=no,downscript=no,vhost=off']);
  assert.ok(valueOf(a, '-device').includes('virtio-net-pci,netdev=net0,mac=52:54:00:77:00:10,romfile='));
  assert.match(valueOf(a, '-append')[0] ?? '', / ferry\.ip=10\.77\.1\.10\/24 ferry\.gw=10\.77\.1\.1( |$)/);
  assert.throws(() => buildQemuArgs({ spec: bridged, vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [[]] }), /no tap/);
  // A DR test copy must not join the segment where the VM of record answers at that address.
  const iso = buildQemuArgs({ spec: bridged, vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [[]], isolated: true });
  assert.deepEqual(valueOf(iso, '-netdev'), ['user,id=net0,restrict=on']);
  assert.equal(tapName(bridged, 0), 'fe770010n0');
  assert.equal(tapName({ ...bridged, nics: [{ network: 'bridged' }] }, 0), `fe${macFor(spec.uuid, 0).split(':').slice(3).join('')}n0`);
});

test('MACs are stable per uuid and differ between VMs and NICs', () => {
  assert.equal(macFor(spec.uuid, 0), macFor(spec.uuid, 0));
  assert.notEqual(macFor(spec.uuid, 0), macFor(spec.uuid, 1));
  assert.notEqual(macFor(spec.uuid, 0), macFor('00000000-0000-4000-8000-000000000000', 0));
  assert.match(macFor(spec.uuid, 0), /^52:54:00(:[0-9a-f]{2}){3}$/);
});

test('a library kernel and initrd boot from the files this host holds; a cloud-init seed is a read-only disk', () => {
  const args = buildQemuArgs({
    spec: { ...spec, disks: [], nics: [], boot: { kind: 'image', kernel: { name: 'k', id: 'K' }, initrd: { name: 'i', id: 'I' } }, cloudInit: { userData: '#cloud-config\n' } },
    vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [], imageFile: (id) => `/lib/${id}`,
  });
  assert.deepEqual(valueOf(args, '-kernel'), ['/lib/K']);
  assert.deepEqual(valueOf(args, '-initrd'), ['/lib/I']);
  assert.deepEqual(valueOf(args, '-append'), ['console=ttyS0']);
  assert.deepEqual(valueOf(args, '-drive'), ['if=none,id=cidata,format=raw,readonly=on,file=/d/seed.iso']);
  assert.throws(() => buildQemuArgs({ spec: { ...spec, boot: { kind: 'image', kernel: { name: 'k' } } }, vmDir: '/d', accel: 'tcg', guestDir: '/g', hostPorts: [[1, 2]], imageFile: (id) => id }), /no id/);
});
