// A VM outlives its agent: the agent runs as a child process, is SIGKILLed, its QEMU keeps
// running (heartbeat keeps counting), and a new agent on the same data dir re-attaches to it
// and controls it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmStatus } from '../../src/contracts/index.js';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { P, demoSpec, killQemus, lastSeq, pidAlive, statusOf, waitSeqAbove } from '../../src/testing/agent.js';
import { spawnAgent, type AgentProcess } from '../../src/testing/agent-process.js';
import { waitFor } from '../../src/testing/wait-for.js';
import { TestPki } from '../../src/testing/pki.js';

const pki = new TestPki();

let dataDir: string;
let child: ChildProcess | undefined;
let agent2: RunningAgent | undefined;

before(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'ferry-agent-rs-'));
});

after(async () => {
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  killQemus(dataDir);
  await agent2?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function startChildAgent(): Promise<AgentProcess> {
  return spawnAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'tcg' }).then((a) => {
    child = a.proc;
    return a;
  });
}

test('VM survives SIGKILL of its agent and a new agent re-attaches', async () => {
  const { proc, url } = await startChildAgent();
  const c1 = (await pki.agentClient(url, 'h1'));
  assert.equal(JSON.parse(readFileSync(join(dataDir, 'agent.json'), 'utf8')).pid, proc.pid);
  await c1.post(`${P}/vms`, demoSpec('r1'));
  const st = await c1.post<VmStatus>(`${P}/vms/r1/start`);
  const pid = st.pid!;
  const seq = await waitSeqAbove(c1, 'r1', 0);

  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGKILL');
  await exited;
  assert.ok(pidAlive(pid), 'QEMU survived the agent');
  // With no agent, read the console log straight from the data dir.
  const logFile = join(dataDir, 'vms', 'r1', 'console.log');
  await waitFor('heartbeat while the agent is dead', () => (lastSeq(readFileSync(logFile, 'utf8')) > seq + 1 ? true : undefined), { timeoutMs: 30_000 });

  agent2 = await runAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'tcg' });
  const c2 = (await pki.agentClient(agent2.url, 'h1'));
  const list = await c2.get<VmStatus[]>(`${P}/vms`);
  assert.equal(list.length, 1);
  assert.equal(list[0]?.state, 'running');
  assert.equal(list[0]?.pid, pid);
  assert.equal((await c2.post<VmStatus>(`${P}/vms/r1/pause`)).state, 'paused');
  assert.equal((await c2.post<VmStatus>(`${P}/vms/r1/resume`)).state, 'running');
  const now = lastSeq(readFileSync(logFile, 'utf8'));
  await waitSeqAbove(c2, 'r1', now);

  // Closing the agent leaves the VM running too; the next agent sees it paused if it was.
  await c2.post(`${P}/vms/r1/pause`);
  await agent2.close();
  assert.ok(pidAlive(pid));
  agent2 = await runAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'tcg' });
  const c3 = (await pki.agentClient(agent2.url, 'h1'));
  assert.equal((await statusOf(c3, 'r1')).state, 'paused');

  // A QEMU that dies while no agent watches is found crashed by the next agent.
  await agent2.close();
  process.kill(pid, 'SIGKILL');
  await waitFor('QEMU gone', () => (pidAlive(pid) ? undefined : true), { timeoutMs: 10_000 });
  agent2 = await runAgent({ name: 'h1', site: 'main', dataDir, tls: await pki.identity('h1'), accel: 'tcg' });
  const c4 = (await pki.agentClient(agent2.url, 'h1'));
  const dead = await statusOf(c4, 'r1');
  assert.equal(dead.state, 'crashed');
  assert.match(dead.error ?? '', /exited while the agent was not running/);
});
