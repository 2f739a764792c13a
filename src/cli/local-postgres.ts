// A PostgreSQL server of our own in a directory we own, for `ferry up --db postgres` and the
// tests: Debian's binaries (/usr/lib/postgresql/<major>/bin, never PATH, never the distribution's
// cluster service), `initdb` once, then the postmaster started directly so its pid is ours to
// stop. It listens only on a Unix socket in <dir>/socket (no port to collide with, nothing on the
// network) and trusts local connections. initdb refuses to run as root: as root the server runs as
// the `postgres` user (or `nobody`), through setpriv, and its socket directory is opened to all
// (the socket is how the controllers, running as root, reach it; it trusts whoever connects, so
// the cluster home above it stays private to its owner).
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { isAlive, waitForExit } from './process.js';

const PG_ROOT = '/usr/lib/postgresql';
const INITDB_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const PROBE_TIMEOUT_MS = 2_000;

export interface LocalPostgres {
  /** The postmaster's pid (stop it with stopLocalPostgres). */
  pid: number;
  /** Where the cluster's files are (initdb's -D). */
  dataDir: string;
  /** A connection URL for `ferry controller --db`. */
  url: string;
}

export class PostgresNotInstalledError extends Error {
  constructor() {
    super(`PostgreSQL is not installed: no ${PG_ROOT}/<version>/bin/initdb (run scripts/setup.sh, or apt-get install postgresql)`);
    this.name = 'PostgresNotInstalledError';
  }
}

/** The newest installed major version's bin directory. */
export function postgresBinDir(): string {
  const majors = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  const found = majors.map((v) => join(PG_ROOT, v, 'bin')).find((bin) => existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres')));
  if (!found) throw new PostgresNotInstalledError();
  return found;
}

/** The uid/gid to run the server as when we are root; undefined when we are not. */
function serverUser(): { uid: number; gid: number; name: string } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    const r = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    const g = spawnSync('id', ['-g', name], { encoding: 'utf8' });
    if (r.status === 0 && g.status === 0) return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()), name };
  }
  throw new Error('running as root and neither the postgres nor the nobody user exists to run PostgreSQL as');
}

function asUser(user: { uid: number; gid: number } | undefined, cmd: string, args: string[]): [string, string[]] {
  // CAP_DAC_READ_SEARCH only lets it pass through directories private to root on the way to its
  // own (a cluster home under /root is mode 0700); everything it writes is in directories it owns.
  const caps = ['--inh-caps', '+dac_read_search', '--ambient-caps', '+dac_read_search'];
  return user ? ['setpriv', ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups', ...caps, '--', cmd, ...args]] : [cmd, args];
}

export function connectionUrl(dir: string): string {
  return `postgres://postgres@localhost/postgres?host=${encodeURIComponent(join(dir, 'socket'))}`;
}

/** initdb (first time only) and start the server in `dir`; resolves once it accepts connections. */
export async function startLocalPostgres(dir: string, logFile: string): Promise<LocalPostgres> {
  const bin = postgresBinDir();
  const user = serverUser();
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  for (const d of [dir, socketDir]) {
    mkdirSync(d, { recursive: true, mode: 0o700 });
    if (user) chownSync(d, user.uid, user.gid);
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const [cmd, args] = asUser(user, join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--no-instructions']);
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: INITDB_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`initdb failed in ${dataDir}: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  }
  const settings = ['listen_addresses=', `unix_socket_directories=${socketDir}`, 'max_connections=100', 'fsync=on'];
  const [cmd, args] = asUser(user, join(bin, 'postgres'), ['-D', dataDir, ...settings.flatMap((s) => ['-c', s])]);
  const out = openSync(logFile, 'a');
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', out, out] });
  closeSync(out);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${join(bin, 'postgres')}`);
  const url = connectionUrl(dir);
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    if (await accepts(url)) return { pid, dataDir, url };
    if (!isAlive(pid)) throw new Error(`PostgreSQL exited while starting; see ${logFile}`);
    if (performance.now() > deadline) {
      await stopLocalPostgres(pid);
      throw new Error(`PostgreSQL did not accept connections within ${START_TIMEOUT_MS} ms; see ${logFile}`);
    }
    await sleep(100);
  }
}

async function accepts(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS, query_timeout: PROBE_TIMEOUT_MS });
  c.on('error', () => undefined); // the server going away while we probe is an answer, not a crash
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** The postmaster pid recorded in a data directory (first line of postmaster.pid), if any. */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Fast shutdown (SIGINT: roll back sessions, checkpoint, exit), then SIGKILL if it lingers. */
export async function stopLocalPostgres(pid: number, timeoutMs = STOP_TIMEOUT_MS): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGINT');
  if (await waitForExit(pid, timeoutMs)) return;
  process.kill(pid, 'SIGKILL');
  await waitForExit(pid, 5_000);
}
