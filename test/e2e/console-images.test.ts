// The web console's image library in real headless Chromium (Debian's `chromium`, playwright-core)
// on a one-host cluster, as an operator would use it: import the Debian test guest's kernel,
// initrd and root disk from the form (the format column shows what the content is), create a VM
// from them with a forwarded port and the guest-agent channel, follow the task to "created and
// started", and see the library say which VM uses each image. The guest itself is checked the way
// `ferry vm health` sees any guest: QEMU running, the guest agent answering, redis's port open.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { GuestHealth } from '../../src/contracts/guest-health.js';
import type { Vm } from '../../src/contracts/controller-api.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestCluster } from './harness.js';

const CHROMIUM = process.env.FERRY_CHROMIUM ?? '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEBIAN = process.env.FERRY_DEBIAN_OUT ?? join(ROOT, 'build', 'debian');

describe('web console: the image library', { timeout: 10 * 60_000 }, () => {
  const c = new TestCluster();
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `Debian's chromium at ${CHROMIUM} (scripts/setup.sh installs it)`);
    assert.ok(existsSync(join(DEBIAN, 'rootfs.qcow2')), 'the Debian test guest (guest/debian/build.sh, run by scripts/setup.sh)');
    await c.ok(['up', '--hosts', '1', '--port', '0', '--accel', 'tcg']);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
    page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    const { url, token } = c.clusterFile();
    await page.goto(`${url}/`);
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    // From here on (the session check before login answers 401 by design) no request may fail.
    page.on('response', (r) => r.status() >= 400 && pageErrors.push(`${r.status()} ${r.request().method()} ${r.url()}`));
  });
  after(async () => {
    await browser?.close();
    await c.cleanup();
  });

  it('imports from the form; the library shows what each file is', async () => {
    const dir = join(c.home, 'hosts', 'host1', 'images');
    mkdirSync(dir, { recursive: true });
    await page.getByRole('link', { name: 'Images' }).click();
    await page.getByText('The library is empty').waitFor();
    for (const [file, name] of [['vmlinuz', 'deb-kernel'], ['initrd.img', 'deb-initrd'], ['rootfs.qcow2', 'deb-root']] as const) {
      copyFileSync(join(DEBIAN, file), join(dir, file));
      await page.getByTestId('import-name').fill(name);
      await page.getByTestId('import-path').fill(join(dir, file));
      await page.getByTestId('import-submit').click();
      await page.getByRole('status').filter({ hasText: `Import ${name}` }).filter({ hasText: 'imported' }).waitFor({ timeout: 120_000 });
      await page.getByTestId(`image-${name}`).waitFor({ timeout: 10_000 });
    }
    const formats = await Promise.all(['deb-kernel', 'deb-initrd', 'deb-root'].map((n) => page.getByTestId(`image-${n}`).locator('td').nth(1).textContent()));
    assert.deepEqual(formats, ['kernel', 'initrd', 'qcow2']);
  });

  it('creates a VM from images with the CLI\'s options; the library says who uses them', async () => {
    await page.getByTestId('image-vm-name').fill('deb');
    await page.getByTestId('image-vm-memory').fill('384');
    await page.getByTestId('image-vm-image').selectOption('deb-root');
    await page.getByTestId('image-vm-kernel').selectOption('deb-kernel');
    await page.getByTestId('image-vm-initrd').selectOption('deb-initrd');
    await page.getByTestId('image-vm-ports').fill('6379');
    await page.getByTestId('image-vm-guest-agent').check();
    await page.getByTestId('image-vm-submit').click();
    await page.getByRole('status').filter({ hasText: 'Create deb' }).filter({ hasText: 'created and started' }).waitFor({ timeout: 120_000 });
    const vm = await c.json<Vm>(['vm', 'show', 'deb']);
    assert.equal(vm.spec.boot.kind, 'image');
    assert.equal(vm.spec.guestAgent, true);
    assert.deepEqual(vm.spec.nics[0]?.network === 'user' ? vm.spec.nics[0].forwardPorts : [], [6379]);
    await page.getByTestId('image-deb-root').getByRole('link', { name: 'deb' }).waitFor({ timeout: 10_000 });
    const h = await waitFor('the guest is healthy', async () => {
      const r = await c.json<GuestHealth>(['vm', 'health', 'deb']).catch(() => undefined);
      return r?.ok ? r : undefined;
    }, { timeoutMs: 180_000, everyMs: 2000 });
    assert.deepEqual(h.items.map((i) => i.name), ['qemu', 'guest-agent', 'port 6379']);
    assert.deepEqual(pageErrors, []);
  });
});
