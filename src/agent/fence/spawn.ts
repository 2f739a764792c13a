// Starting the fence guard, and finding it again. The agent calls ensureGuard when it starts and
// with every heartbeat: a guard already running for this data dir is adopted (its pid file names
// it and its command line names main.js and the data dir), a missing one is started detached, in
// its own session, so that it outlives the agent. `ferry down` stops it by the pid in guard.json.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { readProcStat } from '../proc.js';
import { ensureFenceDir, fencePaths, readJson, writeJsonAtomic, type GuardPidFile } from './files.js';

const MAIN = fileURLToPath(new URL('./main.js', import.meta.url));

export interface GuardSpawnOptions {
  dataDir: string;
  host: string;
  listenHost: string;
  secret: string;
}

/** The pid of the guard of `dataDir` if it runs (pid file checked against /proc), else undefined. */
export function guardPid(dataDir: string): number | undefined {
  const pid = readJson<GuardPidFile>(fencePaths(dataDir).guard)?.pid;
  if (pid === undefined) return undefined;
  const st = readProcStat(pid);
  if (!st || st.state === 'Z' || st.state === 'X') return undefined;
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.includes(MAIN) && args.includes(dataDir) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The guards' key this data dir's guard was last given, if any. */
export function storedGuardSecret(dataDir: string): string | undefined {
  try {
    return readFileSync(fencePaths(dataDir).secret, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Adopts the running guard or starts one; returns its pid. */
export function ensureGuard(o: GuardSpawnOptions): number {
  const p = ensureFenceDir(o.dataDir);
  let secret: string | undefined;
  try {
    secret = readFileSync(p.secret, 'utf8').trim();
  } catch {
    // first start
  }
  if (secret !== o.secret) writeFileSync(p.secret, `${o.secret}\n`, { mode: 0o600 });
  const running = guardPid(o.dataDir);
  if (running !== undefined) return running;
  const fd = openSync(p.log, 'a', 0o600);
  try {
    const child = spawn(process.execPath, [MAIN, '--data-dir', o.dataDir, '--host', o.host, '--listen-host', o.listenHost], {
      detached: true, stdio: ['ignore', fd, fd], env: process.env,
    });
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start the fence guard (see ${p.log})`);
    // Claimed at once, so a second call before the guard writes its own file does not start another.
    writeJsonAtomic(p.guard, { pid: child.pid, host: o.host, url: '' } satisfies GuardPidFile);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}
