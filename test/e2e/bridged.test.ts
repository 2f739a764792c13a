// Bridged guest networking end to end (docs/networking.md), through the real CLI on
// `ferry up --net bridged`: hosts in their own network namespaces, joined by the site's
// bridge; the guest on a tap with its own address. A client on the segment keeps ONE TCP
// connection open to the guest's echo service across live migrations, and it must survive
// with every line echoed in order; the guest keeps its IP and MAC, the site switch learns the
// MAC on the new host's port, and the source's tap goes away. Gaps are printed, not asserted
// (bench/bridged.ts measures them).
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Vm } from '../../src/contracts/controller-api.js';
import type { VmLocation } from '../../src/contracts/endpoints.js';
import type { MigrationRecord } from '../../src/contracts/migration.js';
import { isAlive } from '../../src/cli/process.js';
import { fdbPort, guestTaps, inNetns, LanProbe, netnsUnusable } from '../../src/testing/lan-client.js';
import { TestCluster } from './harness.js';
import { waitFor } from '../../src/testing/wait-for.js';

const VM = 'web';
type Shown = Vm & { location?: VmLocation };
interface NetShape { id: string; sites: { site: string; netns: string; subnet: string; gateway: string }[]; hosts: { host: string; netns: string; port: string }[] }

describe('bridged guest networking, end to end', { timeout: 8 * 60_000 }, async () => {
  const skip = await netnsUnusable();
  const c = new TestCluster();
  let net: NetShape;
  let probe: LanProbe | undefined;
  let ip = '';
  let mac = '';
  const siteNs = (): string => net.sites[0]!.netns;
  const hostNs = (h: string): string => net.hosts.find((x) => x.host === h)!.netns;
  const port = (h: string): string => net.hosts.find((x) => x.host === h)!.port;

  before(async () => {
    if (skip) return;
    await c.ok(['up', '--sites', 'main:2,dr:1', '--net', 'bridged', '--port', '0', '--accel', 'tcg']);
    net = JSON.parse(await c.ok(['net', 'show', '--json'])) as NetShape;
    const vm = await c.json<Vm>(['vm', 'create', VM, '--memory', '128', '--workload', 'http,echo,dirty:4:16', '--net', 'bridged', '--host', 'host1']);
    assert.equal(vm.state, 'running');
    const nic = vm.spec.nics[0];
    assert.ok(nic?.network === 'bridged' && nic.ip && nic.segment === 'main', JSON.stringify(vm.spec.nics));
    ip = nic.ip.split('/')[0]!;
    await c.waitBeat(VM, 1);
  });

  after(async () => {
    probe?.stop();
    if (skip) return;
    await c.cleanup();
    // ferry down deletes the namespaces it made.
    const stdout = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.ok(!stdout.includes(`ferry-${net?.id ?? 'none'}-`), `namespaces left behind:\n${stdout}`);
  });

  it('the guest answers at its own address on the segment, and the registry knows it', { skip }, async () => {
    const shown = await c.json<Shown>(['vm', 'show', VM]);
    const lan = shown.location?.addresses.lan ?? [];
    assert.equal(lan[0]?.ip, ip);
    assert.equal(lan[0]?.segment, 'main');
    mac = lan[0]?.mac ?? '';
    assert.match(mac, /^52:54:00(:[0-9a-f]{2}){3}$/);
    assert.match(await c.ok(['vm', 'show', VM]), new RegExp(`network:\\s+bridged ${ip.replace(/\./g, '\\.')}/24 on segment main`));
    const health = `fetch('http://${ip}/health').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    assert.equal((await inNetns(siteNs(), [process.execPath, '-e', health])).trim(), 'ok');
    assert.equal((await guestTaps(hostNs('host1'))).length, 1);
    assert.deepEqual(await guestTaps(hostNs('host2')), []);
  });

  it('an open TCP connection survives live migrations there and back, with every line echoed in order', { skip }, async () => {
    probe = LanProbe.start(siteNs(), ip);
    await waitFor('the echo connection and HTTP answers', async () => {
      const r = await probe!.report();
      return r.echoed > 10 && r.httpOk > 2 ? r : undefined;
    }, { timeoutMs: 30_000, everyMs: 200 });
    const beat = await c.heartbeat(VM);
    for (const [from, to] of [['host1', 'host2'], ['host2', 'host1']] as const) {
      probe.mark();
      const rec = await c.json<MigrationRecord>(['vm', 'migrate', VM, '--to', to]);
      assert.equal(rec.outcome, 'succeeded', JSON.stringify(rec));
      // Its QEMU lives in the host's namespace and cannot dial the other QEMU: the agents relay.
      assert.notEqual(rec.transport, 'direct');
      // Lines sent during the pause come back after it.
      const w = await waitFor('the echoes to catch up after the move', async () => {
        const r = await probe!.report();
        return r.outstanding <= 2 && r.echoed > 50 ? r : undefined;
      }, { timeoutMs: 30_000, everyMs: 200 });
      assert.equal(w.closed, null, `the connection broke: ${w.closed}`);
      assert.equal(w.wrong, 0, 'every line back, in order, on the same connection');
      assert.equal(w.httpWrong, 0);
      console.log(`bridged ${from} -> ${to}: echo gap ${w.echoGapMs} ms, new-connection HTTP gap ${w.httpGapMs} ms (${w.httpFailed} failed), QEMU downtime ${rec.downtimeMs} ms`);

      const shown = await c.json<Shown>(['vm', 'show', VM]);
      assert.equal(shown.host, to);
      assert.equal(shown.location?.reason, 'migrated');
      assert.deepEqual(shown.location?.addresses.lan?.map((a) => [a.ip, a.mac]), [[ip, mac]], 'same IP and MAC');
      // The site switch learned the MAC on the new host's port (announce-self, guest traffic).
      assert.equal(await fdbPort(siteNs(), mac), port(to));
      await waitFor(`${from}'s tap to go once its QEMU is gone`, async () => (await guestTaps(hostNs(from))).length === 0, { timeoutMs: 15_000, everyMs: 250 });
      assert.equal((await guestTaps(hostNs(to))).length, 1);
    }
    const after = await c.waitBeat(VM, beat?.seq ?? 0);
    assert.equal(after.bad, 0);
  });

  it('refuses what would take a bridged VM off its segment, and expose points at its address', { skip }, async () => {
    const migrate = await c.run(['vm', 'migrate', VM, '--to', 'host3']);
    assert.notEqual(migrate.code, 0);
    assert.match(migrate.stderr, /host3: its guest bridge is on segment dr, the VM's bridged NIC on main/);
    const direct = await c.run(['vm', 'migrate', VM, '--to', 'host2', '--transport', 'direct']);
    assert.notEqual(direct.code, 0);
    assert.match(direct.stderr, /transport cannot be direct: VM web is bridged and its QEMU runs in the guest network namespace/);
    const protect = await c.run(['dr', 'protect', VM, '--to', 'dr', '--rpo', '30s']);
    assert.notEqual(protect.code, 0);
    assert.match(protect.stderr, /segment dr, the VM's bridged NIC on main/);
    const expose = await c.run(['vm', 'expose', VM, '--port', '80']);
    assert.notEqual(expose.code, 0);
    assert.match(expose.stderr, new RegExp(`reach it at ${ip.replace(/\./g, '\\.')}:80`));
    assert.equal((await c.json<Shown>(['vm', 'show', VM])).host, 'host1', 'nothing moved');
  });

  it("an agent restart keeps the VM's tap and the open connection; a stop deletes the tap", { skip }, async () => {
    assert.ok(probe, 'started by the migration test');
    const agent = c.clusterFile().agents.find((a) => a.name === 'host1')!;
    process.kill(agent.pid, 'SIGTERM');
    await waitFor('host1 agent to exit', async () => !isAlive(agent.pid), { timeoutMs: 30_000, everyMs: 200 });
    probe.mark();
    await c.ok(['up']); // restarts the missing agent, which re-attaches to the running QEMU
    await waitFor('a few tap sweeps after the restart', async () => {
      const r = await probe!.report();
      return r.echoed > 300 ? r : undefined;
    }, { timeoutMs: 30_000, everyMs: 500 });
    const w = await probe.report();
    assert.equal(w.closed, null);
    assert.equal(w.wrong, 0);
    assert.equal((await guestTaps(hostNs('host1'))).length, 1, 'the restarted agent adopted the tap of the running VM');
    probe.stop();
    probe = undefined;
    await c.ok(['vm', 'stop', VM, '--force']);
    await waitFor('the tap to go with its QEMU', async () => (await guestTaps(hostNs('host1'))).length === 0, { timeoutMs: 15_000, everyMs: 250 });
  });
});
