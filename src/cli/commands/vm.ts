// `ferry vm …`: every action that changes a VM is a task on the controller; we wait for it
// (unless --no-wait) and print the VM's new state. --json prints the final Task, except
// `vm create` and `vm clone`, which print the new Vm.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import type { CloneVmRequest, CreateVmRequest, Task, Vm } from '../../contracts/controller-api.js';
import type { ApiClient } from '../../contracts/http-client.js';
import type { GuestHealth } from '../../contracts/guest-health.js';
import { connect } from '../config.js';
import { bytes, sizeMiB } from '../../contracts/format.js';
import { WORKLOAD_HINT } from '../../contracts/workload.js';
import { UsageError, formatFields, printJson, printTable, setErrorContext } from '../output.js';
import { parseNet, parseNonNegativeInt, parsePort, parsePositiveInt, parseSizeMiB, parseWorkload } from '../parse.js';
import { vmLoadCells } from './metrics.js';
import { imageParts, readUserData, type ImageOpts } from '../image-spec.js';
import { attachConsole } from '../console-attach.js';
import { registerMigrate } from './migrate.js';
import { locationLine, locationOf, registerEndpoints } from './endpoints.js';
import { followTask, jsonOption, vmLine, vmPath, waitOptions, type JsonOpt, type WaitOpts } from './common.js';

interface CreateOpts extends WaitOpts, ImageOpts {
  guestAgent?: boolean;
  memory: number;
  vcpus?: number;
  disk: number[];
  host?: string;
  workload?: string;
  net?: 'user' | 'bridged';
  ip?: string;
  start: boolean;
}

const collectSize = (v: string, prev: number[]): number[] => [...prev, parseSizeMiB(v)];
const collectPort = (v: string, prev: number[]): number[] => [...prev, parsePort(v)];

export function registerVm(program: Command): void {
  const vm = program.command('vm').description('virtual machines');

  waitOptions(vm.command('create').argument('<name>', 'lower-case letters, digits and -').description('define a VM and start it; --json prints the Vm (with --no-wait: the Task)'))
    .requiredOption('--memory <MiB>', 'memory in MiB (or with a unit: 512M, 1G)', parseSizeMiB)
    .option('--vcpus <N>', 'virtual CPUs', parsePositiveInt)
    .option('--image <IMG>', 'disk 0 is a layered disk on this library image (ferry image list); boots its boot loader unless --kernel')
    .option('--kernel <IMG>', 'boot this library kernel directly')
    .option('--initrd <IMG>', 'with --kernel: this library initrd')
    .option('--append <CMDLINE>', "with --kernel: the kernel's command line (default console=ttyS0)")
    .option('--disk <SIZE>', 'add an empty disk, e.g. 64M or 1G (repeatable; with --image the first one grows the image disk)', collectSize, [])
    .option('--port <GUEST_PORT>', 'forward this guest TCP port (repeatable; ferry vm endpoints shows where)', collectPort, [])
    .option('--guest-agent', 'a channel for qemu-guest-agent in the guest: health checks, file-system freeze at DR checkpoints')
    .option('--cloud-init <USER_DATA_FILE>', 'a NoCloud seed (volume cidata) with this user-data, for stock cloud images')
    .option('--host <HOST>', 'place it on this host (default: placement picks one)')
    .option('--workload <W>', `demo guest workload: ${WORKLOAD_HINT}`, parseWorkload)
    .option('--net <N>', "user (NAT, forwarded ports; default) or bridged (own address on the site's segment, kept across migrations)", parseNet)
    .option('--ip <ADDR/PREFIX>', 'with --net bridged: this address instead of the next free one')
    .option('--no-start', 'define it but leave it stopped')
    .action(async (name: string, o: CreateOpts) => {
      setErrorContext(`vm ${name}`);
      const body: CreateVmRequest = {
        name,
        memoryMiB: o.memory,
        ...(o.vcpus !== undefined ? { vcpus: o.vcpus } : {}),
        ...(o.host !== undefined ? { host: o.host } : {}),
        ...(o.workload !== undefined ? { workload: o.workload } : {}),
        ...nicsOption(o),
        ...imageParts(o, o.cloudInit !== undefined ? readUserData(o.cloudInit) : undefined),
        ...(o.guestAgent ? { guestAgent: true } : {}),
        start: o.start,
      };
      const api = connect();
      const task = await api.post<Task>('/api/v1/vms', body);
      if (await followTask(api, task, o, false)) await printVm(api, name, o);
    });

  for (const verb of ['start', 'pause', 'resume', 'suspend', 'restore'] as const) {
    waitOptions(vm.command(verb).argument('<name>').description(VERB_HELP[verb])).action(async (name: string, o: WaitOpts) => {
      setErrorContext(`vm ${name}`);
      const api = connect();
      const task = await api.post<Task>(`${vmPath(name)}/${verb}`, {});
      if ((await followTask(api, task, o)) && !o.json) await printVm(api, name, o);
    });
  }

  waitOptions(vm.command('stop').argument('<name>').description('power the VM off (ACPI, then forced after --timeout)'))
    .option('--force', 'kill QEMU at once instead of a graceful power-off')
    .option('--timeout <MS>', 'how long to wait for a graceful power-off before forcing', parseNonNegativeInt)
    .action(async (name: string, o: WaitOpts & { force?: boolean; timeout?: number }) => {
      setErrorContext(`vm ${name}`);
      const api = connect();
      const body = { ...(o.force ? { force: true } : {}), ...(o.timeout !== undefined ? { timeoutMs: o.timeout } : {}) };
      const task = await api.post<Task>(`${vmPath(name)}/stop`, body);
      if ((await followTask(api, task, o)) && !o.json) await printVm(api, name, o);
    });

  waitOptions(vm.command('rm').alias('remove').argument('<name>').description('remove a stopped VM and its disks')).action(
    async (name: string, o: WaitOpts) => {
      setErrorContext(`vm ${name}`);
      const api = connect();
      const task = await api.delete<Task>(vmPath(name));
      if ((await followTask(api, task, o)) && !o.json) process.stdout.write(`vm ${name}: removed\n`);
    },
  );

  waitOptions(vm.command('clone').argument('<name>').argument('<newname>').description('copy a VM under a new name and uuid; --json prints the new Vm (with --no-wait: the Task)'))
    .option('--linked', 'layer the clone on a frozen base instead of copying its disks')
    .option('--no-start', 'leave the clone stopped')
    .action(async (name: string, newName: string, o: WaitOpts & { linked?: boolean; start: boolean }) => {
      setErrorContext(`vm ${name}`);
      const api = connect();
      const body: CloneVmRequest = { name: newName, start: o.start, ...(o.linked ? { linked: true } : {}) };
      const task = await api.post<Task>(`${vmPath(name)}/clone`, body);
      if (await followTask(api, task, o, false)) await printVm(api, newName, o);
    });

  waitOptions(vm.command('resize').argument('<name>').description('set the balloon target (at most the configured memory)'))
    .requiredOption('--memory <MiB>', 'new memory size in MiB (or 512M, 1G)', parseSizeMiB)
    .action(async (name: string, o: WaitOpts & { memory: number }) => {
      setErrorContext(`vm ${name}`);
      const api = connect();
      const task = await api.post<Task>(`${vmPath(name)}/resize`, { memoryMiB: o.memory });
      if ((await followTask(api, task, o)) && !o.json) await printVm(api, name, o);
    });

  jsonOption(vm.command('list').alias('ls').description('list VMs')).action(async (o: JsonOpt) => {
    const vms = await connect().get<Vm[]>('/api/v1/vms');
    if (o.json) return printJson(vms);
    printTable(
      ['NAME', 'STATE', 'HOST', 'SITE', 'MEMORY', 'VCPUS', 'CPU', 'RSS', 'DIRTY(MiB/s)', 'WORKLOAD'],
      vms.map((v) => [v.name, v.state, v.host, v.site, sizeMiB(v.memoryMiB), v.vcpus, ...vmLoadCells(v.load), v.workload]),
    );
  });

  jsonOption(vm.command('show').argument('<name>').description('show one VM; --json prints the Vm (name, state, host, site, spec, metrics, …)')).action(
    async (name: string, o: JsonOpt) => {
      setErrorContext(`vm ${name}`);
      await printVm(connect(), name, { json: o.json, detail: true });
    },
  );

  registerMigrate(vm);
  registerEndpoints(vm);

  vm.command('console')
    .argument('<name>')
    .description("print the VM's serial console, from whichever host it is on now")
    .option('--tail <BYTES>', 'only the last BYTES bytes', parsePositiveInt)
    .option('-f, --follow', 'keep printing new output until Ctrl-C')
    .option('--attach', 'interactive: type into the serial console (Ctrl-] leaves)')
    .action(async (name: string, o: { tail?: number; follow?: boolean; attach?: boolean }) => {
      setErrorContext(`vm ${name}`);
      if (o.attach) return attachConsole(name);
      await consoleCmd(connect(), name, o);
    });

  jsonOption(vm.command('health').argument('<name>').description("what can be seen of the guest: QEMU's state, its guest agent (--guest-agent), its forwarded ports; exit 1 unless all are ok"))
    .action(async (name: string, o: JsonOpt) => {
      setErrorContext(`vm ${name}`);
      const h = await connect().get<GuestHealth>(`${vmPath(name)}/health`);
      if (o.json) printJson(h);
      else printTable(['CHECK', 'OK', 'DETAIL'], h.items.map((i) => [i.name, i.ok ? 'yes' : 'NO', i.detail]));
      if (!h.ok) process.exitCode = 1;
    });
}

const VERB_HELP = {
  start: 'start a stopped VM',
  pause: 'pause the guest CPUs (the VM keeps its memory)',
  resume: 'resume a paused VM',
  suspend: 'save the running VM to disk and stop its QEMU',
  restore: 'start a suspended VM from where it was saved',
} as const;

async function printVm(api: ApiClient, name: string, o: { json?: boolean; detail?: boolean }): Promise<void> {
  const vm = await api.get<Vm>(vmPath(name));
  if (!o.detail) return o.json ? printJson(vm) : void process.stdout.write(vmLine(vm) + '\n');
  const location = await locationOf(api, name);
  if (o.json) return printJson({ ...vm, ...(location ? { location } : {}) });
  const m = vm.metrics;
  process.stdout.write(
    formatFields([
      ['name', vm.name],
      ['uuid', vm.uuid],
      ['state', vm.state],
      ['host', vm.host],
      ['site', vm.site],
      ['memory', sizeMiB(vm.memoryMiB)],
      ['vcpus', vm.vcpus],
      ['workload', vm.workload],
      ['disks', vm.spec.disks.map((d) => (d.fromImage ? `image ${d.fromImage.name}` : d.image ? d.image : sizeMiB(d.sizeMiB))).join(', ') || 'none'],
      ['network', networkLine(vm)],
      ['endpoints', vm.endpoints.map((e) => `${e.host}:${e.port} -> ${e.guestPort}`).join(', ') || undefined],
      ['location', location ? locationLine(location) : undefined],
      ['balloon', m?.balloonBytes !== undefined ? bytes(m.balloonBytes) : undefined],
      ['rss', m ? bytes(m.rssBytes) : undefined],
      ['cpu', m ? `${m.cpuSeconds.toFixed(1)} s` : undefined],
      ['error', vm.error],
      ['created', vm.createdAt],
      ['updated', vm.updatedAt],
    ]) + '\n',
  );
}

const FOLLOW_MS = 1000;
const FOLLOW_WINDOW = 64 * 1024;

async function consoleCmd(api: ApiClient, name: string, o: { tail?: number; follow?: boolean }): Promise<void> {
  const get = (tail?: number): Promise<string> =>
    api.get<string>(`${vmPath(name)}/console${tail !== undefined ? `?tailBytes=${tail}` : ''}`, { text: true });
  let last = await get(o.tail);
  process.stdout.write(last);
  if (!o.follow) return;
  process.once('SIGINT', () => process.exit(0));
  for (;;) {
    await sleep(FOLLOW_MS);
    let next: string;
    try {
      next = await get(FOLLOW_WINDOW);
    } catch {
      continue; // the VM may be between hosts; try again
    }
    const fresh = newOutput(last, next);
    if (fresh) process.stdout.write(fresh);
    last = next;
  }
}

/** Pure: what `next` (a later tail of the same console) adds after `prev`. */
export function newOutput(prev: string, next: string): string {
  if (prev.length === 0) return next;
  const anchor = prev.slice(-Math.min(prev.length, 512));
  const at = next.lastIndexOf(anchor);
  if (at >= 0) return next.slice(at + anchor.length);
  return next; // no overlap: more than a window went by, or the console restarted
}

function nicsOption(o: CreateOpts): Pick<CreateVmRequest, 'nics'> {
  if (o.ip !== undefined && o.net !== 'bridged') throw new UsageError('--ip goes with --net bridged');
  if (o.net !== 'bridged') return {};
  return { nics: [{ network: 'bridged', ...(o.ip !== undefined ? { ip: o.ip } : {}) }] };
}

function networkLine(vm: Vm): string | undefined {
  return vm.spec.nics.map((n) => (n.network === 'bridged' ? `bridged ${n.ip ?? '?'} on segment ${n.segment ?? '?'}${n.gw ? ` via ${n.gw}` : ''}` : 'user')).join(', ') || undefined;
}
