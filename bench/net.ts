// Network namespaces for the benchmarks: an emulated slow link between two "hosts".
//
//   ns A (source)  eth0 10.213.0.2/24 ──veth── pa ┐
//                                                 ├ br0 10.213.0.1/24  ns C (controller, CLI)
//   ns B (target)  eth0 10.213.0.3/24 ──veth── pb ┘
//
// Every address lives inside a namespace this process created (nothing is added to the root
// namespace), so the benchmark only ever sends traffic to loopback or to its own namespaces.
// A `tbf` qdisc on the egress of A's and B's eth0 caps each direction of the A↔B link.
// Namespace names carry this process's PID, so two runs never collide; `destroy` deletes them
// (which also deletes the veths and the bridge) and is safe to call twice.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface NsLink {
  /** Namespaces: a = source host, b = target host, c = controller + CLI. */
  ns: { a: string; b: string; c: string };
  addr: { a: string; b: string; c: string };
  /** Human description of the shaping, e.g. `tbf 100mbit`. */
  shaping: string;
  /** Bytes through A's eth0 (tx + rx, Ethernet frames), i.e. everything the source host sent or received. */
  bytes(): Promise<{ tx: number; rx: number }>;
  /** argv prefix that runs a command inside namespace `ns`. */
  exec(ns: string, argv: string[]): [string, string[]];
  destroy(): Promise<void>;
}

async function ip(...args: string[]): Promise<string> {
  return (await run('ip', args)).stdout;
}

export async function netnsAvailable(): Promise<string | undefined> {
  try {
    await run('ip', ['netns', 'list']);
    await run('tc', ['-V']);
    return undefined;
  } catch (err) {
    return `ip/tc not usable: ${(err as Error).message.split('\n')[0]}`;
  }
}

/** Two hosts joined through a bridge in a third namespace, each direction shaped by tbf at `rate` (tc syntax, e.g. 100mbit). */
export async function createLink(tag: string, rate = '100mbit'): Promise<NsLink> {
  const id = `fb${process.pid}${tag}`.slice(0, 20);
  const ns = { a: `${id}-a`, b: `${id}-b`, c: `${id}-c` };
  const addr = { a: '10.213.0.2', b: '10.213.0.3', c: '10.213.0.1' };
  const created: string[] = [];
  const destroy = async (): Promise<void> => {
    for (const n of created.splice(0).reverse()) await ip('netns', 'delete', n).catch((err: Error) => console.error(`ip netns delete ${n}: ${err.message}`));
  };
  try {
    for (const n of [ns.c, ns.a, ns.b]) {
      await ip('netns', 'add', n);
      created.push(n);
      await ip('-n', n, 'link', 'set', 'lo', 'up');
    }
    await ip('-n', ns.c, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', ns.c, 'addr', 'add', `${addr.c}/24`, 'dev', 'br0');
    await ip('-n', ns.c, 'link', 'set', 'br0', 'up');
    for (const side of ['a', 'b'] as const) {
      const port = `p${side}`;
      await ip('-n', ns[side], 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', ns.c);
      await ip('-n', ns.c, 'link', 'set', port, 'master', 'br0');
      await ip('-n', ns.c, 'link', 'set', port, 'up');
      await ip('-n', ns[side], 'addr', 'add', `${addr[side]}/24`, 'dev', 'eth0');
      await ip('-n', ns[side], 'link', 'set', 'eth0', 'up');
      await run('ip', ['netns', 'exec', ns[side], 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', rate, 'burst', '32kbit', 'latency', '400ms']);
    }
    // STP is off, so bridge ports forward at once; give the links a moment to come up.
    await new Promise((r) => setTimeout(r, 300));
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    ns,
    addr,
    shaping: `tbf ${rate} burst 32kbit latency 400ms, each direction`,
    async bytes() {
      const j = JSON.parse(await ip('-n', ns.a, '-s', '-j', 'link', 'show', 'eth0')) as { stats64: { tx: { bytes: number }; rx: { bytes: number } } }[];
      const s = j[0]!.stats64;
      return { tx: s.tx.bytes, rx: s.rx.bytes };
    },
    exec: (n, argv) => ['ip', ['netns', 'exec', n, ...argv]],
    destroy,
  };
}
