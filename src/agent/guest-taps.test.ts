// Taps on a real bridge in a namespace of our own (root only; skipped otherwise).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promisify } from 'node:util';
import type { VmSpec } from '../contracts/index.js';
import { GuestTaps, tapName, type TapOwner } from './guest-taps.js';

const run = promisify(execFile);
const NS = `ferry-taptest-${randomBytes(3).toString('hex')}`;
const canRun = process.getuid?.() === 0 ? await run('ip', ['netns', 'list']).then(() => true, () => false) : false;

const spec = (uuid: string): VmSpec => ({
  name: 'v', uuid, memoryMiB: 64, vcpus: 1, boot: { kind: 'demo' }, disks: [], balloon: false, workload: 'idle',
  nics: [{ network: 'bridged', segment: 'main', ip: '10.77.1.10/24' }],
});
const owner = (uuid: string, alive: boolean): TapOwner => ({ rec: { spec: spec(uuid) }, pidAlive: alive });
async function tapsOnBridge(): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', NS, '-j', 'link', 'show', 'master', 'br0']);
  return (JSON.parse(stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).sort();
}

describe('guest taps on a real bridge', { skip: canRun ? false : 'needs root and ip netns' }, () => {
  before(async () => {
    await run('ip', ['netns', 'add', NS]);
    await run('ip', ['-n', NS, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', NS, 'link', 'set', 'br0', 'up']);
  });
  after(async () => {
    await run('ip', ['netns', 'delete', NS]).catch(() => undefined);
  });
  const taps = (): GuestTaps => new GuestTaps({ segment: 'main', subnet: '10.77.1.0/24', bridge: 'br0', netns: NS });

  it('makes the tap on the bridge, keeps it while QEMU lives, deletes it once QEMU is gone', async () => {
    const t = taps();
    const a = { rec: { spec: spec('11111111-1111-4111-8111-111111111111') }, pidAlive: true };
    const [name] = await t.ensure(a);
    assert.equal(name, tapName(a.rec.spec, 0));
    t.started(a);
    await t.sweep();
    assert.deepEqual(await tapsOnBridge(), [name]);
    a.pidAlive = false;
    await t.sweep();
    assert.deepEqual(await tapsOnBridge(), []);
  });

  it('a sweep racing a restart of the same VM never deletes the tap the restart made', async () => {
    const t = taps();
    const uuid = '22222222-2222-4222-8222-222222222222';
    const dead = owner(uuid, false);
    await t.ensure(dead);
    t.started(dead); // its QEMU then exited: the sweep may delete its tap…
    const again = owner(uuid, false); // …while a start makes it again (QEMU not up yet: pending)
    await Promise.all([t.sweep(), t.ensure(again)]);
    assert.deepEqual(await tapsOnBridge(), [tapName(again.rec.spec, 0)]);
    await t.release(again);
    assert.deepEqual(await tapsOnBridge(), []);
  });

  it('a restarted agent keeps the taps of live VMs and deletes strays', async () => {
    const live = owner('33333333-3333-4333-8333-333333333333', true);
    const gone = owner('44444444-4444-4444-8444-444444444444', false);
    const first = taps();
    await first.ensure(live);
    await first.ensure(gone);
    const restarted = taps();
    await restarted.adopt([live, gone]);
    assert.deepEqual(await tapsOnBridge(), [tapName(live.rec.spec, 0)]);
    await restarted.release(live);
  });

  it('two VMs whose MACs end alike cannot share a tap', async () => {
    const t = taps();
    const a: TapOwner = { rec: { spec: { ...spec('66666666-6666-4666-8666-666666666666'), name: 'a', nics: [{ network: 'bridged', mac: '52:54:00:aa:bb:cc' }] } }, pidAlive: true };
    const b: TapOwner = { rec: { spec: { ...spec('77777777-7777-4777-8777-777777777777'), name: 'b', nics: [{ network: 'bridged', mac: '52:54:01:aa:bb:cc' }] } }, pidAlive: false };
    await t.ensure(a);
    t.started(a);
    await assert.rejects(t.ensure(b), /tap feaabbccn0 belongs to vm a/);
    assert.deepEqual(await tapsOnBridge(), ['feaabbccn0'], "a's tap stays");
    await t.release(a);
  });

  it('refuses a NIC of another segment', async () => {
    const other: TapOwner = { rec: { spec: { ...spec('55555555-5555-4555-8555-555555555555'), nics: [{ network: 'bridged', segment: 'dr' }] } }, pidAlive: false };
    await assert.rejects(taps().ensure(other), /segment dr, this host's bridge is on main/);
  });
});
