// Benchmark (issue 18): the image library with the Debian test guest (guest/debian/build.sh) on a
// 2-host cluster. Imported on host2 only; then, in the same run:
//   - first boot on host2, which holds the images (the peer: no fetch),
//   - first boot on host1, which lacks them (fetches over ferry-wire first),
//   - a second VM on host1 from the same images (nothing to fetch).
// For each: `vm create` until running, and until the guest says `ferry-guest ready` on its
// serial console (redis answers). Also: import time per image, bytes fetched vs the images'
// allocated size on disk. Timings are printed, never asserted.
//   node dist/bench/images.js
import { copyFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageRecord, Vm } from '../src/contracts/index.js';
import { waitFor } from '../src/testing/wait-for.js';
import { REPO, startCluster, table } from './lib.js';

const DEBIAN = process.env.FERRY_DEBIAN_OUT ?? join(REPO, 'build', 'debian');
const IMAGES: [file: string, name: string][] = [['vmlinuz', 'deb-kernel'], ['initrd.img', 'deb-initrd'], ['rootfs.qcow2', 'deb-root']];

const cluster = await startCluster(2);
try {
  const dir = join(cluster.home, 'hosts', 'host2', 'images');
  mkdirSync(dir, { recursive: true });
  const importRows: (string | number)[][] = [['image', 'format', 'file bytes', 'allocated bytes', 'stored (non-zero chunks)', 'import ms']];
  let allocated = 0;
  for (const [file, name] of IMAGES) {
    const path = join(dir, file);
    copyFileSync(join(DEBIAN, file), path);
    const st = statSync(path);
    allocated += st.blocks * 512;
    const t0 = performance.now();
    const img = JSON.parse(await cluster.ferry('image', 'import', path, name, '--host', 'host2', '--json')) as ImageRecord;
    importRows.push([name, img.format, st.size, st.blocks * 512, img.storedBytes, Math.round(performance.now() - t0)]);
  }

  const boot = async (vm: string, host: string): Promise<{ createMs: number; readyMs: number }> => {
    const t0 = performance.now();
    await cluster.ferry('vm', 'create', vm, '--memory', '384', '--image', 'deb-root', '--kernel', 'deb-kernel', '--initrd', 'deb-initrd',
      '--append', 'console=ttyS0 root=/dev/vda', '--port', '6379', '--host', host, '--json');
    const createMs = performance.now() - t0;
    await waitFor(`${vm} ready`, async () => ((await cluster.api.get<string>(`/api/v1/vms/${vm}/console?tailBytes=65536`, { text: true }).catch(() => '')).includes('ferry-guest ready') ? true : undefined), { timeoutMs: 300_000, everyMs: 250 });
    const readyMs = performance.now() - t0;
    await cluster.ferry('vm', 'stop', vm, '--force');
    return { createMs, readyMs };
  };
  const fetchedTo = async (host: string): Promise<number> =>
    (await cluster.api.get<ImageRecord[]>('/api/v1/images')).flatMap((i) => i.fetches ?? []).filter((f) => f.host === host).reduce((n, f) => n + f.newBytes, 0);

  const holder = await boot('first-on-holder', 'host2');
  const lacking = await boot('first-on-host1', 'host1');
  const fetched1 = await fetchedTo('host1');
  const second = await boot('second-on-host1', 'host1');
  const fetched2 = (await fetchedTo('host1')) - fetched1;
  const vms = await cluster.api.get<Vm[]>('/api/v1/vms');

  console.log('\nimports (on host2)');
  console.log(table(importRows));
  console.log('\nfirst boot, 384 MiB Debian guest (systemd + redis), TCG');
  console.log(table([
    ['VM', 'host', 'fetched bytes', 'create → running ms', 'create → redis ready ms'],
    ['first on the host that holds the images', 'host2', 0, Math.round(holder.createMs), Math.round(holder.readyMs)],
    ['first on a host that lacks them', 'host1', fetched1, Math.round(lacking.createMs), Math.round(lacking.readyMs)],
    ['second from the same images', 'host1', fetched2, Math.round(second.createMs), Math.round(second.readyMs)],
  ]));
  console.log(`\nbytes fetched to host1 ${fetched1} vs the images' allocated size ${allocated} (${((100 * fetched1) / allocated).toFixed(1)} %); ${vms.length} VMs made`);
} finally {
  await cluster.down();
}
