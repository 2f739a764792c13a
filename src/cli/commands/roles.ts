// `ferry controller` and `ferry agent`: the long-running roles, in the foreground. `ferry up`
// starts them detached. SIGTERM/SIGINT close the servers and exit 0; the agent leaves its
// VMs running (it re-attaches to them when it starts again).
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError, note } from '../output.js';
import { collect, parseAccel, parsePort, parsePositiveInt, type Accel } from '../parse.js';
import type { GuestBridge } from '../../agent/guest-taps.js';
import { parseHostPort } from '../../contracts/addresses.js';
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

function checkDb(db: string | undefined): void {
  if (db !== undefined && !/^postgres(ql)?:\/\//.test(db)) throw new UsageError(`--db must be a postgres:// URL (not ${db}); without --db the state is SQLite in --data-dir`);
}

export function registerRoles(program: Command): void {
  const controller = program
    .command('controller')
    .description('run the controller in the foreground (ferry up does this for you); `ferry controller init` first')
    .requiredOption('--data-dir <DIR>', 'state directory (SQLite unless --db, the cluster CA unless --db, controller.json)')
    .option('--db <URL>', 'keep the state in PostgreSQL (postgres://...) and run as one of several controllers, one leading')
    .option('--leader-lease-ms <MS>', 'with --db: the leader lease on PostgreSQL (default 2000)', parsePositiveInt)
    .option('--listen <HOST[:PORT]>', 'address (and port) to listen on (default 127.0.0.1:7440; 0.0.0.0 for every interface)')
    .option('--advertise <HOST>', 'the name or address agents and clients dial (default: the listen address; needed with 0.0.0.0 on a host with several addresses)')
    .option('--listen-host <HOST>', 'same as --listen HOST (kept for scripts)')
    .option('--port <PORT>', 'port (0 = any free)', parsePort)
    .requiredOption('--token-file <FILE>', 'file holding the admin token')
    .option('--tls-cert <FILE>', "a certificate (PEM) of your own for browsers and other clients without the cluster CA (with --tls-key); agents and the CLI still use the cluster's")
    .option('--tls-key <FILE>', 'the key of --tls-cert (PEM)')
    .option('--host-down-after <MS>', 'declare a silent host down after this long', parsePort)
    .option('--cpu-overcommit <N>', 'vCPUs placed per host CPU at most (default 4)', parsePositiveInt)
    .action(async (o: {
      dataDir: string; db?: string; leaderLeaseMs?: number; listen?: string; advertise?: string; listenHost?: string; port?: number; tokenFile: string; tlsCert?: string; tlsKey?: string;
      hostDownAfter?: number; cpuOvercommit?: number;
    }) => {
      checkDb(o.db);
      if ((o.tlsCert === undefined) !== (o.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
      const { runController } = await import('../../controller/index.js');
      const at = listenAddress(o, 7440);
      const c = await runController({
        dataDir: o.dataDir,
        listenHost: at.host,
        port: at.port,
        ...(o.advertise !== undefined ? { advertise: o.advertise } : {}),
        adminToken: readSecret(o.tokenFile, 'token'),
        ...(o.tlsCert && o.tlsKey ? { publicCert: { certPem: readSecret(o.tlsCert, 'certificate'), keyPem: readSecret(o.tlsKey, 'key') } } : {}),
        ...(o.hostDownAfter !== undefined ? { hostDownAfterMs: o.hostDownAfter } : {}),
        ...(o.cpuOvercommit !== undefined ? { cpuOvercommit: o.cpuOvercommit } : {}),
        ...(o.db !== undefined ? { db: o.db } : {}),
        ...(o.leaderLeaseMs !== undefined ? { leaderLeaseMs: o.leaderLeaseMs } : {}),
      });
      note(`controller: listening on ${c.url} (pid ${process.pid})`);
      await untilSignal(() => c.close(), 'controller');
    });

  controller
    .command('init')
    .description('create the cluster CA and print a one-time join token for the first host (ferry agent --join URL --token T)')
    .requiredOption('--data-dir <DIR>', 'the controller\'s state directory')
    .option('--db <URL>', 'PostgreSQL (postgres://...): the CA and the token go there, shared by every controller')
    .option('--tokens <N>', 'how many join tokens to print, one a line (default 1)', parsePositiveInt, 1)
    .option('--json', 'print {caFingerprint, tokens:[{token, expiresAt}]}')
    .action(async (o: { dataDir: string; db?: string; tokens: number; json?: boolean }) => {
      checkDb(o.db);
      const { initController } = await import('../../controller/index.js');
      const r = await initController({ dataDir: o.dataDir, tokens: o.tokens, ...(o.db !== undefined ? { db: o.db } : {}) });
      if (o.json) return void process.stdout.write(`${JSON.stringify({ caFingerprint: r.caFingerprint, tokens: r.tokens }, null, 2)}\n`);
      note(`cluster CA ${r.caFingerprint} (${o.db ? 'in PostgreSQL' : `${o.dataDir}/ca`}); each token below enrols one host, once, until ${r.tokens[0]?.expiresAt}:`);
      for (const t of r.tokens) process.stdout.write(`${t.token}\n`);
    });

  program
    .command('agent')
    .description('run a host agent in the foreground (ferry up does this for you)')
    .requiredOption('--name <NAME>', 'host name')
    .requiredOption('--site <SITE>', 'site the host belongs to')
    .requiredOption('--data-dir <DIR>', "the host's directory (VM disks, QEMU sockets, agent.json)")
    .option('--controller <URL>', 'controller URL (https://) to report to; several controllers (one leading) as URL,URL,...')
    .option('--join <URL>', 'same as --controller: the controller to join (with --token or --token-file, the first time)')
    .option('--token <TOKEN>', 'one-time join token (ferry host token); used only while this data dir holds no identity')
    .option('--token-file <FILE>', 'file holding the join token (keeps it out of the process list)')
    .option('--listen <HOST[:PORT]>', 'address (and port) the API and the data plane listen on (default 127.0.0.1, any free port)')
    .option('--advertise <HOST>', 'the name or address the controller and peer hosts dial (default: the listen address)')
    .option('--listen-host <HOST>', 'same as --listen HOST (kept for scripts)')
    .option('--port <PORT>', 'port (0 = any free)', parsePort)
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
        name: string; site: string; dataDir: string; controller?: string; join?: string; token?: string; tokenFile?: string; listen?: string; advertise?: string; listenHost?: string; port?: number; accel?: Accel; guestDir?: string;
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
        const controllers = o.controller ?? o.join;
        if (!controllers) throw new UsageError('--controller URL (or --join URL) is required');
        const at = listenAddress(o, 0);
        // A token file already spent and removed (ferry up does, once the host joined) is no error: the identity is in the data dir.
        const joinToken = o.token ?? (o.tokenFile !== undefined && existsSync(o.tokenFile) ? readSecret(o.tokenFile, 'join token') : undefined);
        const a = await runAgent({
          name: o.name,
          site: o.site,
          dataDir: o.dataDir,
          listenHost: at.host,
          port: at.port,
          ...(o.advertise !== undefined ? { advertise: o.advertise } : {}),
          controllerUrl: controllers.split(',').filter((u) => u.length > 0),
          ...(joinToken !== undefined ? { joinToken } : {}),
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

/** --listen HOST[:PORT], or the older --listen-host/--port; --port wins over a port in --listen. */
function listenAddress(o: { listen?: string; listenHost?: string; port?: number }, defaultPort: number): { host: string; port: number } {
  let at: { host: string; port: number };
  try {
    at = parseHostPort(o.listen ?? o.listenHost ?? '127.0.0.1', defaultPort);
  } catch (err) {
    throw new UsageError(`--listen: ${(err as Error).message}`);
  }
  return { host: at.host, port: o.port ?? at.port };
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
