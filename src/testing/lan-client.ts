// Drives lan-probe.ts (its compiled .js, beside this module) inside a segment's namespace (the test
// process cannot reach guests there itself), and reads the site switch and host taps with `ip`/`bridge`.
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const PROBE = fileURLToPath(new URL('./lan-probe.js', import.meta.url));

/** What the probe saw since the last `mark` (see lan-probe.ts). */
export interface ProbeWindow { sent: number; echoed: number; wrong: number; echoGapMs: number; httpOk: number; httpFailed: number; httpGapMs: number; httpWrong: number; outstanding: number; closed: string | null }

/** Why this machine cannot run namespace tests, or undefined. */
export { netnsSupport as netnsUnusable } from '../../src/cli/net/topology.js';

/** The probe, in a namespace: commands on stdin, one JSON report per `report`. Stop it (by its PID) with `stop`. */
export class LanProbe {
  private readonly lines: string[] = [];
  private waiting: ((l: string) => void) | undefined;
  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (this.waiting) this.waiting(l);
      else this.lines.push(l);
    });
  }
  static start(netns: string, ip: string, everyMs = 10): LanProbe {
    return new LanProbe(spawn('ip', ['netns', 'exec', netns, process.execPath, PROBE, ip, String(everyMs)], { stdio: ['pipe', 'pipe', 'pipe'] }));
  }
  mark(): void {
    this.child.stdin.write('mark\n');
  }
  async report(): Promise<ProbeWindow> {
    const queued = this.lines.shift();
    if (queued) return JSON.parse(queued) as ProbeWindow;
    const next = new Promise<string>((resolve) => (this.waiting = resolve));
    this.child.stdin.write('report\n');
    const line = await next;
    this.waiting = undefined;
    return JSON.parse(line) as ProbeWindow;
  }
  stop(): void {
    if (this.child.exitCode === null && this.child.pid) process.kill(this.child.pid, 'SIGTERM');
  }
}

/** The site switch port that `mac` was last seen on. */
export async function fdbPort(siteNs: string, mac: string): Promise<string | undefined> {
  const { stdout } = await run('bridge', ['-n', siteNs, '-j', 'fdb', 'show', 'br', 'br-site']);
  return (JSON.parse(stdout || '[]') as { mac: string; ifname: string; flags?: string[] }[]).find((e) => e.mac === mac && !(e.flags ?? []).includes('self'))?.ifname;
}

/** Ferry's guest taps in a host namespace. */
export async function guestTaps(hostNs: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', hostNs, '-j', 'link', 'show']);
  return (JSON.parse(stdout || '[]') as { ifname: string }[]).map((l) => l.ifname).filter((n) => /^fe[0-9a-f]{6}n\d$/.test(n));
}

/** `ip netns exec NS CMD…` output. */
export async function inNetns(netns: string, argv: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', netns, ...argv], { timeout: 30_000 })).stdout;
}
