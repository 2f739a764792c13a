// Status and metrics of one VM, and facts about the host. Process numbers come from /proc
// (QEMU's CPU time and RSS); guest numbers from QMP (balloon, block stats), each query with a
// short timeout so a busy monitor delays a heartbeat a little, never forever. Network counters
// and the dirty rate are what the background sampler (sampler.ts) last took; reading them here
// costs a file read, never a QEMU calculation. docs/metrics-agent.md lists every source.
import { execFile } from 'node:child_process';
import { availableParallelism, freemem, loadavg, totalmem } from 'node:os';
import type { HostInfo, VmMetrics, VmStatus } from '../contracts/index.js';
import { QEMU_BINARY } from './qemu-command.js';
import { hostCpuBusySeconds } from './host-stats.js';
import { cpuSeconds, rssBytes } from './proc.js';
import { qmp } from './qemu/monitor.js';
import { samplesOf } from './sampler.js';
import type { VmRuntime } from './vm-runtime.js';

const METRICS_QMP_TIMEOUT_MS = 2_000;
const MIB = 1024 * 1024;

export async function vmMetrics(vm: VmRuntime): Promise<VmMetrics | undefined> {
  const pid = vm.rec.pid;
  if (pid === undefined || !vm.pidAlive) return undefined;
  const sampledAtMs = Date.now();
  const m: VmMetrics = { cpuSeconds: cpuSeconds(pid) ?? 0, rssBytes: rssBytes(pid) ?? 0, diskReadBytes: 0, diskWriteBytes: 0, diskReadOps: 0, diskWriteOps: 0, sampledAtMs };
  const samples = samplesOf(vm);
  if (samples?.dirtyBytesPerSec !== undefined) m.dirtyBytesPerSec = samples.dirtyBytesPerSec;
  if (!vm.qmp || vm.qmp.closed) return m;
  const [balloon, blocks, net] = await Promise.allSettled([
    vm.rec.spec.balloon ? qmp(vm, 'query-balloon', undefined, { timeoutMs: METRICS_QMP_TIMEOUT_MS }) : Promise.resolve(undefined),
    qmp(vm, 'query-blockstats', undefined, { timeoutMs: METRICS_QMP_TIMEOUT_MS }),
    samples?.net?.totals(),
  ]);
  if (balloon.status === 'fulfilled' && balloon.value) m.balloonBytes = balloon.value.actual;
  if (net.status === 'fulfilled' && net.value) Object.assign(m, { netRxBytes: net.value.rxBytes, netTxBytes: net.value.txBytes });
  if (blocks.status === 'fulfilled') {
    for (const b of blocks.value) {
      m.diskReadBytes += b.stats?.rd_bytes ?? 0;
      m.diskWriteBytes += b.stats?.wr_bytes ?? 0;
      m.diskReadOps += b.stats?.rd_operations ?? 0;
      m.diskWriteOps += b.stats?.wr_operations ?? 0;
    }
  }
  return m;
}

const isLive = (state: VmStatus['state']): boolean => state !== 'stopped' && state !== 'crashed' && state !== 'suspended';

export async function vmStatus(vm: VmRuntime, withMetrics = true): Promise<VmStatus> {
  const metrics = withMetrics && isLive(vm.rec.state) ? await vmMetrics(vm) : undefined;
  // Read the record only after the QMP queries: an action may have finished meanwhile, and a
  // status carrying the state from before it would overwrite the newer one at the controller.
  const r = vm.rec;
  const live = isLive(r.state);
  return {
    name: r.spec.name,
    uuid: r.spec.uuid,
    state: r.state,
    spec: r.spec,
    ...(live && r.pid !== undefined ? { pid: r.pid } : {}),
    ...(live && r.accel ? { accel: r.accel } : {}),
    ...(metrics && live ? { metrics } : {}),
    endpoints: live ? r.endpoints : [],
    ...(r.error ? { error: r.error } : {}),
    rev: r.rev ?? 0,
  };
}

export function qemuVersion(): Promise<string> {
  return new Promise((resolve) => {
    execFile(QEMU_BINARY, ['--version'], { timeout: 10_000 }, (err, stdout) => {
      resolve(err ? 'unknown' : (/version (\S+)/.exec(stdout)?.[1] ?? 'unknown'));
    });
  });
}

export interface HostFacts {
  name: string;
  site: string;
  url: string;
  accel: 'kvm' | 'tcg';
  qemuVersion: string;
  agentVersion: string;
  /** Configured link capacity, bytes/s. */
  netBytesPerSec: number;
}

export function hostInfo(f: HostFacts): HostInfo {
  const busy = hostCpuBusySeconds();
  return {
    ...f,
    sampledAtMs: Date.now(),
    ...(busy !== undefined ? { cpuBusySeconds: busy } : {}),
    cpus: availableParallelism(),
    memoryMiB: Math.floor(totalmem() / MIB),
    pid: process.pid,
    loadAvg1: loadavg()[0] ?? 0,
    memoryFreeMiB: Math.floor(freemem() / MIB),
  };
}
