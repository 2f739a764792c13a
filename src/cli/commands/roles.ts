// `ferry controller` and `ferry agent`: the long-running roles, in the foreground. `ferry up`
// starts them detached. SIGTERM/SIGINT close the servers and exit 0; the agent leaves its
// VMs running (it re-attaches to them when it starts again).
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError, note } from '../output.js';
import { collect, parseAccel, parsePort, parsePositiveInt, type Accel } from '../parse.js';
import type { GuestBridge } from '../../agent/guest-taps.js';
import { IPV4_CIDR_PATTERN, IPV4_PATTERN, SEGMENT_PATTERN } from '../../contracts/vm-spec.js';

function readSecret(path: string, what: string): string {
  let s: string;
  try {
    s = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`cannot read ${what} file ${path}: ${(err as Error).message}`, 1);
  }
  if (s.length === 0) throw new UsageError(`${what} file ${path} is empty`, 1);
  return s;
}

function untilSignal(close: () => Promise<void>, what: string): Promise<void> {
  return new Promise((resolve) => {
    let closing = false;
    const stop = (sig: string): void => {
      if (closing) return;
      closing = true;
      note(`${what}: ${sig}, shutting down`);
      close().then(
        () => {
          note(`${what}: closed`);
          resolve();
        },
        (err: unknown) => {
          note(`${what}: error while closing: ${(err as Error).message}`);
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

export function registerRoles(program: Command): void {
  program
    .command('controller')
    .description('run the controller in the foreground (ferry up does this for you)')
    .requiredOption('--data-dir <DIR>', 'state directory (SQLite unless --db, controller.json)')
    .option('--db <URL>', 'keep the state in PostgreSQL (postgres://...) and run as one of several controllers, one leading')
    .option('--leader-lease-ms <MS>', 'with --db: the leader lease on PostgreSQL (default 2000)', parsePositiveInt)
    .option('--listen-host <HOST>', 'address to listen on', '127.0.0.1')
    .option('--port <PORT>', 'port (0 = any free)', parsePort, 7440)
    .requiredOption('--token-file <FILE>', 'file holding the admin token')
    .requiredOption('--secret-file <FILE>', 'file holding the cluster secret')
    .option('--host-down-after <MS>', 'declare a silent host down after this long', parsePort)
    .option('--cpu-overcommit <N>', 'vCPUs placed per host CPU at most (default 4)', parsePositiveInt)
    .action(async (o: { dataDir: string; db?: string; leaderLeaseMs?: number; listenHost: string; port: number; tokenFile: string; secretFile: string; hostDownAfter?: number; cpuOvercommit?: number }) => {
      if (o.db !== undefined && !/^postgres(ql)?:\/\//.test(o.db)) throw new UsageError(`--db must be a postgres:// URL (not ${o.db}); without --db the state is SQLite in --data-dir`);
      const { runController } = await import('../../controller/index.js');
      const c = await runController({
        dataDir: o.dataDir,
        listenHost: o.listenHost,
        port: o.port,
        adminToken: readSecret(o.tokenFile, 'token'),
        clusterSecret: readSecret(o.secretFile, 'secret'),
        ...(o.hostDownAfter !== undefined ? { hostDownAfterMs: o.hostDownAfter } : {}),
        ...(o.cpuOvercommit !== undefined ? { cpuOvercommit: o.cpuOvercommit } : {}),
        ...(o.db !== undefined ? { db: o.db } : {}),
        ...(o.leaderLeaseMs !== undefined ? { leaderLeaseMs: o.leaderLeaseMs } : {}),
      });
      note(`controller: listening on ${c.url} (pid ${process.pid})`);
      await untilSignal(() => c.close(), 'controller');
    });

  program
    .command('agent')
    .description('run a host agent in the foreground (ferry up does this for you)')
    .requiredOption('--name <NAME>', 'host name')
    .requiredOption('--site <SITE>', 'site the host belongs to')
    .requiredOption('--data-dir <DIR>', "the host's directory (VM disks, QEMU sockets, agent.json)")
    .requiredOption('--controller <URL>', 'controller URL to report to; several controllers (one leading) as URL,URL,...')
    .requiredOption('--secret-file <FILE>', 'file holding the cluster secret')
    .option('--listen-host <HOST>', 'address to listen on', '127.0.0.1')
    .option('--port <PORT>', 'port (0 = any free)', parsePort, 0)
    .option('--accel <A>', 'auto | tcg | kvm (default: $FERRY_ACCEL or auto)', parseAccel)
    .option('--guest-dir <DIR>', 'where the demo guest image is (default: build/guest)')
    .option('--image-dir <DIR>', 'a directory whose files VM specs may name as kernel, initrd or disk image; repeat for more (default: <data-dir>/images and the guest dir)', collect, undefined)
    .option('--net-capacity <RATE>', "the host's link capacity: bytes/s (125000000) or e.g. 100mbit, 1gbit (default 1gbit)")
    .option('--guest-bridge <BRIDGE>', 'bridge for bridged guest NICs (with --guest-segment and --guest-subnet)')
    .option('--guest-netns <NS>', 'network namespace holding the guest bridge (QEMU runs in it)')
    .option('--guest-segment <NAME>', 'the layer-2 segment the guest bridge is on (hosts on the same segment share it)')
    .option('--guest-subnet <CIDR>', "the segment's subnet, e.g. 10.77.1.0/24")
    .option('--guest-gateway <IP>', "the segment's default gateway for guests")
    .action(
      async (o: {
        name: string; site: string; dataDir: string; controller: string; secretFile: string; listenHost: string; port: number; accel?: Accel; guestDir?: string;
        imageDir?: string[]; netCapacity?: string; guestBridge?: string; guestNetns?: string; guestSegment?: string; guestSubnet?: string; guestGateway?: string;
      }) => {
        const accel = o.accel ?? (process.env.FERRY_ACCEL ? parseAccel(process.env.FERRY_ACCEL) : 'auto');
        const { runAgent, parseNetCapacity } = await import('../../agent/index.js');
        let netBytesPerSec: number | undefined;
        try {
          netBytesPerSec = o.netCapacity === undefined ? undefined : parseNetCapacity(o.netCapacity);
        } catch (err) {
          throw new UsageError(`--net-capacity: ${(err as Error).message}`);
        }
        const a = await runAgent({
          name: o.name,
          site: o.site,
          dataDir: o.dataDir,
          listenHost: o.listenHost,
          port: o.port,
          controllerUrl: o.controller.split(',').filter((u) => u.length > 0),
          secret: readSecret(o.secretFile, 'secret'),
          accel,
          ...(o.guestDir !== undefined ? { guestDir: o.guestDir } : {}),
          ...(o.imageDir !== undefined ? { imageDirs: o.imageDir } : {}),
          ...(netBytesPerSec !== undefined ? { netBytesPerSec } : {}),
          ...guestBridgeOption(o),
        });
        note(`agent ${o.name}: listening on ${a.url} (pid ${process.pid})`);
        await untilSignal(() => a.close(), `agent ${o.name}`);
      },
    );
}

/** The agent's guest bridge from its options: all of bridge, segment and subnet, or none. */
export function guestBridgeOption(o: { guestBridge?: string; guestNetns?: string; guestSegment?: string; guestSubnet?: string; guestGateway?: string }): { guestBridge?: GuestBridge } {
  const given = [o.guestBridge, o.guestNetns, o.guestSegment, o.guestSubnet, o.guestGateway].some((v) => v !== undefined);
  if (!given) return {};
  if (!o.guestBridge || !o.guestSegment || !o.guestSubnet) throw new UsageError('--guest-bridge, --guest-segment and --guest-subnet go together');
  const checks: [string, string | undefined, string][] = [
    ['--guest-bridge', o.guestBridge, '^[A-Za-z0-9_.-]{1,15}$'],
    ['--guest-netns', o.guestNetns, '^[A-Za-z0-9_.-]{1,64}$'],
    ['--guest-segment', o.guestSegment, SEGMENT_PATTERN],
    ['--guest-subnet', o.guestSubnet, IPV4_CIDR_PATTERN],
    ['--guest-gateway', o.guestGateway, IPV4_PATTERN],
  ];
  for (const [flag, value, pattern] of checks) {
    if (value !== undefined && !new RegExp(pattern).test(value)) throw new UsageError(`${flag}: '${value}' is not valid (${pattern})`);
  }
  return {
    guestBridge: {
      bridge: o.guestBridge, segment: o.guestSegment, subnet: o.guestSubnet,
      ...(o.guestNetns ? { netns: o.guestNetns } : {}), ...(o.guestGateway ? { gateway: o.guestGateway } : {}),
    },
  };
}
