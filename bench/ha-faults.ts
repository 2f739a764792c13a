// High availability under faults: for each fault of the matrix (test/e2e/ha-faults-matrix.ts),
// time until the VM runs again ("never stopped" when its QEMU ran on) and its data window from
// the guest heartbeat, next to the published figures of vSphere HA and Proxmox HA. Prints; never
// passes or fails on timings. Root (the controller's disk-full fault uses a tmpfs).
//   node dist/bench/ha-faults.js [--hold 20] [--long]     (--long: 60 s controller/agent freezes)
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TestCluster } from '../test/e2e/harness.js';
import { HaFaultMatrix, type FaultRow } from '../test/e2e/ha-faults-matrix.js';
import { table } from './lib.js';

const { values } = parseArgs({ options: { hold: { type: 'string', default: '20' }, long: { type: 'boolean', default: false } } });
const holdMs = Number(values.hold) * 1000;
process.env.FERRY_FAULT_HOOKS = '1';

/** Published figures (docs/dr.md "What each fault costs" cites them); the others have no published time. */
const ANCHORS: Record<string, string> = {
  guard: 'Proxmox HA: a watchdog-mux that stops feeding the watchdog gets its node reset by the (soft)watchdog, and its services recover after the fence',
  link: 'vSphere HA: host failed after 15 s (isolation response at 14-15 s), then the restart; Proxmox HA: fenced after 60 s without quorum, recovery typically 2-3 min',
};
const anchorOf = (fault: string): string => ANCHORS[Object.keys(ANCHORS).find((k) => fault.includes(k)) ?? ''] ?? '';

function rows(r: FaultRow): (string | number)[][] {
  return r.vms.map((v) => [
    r.fault, v.vm, String(v.maxCopies),
    v.runningAgainMs !== undefined ? `${(v.runningAgainMs / 1000).toFixed(1)} s` : v.sameQemu ? 'never stopped' : 'stopped',
    v.dataWindowMs !== undefined ? `${(v.dataWindowMs / 1000).toFixed(0)} s` : v.sameQemu ? '0' : '?',
    anchorOf(r.fault) || '-',
  ]);
}

const c = new TestCluster();
const m = new HaFaultMatrix(c, { holdMs, ctlPauseMs: values.long ? 60_000 : holdMs });
const ctlDir = join(c.home, 'controller');
let mounted = false;
try {
  if (process.getuid?.() === 0) {
    mkdirSync(ctlDir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0700', 'ferry-ha-bench', ctlDir]);
    mounted = true;
  }
  process.stderr.write('setting up (two VMs, protected, first checkpoints)…\n');
  await m.setup();
  const faults = [
    () => m.agentSigkill(), () => m.agentSigstop(), () => m.agentSigkillInCheckpointPause(), () => m.controllerSigstop(), () => m.controllerSigkill(), () => m.clockStep(),
    ...(mounted ? [() => m.controllerDiskFull()] : []),
    async () => {
      const r = await m.guardSigstopAgentSigkill();
      await m.failBackHome();
      return r;
    },
    () => m.hostLinkCut(),
  ];
  for (const f of faults) {
    const r = await f();
    process.stderr.write(`${r.fault}: done\n`);
  }
  console.log(m.table());
  console.log();
  console.log(table([['fault', 'vm', 'max QEMUs', 'running again after', 'data window', 'anchor (published)'], ...m.rows.flatMap(rows)]));
} finally {
  await c.cleanup(() => {
    if (mounted) execFileSync('umount', [ctlDir]);
  });
}
