// accel 'auto': KVM is probed by booting the demo guest under it. On our machines KVM guests
// hang after the kernel decompresses (docs/qemu.md), so the agent must fall back to TCG.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostInfo } from '../../src/contracts/index.js';
import { defaultGuestDir, runAgent, type RunningAgent } from '../../src/agent/index.js';
import { P, killQemus } from '../../src/testing/agent.js';
import { probeKvm } from '../../src/agent/kvm-probe.js';
import { TestPki } from '../../src/testing/pki.js';

const pki = new TestPki();

let dataDir: string;
let agent: RunningAgent | undefined;

before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'ferry-agent-accel-'));
});

after(async () => {
  killQemus(dataDir);
  await agent?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('the KVM probe does not see a guest run under KVM here', { skip: !existsSync('/dev/kvm') && 'no /dev/kvm' }, async () => {
  const g = defaultGuestDir();
  assert.equal(await probeKvm(join(g, 'vmlinuz'), join(g, 'initrd.img'), 10_000), false);
});

test("accel 'auto' falls back to tcg", async () => {
  agent = await runAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'auto' });
  const host = await (await pki.agentClient(agent.url, 'h1')).get<HostInfo>(`${P}/host`);
  assert.equal(host.accel, 'tcg');
});
