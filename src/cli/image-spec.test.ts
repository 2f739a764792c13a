import { test } from 'node:test';
import assert from 'node:assert/strict';
import { imageParts } from './image-spec.js';
import { UsageError } from './output.js';

const none = { disk: [], port: [] };

test('--image is disk 0 on the image and boots its boot loader; --disk SIZE grows it, further ones are empty disks', () => {
  assert.deepEqual(imageParts({ ...none, image: 'deb' }), { boot: { kind: 'disk' }, disks: [{ fromImage: { name: 'deb' } }] });
  assert.deepEqual(imageParts({ ...none, image: 'deb', disk: [4096, 64] }), {
    boot: { kind: 'disk' },
    disks: [{ fromImage: { name: 'deb' }, sizeMiB: 4096 }, { sizeMiB: 64 }],
  });
});

test('--kernel boots a library kernel directly, with --initrd and --append', () => {
  assert.deepEqual(imageParts({ ...none, image: 'root', kernel: 'k', initrd: 'i', append: 'root=/dev/vda' }), {
    boot: { kind: 'image', kernel: { name: 'k' }, initrd: { name: 'i' }, cmdline: 'root=/dev/vda' },
    disks: [{ fromImage: { name: 'root' } }],
  });
});

test('--port forwards guest ports; --cloud-init carries the user-data; no option sets nothing', () => {
  assert.deepEqual(imageParts({ ...none, port: [22, 6379] }, '#cloud-config\n'), { nics: [{ network: 'user', forwardPorts: [22, 6379] }], cloudInit: { userData: '#cloud-config\n' } });
  assert.deepEqual(imageParts(none), {});
  assert.deepEqual(imageParts({ ...none, disk: [64] }), { disks: [{ sizeMiB: 64 }] });
});

test('combinations that make no sense are usage errors', () => {
  assert.throws(() => imageParts({ ...none, initrd: 'i' }), UsageError);
  assert.throws(() => imageParts({ ...none, append: 'x' }), UsageError);
  assert.throws(() => imageParts({ ...none, port: [80], net: 'bridged' }), UsageError);
});
