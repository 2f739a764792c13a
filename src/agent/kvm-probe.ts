// Is KVM usable? /dev/kvm opening is not enough: on our machines KVM guests hang right after
// the kernel decompresses (docs/qemu.md). So the probe boots the demo guest under KVM and
// waits for its first heartbeat line; anything else within the timeout means TCG. The answer
// is cached per host boot (keyed by /proc/sys/kernel/random/boot_id) in /run/ferry (root's,
// mode 0700: a file others can plant must not decide the accelerator), since every agent on the
// host would get the same answer and a failed probe costs the whole timeout. The probe QEMU runs
// under `setpriv --pdeathsig KILL` so it dies with the agent even if the agent is SIGKILLed.
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { QEMU_BINARY } from './qemu-command.js';
import { log } from './log.js';
import { killPid } from './proc.js';
import { writeJsonAtomic, type Accel } from './vm-dir.js';

export const KVM_PROBE_TIMEOUT_MS = 10_000;
const CACHE_DIR = '/run/ferry';
const CACHE_FILE = join(CACHE_DIR, 'kvm-probe.json');
const SETPRIV = '/usr/bin/setpriv';

export type AccelChoice = 'auto' | 'tcg' | 'kvm';

function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

export async function resolveAccel(choice: AccelChoice, guestDir: string): Promise<Accel> {
  if (choice !== 'auto') return choice;
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return 'tcg';
  }
  const id = bootId();
  try {
    const cached = JSON.parse(readFileSync(CACHE_FILE, 'utf8')) as { bootId?: string; usable?: boolean };
    if (cached.bootId === id && typeof cached.usable === 'boolean') return cached.usable ? 'kvm' : 'tcg';
  } catch {
    // no cache yet
  }
  const kernel = join(guestDir, 'vmlinuz');
  const initrd = join(guestDir, 'initrd.img');
  if (!existsSync(kernel) || !existsSync(initrd)) {
    log('kvm probe: no demo guest in %s, cannot prove KVM works: using tcg', guestDir);
    return 'tcg';
  }
  const usable = await probeKvm(kernel, initrd, KVM_PROBE_TIMEOUT_MS);
  log('kvm probe: %s', usable ? 'KVM runs guests' : 'KVM unusable, using tcg');
  try {
    mkdirSync(CACHE_DIR, { recursive: true, mode: 0o700 });
    writeJsonAtomic(CACHE_FILE, { bootId: id, usable });
  } catch {
    // cache is an optimisation only
  }
  return usable ? 'kvm' : 'tcg';
}

/** Boots the demo guest under KVM; true iff it prints a heartbeat within `timeoutMs`. */
export function probeKvm(kernel: string, initrd: string, timeoutMs: number): Promise<boolean> {
  const args = [
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host',
    '-m', '128M', '-serial', 'stdio', '-kernel', kernel, '-initrd', initrd, '-append', 'console=ttyS0 quiet panic=-1 ferry.workload=idle',
  ];
  return new Promise((resolve) => {
    const [cmd, argv] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', QEMU_BINARY, ...args]] : [QEMU_BINARY, args];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.pid !== undefined && child.exitCode === null) killPid(child.pid, 'SIGKILL');
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      seen = (seen + s).slice(-4096);
      if (seen.includes('ferry-heartbeat')) finish(true);
    });
    child.stderr.resume();
    child.once('error', () => finish(false));
    child.once('exit', () => finish(false));
  });
}
