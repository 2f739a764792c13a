// The high-availability fault matrix with real QEMU (ha-faults-matrix.ts does the work): for
// each fault, never two QEMU processes of a VM at once; no VM stopped by a fault of Ferry's own
// (same QEMU, heartbeat going on, bad=0); a VM whose host is really cut off runs again at the DR
// site (heartbeat from its checkpoint on, bad=0). Prints the matrix.
// Default suite: each control-plane fault lasts 20 s (beyond lease 5 s + margin 6 s + the guards'
// 3 s window). FERRY_LONG_FAULTS=1: the controller frozen and the agent stopped for 60 s.
// The disk-full fault needs root (the controller's data dir is a tmpfs mounted here).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from './harness.js';
import { HaFaultMatrix, type FaultRow } from './ha-faults-matrix.js';

process.env.FERRY_FAULT_HOOKS = '1';
// The controller says what HA decided and why (printed after the matrix).
process.env.DEBUG = [process.env.DEBUG, 'ferry:controller:hosts,ferry:controller:dr'].filter(Boolean).join(',');
const LONG = process.env.FERRY_LONG_FAULTS === '1';
const ROOT = process.getuid?.() === 0;

describe('high availability: the fault matrix', { timeout: (LONG ? 25 : 15) * 60_000 }, () => {
  const c = new TestCluster();
  const m = new HaFaultMatrix(c, { holdMs: LONG ? 60_000 : 20_000, ctlPauseMs: LONG ? 60_000 : 20_000 });
  const ctlDir = join(c.home, 'controller');
  let mounted = false;

  before(async () => {
    if (ROOT) {
      mkdirSync(ctlDir, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'ferry-ha-faults', ctlDir]);
      mounted = true;
    }
    await m.setup();
  });

  after(async () => {
    console.log(`\nHA fault matrix${LONG ? ' (long)' : ''}:\n${m.table()}\n`);
    console.log(m.diagnostics());
    await c.cleanup(() => {
      if (mounted) execFileSync('umount', [ctlDir]);
    });
  });

  /** Ferry's own fault: no VM stopped, none started elsewhere, the guest never noticed. */
  const untouched = (r: FaultRow): void => {
    for (const v of r.vms) {
      assert.ok(v.maxCopies <= 1, `${r.fault}: ${v.vm} ran ${v.maxCopies} times at once`);
      assert.ok(v.running && v.host === 'host1', `${r.fault}: ${v.vm} is ${v.running ? 'running' : 'not running'} on ${v.host}`);
      assert.ok(v.sameQemu, `${r.fault}: ${v.vm} was stopped or restarted`);
      assert.ok(v.seqAfter > v.seqBefore && !v.seqRestarted, `${r.fault}: ${v.vm} heartbeat ${v.seqBefore} -> ${v.seqAfter}`);
      assert.equal(v.bad, 0, `${r.fault}: ${v.vm} memory`);
    }
  };

  it('agent SIGKILL: the VMs run on, are not started elsewhere, and the restarted agent re-attaches', async () => {
    untouched(await m.agentSigkill());
  });

  it('agent SIGSTOP: the VMs run on and are not started elsewhere', async () => {
    untouched(await m.agentSigstop());
  });

  it('agent SIGKILL inside a checkpoint pause: the restarted agent resumes the guests, replication goes on', async () => {
    untouched(await m.agentSigkillInCheckpointPause());
  });

  it('controller SIGSTOP beyond lease + margin: no VM fenced, none failed over after it resumes', async () => {
    untouched(await m.controllerSigstop());
  });

  it('controller SIGKILL and restart: no VM fenced or failed over', async () => {
    untouched(await m.controllerSigkill());
  });

  it('clock step of +1 h and -1 h on the controller, the agents and their guards: no VM fenced or failed over', async () => {
    const r = await m.clockStep();
    assert.equal(r.notes.length, 2, r.notes.join('; '));
    untouched(r);
  });

  it('controller disk full: leases go on, no VM fenced', { skip: ROOT ? false : 'needs root for a tmpfs' }, async () => {
    untouched(await m.controllerDiskFull());
  });

  it('fence guard frozen while its agent is dead: no second copy while it cannot fence; every VM runs at the end', async () => {
    const r = await m.guardSigstopAgentSigkill();
    for (const v of r.vms) {
      assert.ok(v.maxCopies <= 1, `${v.vm} ran ${v.maxCopies} times at once`);
      assert.ok(v.running, `${v.vm} is not running (on ${v.host})`);
      assert.equal(v.bad, 0, `${v.vm} memory`);
      assert.ok(!v.seqRestarted && v.seqAfter > 0, `${v.vm} heartbeat`);
    }
    assert.ok(r.notes.some((n) => /while the guard was frozen: ha-a on host1, ha-b on host1/.test(n)), r.notes.join('; '));    await m.failBackHome(); // the next row starts from host1
  });

  it('a host cut off: it fences its VMs and they run again at the DR site, never twice', async () => {
    const r = await m.hostLinkCut();
    for (const v of r.vms) {
      assert.ok(v.maxCopies <= 1, `${v.vm} ran ${v.maxCopies} times at once`);
      assert.ok(v.running && v.host === 'host2', `${v.vm} is ${v.running ? 'running' : 'not running'} on ${v.host}`);
      assert.equal(v.bad, 0, `${v.vm} memory`);
      assert.ok(!v.seqRestarted && v.seqAfter > 0, `${v.vm} heartbeat at the DR site`);
    }
    // host1 is back: nothing of ha-a or ha-b runs there.
    assert.deepEqual([...m.copies().values()].filter((n) => n > 1), []);
  });
});
