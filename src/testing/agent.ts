// Helpers for the agent's integration tests (test/integration/agent-*.test.ts): VM specs for
// the demo guest, heartbeat parsing from the console, waiting for a heartbeat (wait-for.ts),
// and PID-based cleanup. Not part of the agent's public surface.
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { ApiClient, AGENT_API_PREFIX, type VmSpec, type VmStatus } from '../contracts/index.js';
import { rmSync } from 'node:fs';
import { findGuardPid, findQemuPids } from '../agent/index.js';
import { terminate } from '../cli/process.js';
import { readProcStat } from '../agent/proc.js';
import { parseHeartbeats } from '../contracts/heartbeat.js';
import { waitFor } from './wait-for.js';
import { VmRuntime } from '../agent/vm-runtime.js';
import { QmpClient } from '../qmp/index.js';
import { FakeQmpServer, type FakeConnection } from './qmp-fake-server.js';

export const P = AGENT_API_PREFIX;

export function demoSpec(name: string, over: Partial<VmSpec> = {}): VmSpec {
  return {
    name,
    uuid: randomUUID(),
    memoryMiB: 128,
    vcpus: 1,
    boot: { kind: 'demo' },
    disks: [],
    nics: [{ network: 'user' }],
    balloon: true,
    workload: 'idle',
    ...over,
  };
}

/** Every heartbeat in a console text, in order (complete lines only). */
export const heartbeats = parseHeartbeats;

export function lastSeq(text: string): number {
  const hb = heartbeats(text);
  return hb.length ? hb[hb.length - 1]!.seq : -1;
}

/** One HTTP GET of a guest's forwarded port; its status, or undefined on a connection error or after `timeoutMs`. */
export function httpStatus(url: string, timeoutMs = 120_000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function consoleOf(c: ApiClient, name: string): Promise<string> {
  return c.get<string>(`${P}/vms/${name}/console?tailBytes=1048576`, { text: true });
}

/** Waits until the VM's console shows a heartbeat with seq > `above`; returns that seq. */
export function waitSeqAbove(c: ApiClient, name: string, above: number, timeoutMs = 60_000): Promise<number> {
  return waitFor(`${name} heartbeat seq > ${above}`, async () => {
    const s = lastSeq(await consoleOf(c, name));
    return s > above ? s : undefined;
  }, { timeoutMs });
}

export function statusOf(c: ApiClient, name: string): Promise<VmStatus> {
  return c.get<VmStatus>(`${P}/vms/${name}`);
}

/** Alive and not a zombie (a daemonized QEMU's parent is PID 1, which may reap it late). */
export function pidAlive(pid: number): boolean {
  const st = readProcStat(pid);
  return st !== undefined && st.state !== 'Z' && st.state !== 'X';
}

/** Safety net for `after` hooks: SIGKILL every QEMU the data dir owns (by verified PID). */
export function killQemus(dataDir: string): void {
  for (const pid of findQemuPids(dataDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * After a test: the data dir's QEMUs killed and its fence guard stopped, by PID (a guard outlives
 * its agent and writes its log under the dir until it sees the dir gone), then the dir removed.
 */
export async function removeAgentDataDir(dataDir: string): Promise<void> {
  killQemus(dataDir);
  const guard = findGuardPid(dataDir);
  if (guard !== undefined) await terminate(guard, 3000);
  rmSync(dataDir, { recursive: true, force: true, maxRetries: 5 });
}

/** A VmRuntime whose QMP connection goes to a scripted QMP server (for the agent's QMP-driving units). */
export interface VmOnFakeQmp {
  server: FakeQmpServer;
  conn: FakeConnection;
  vm: VmRuntime;
  close(): Promise<void>;
}

export async function vmOnFakeQmp(name = 't'): Promise<VmOnFakeQmp> {
  const server = await FakeQmpServer.start();
  const vm = new VmRuntime('/nonexistent', { spec: demoSpec(name), state: 'running', endpoints: [] });
  const [qmp, conn] = await Promise.all([QmpClient.connect(server.path), server.connection()]);
  vm.qmp = qmp;
  return {
    server, conn, vm,
    async close() {
      vm.qmp?.destroy();
      await server.close();
    },
  };
}
