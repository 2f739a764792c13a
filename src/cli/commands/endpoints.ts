// `ferry vm expose|unexpose|endpoints`: service endpoints, stable addresses for a VM's guest
// ports that follow it wherever it runs (docs/endpoints.md).
import type { Command } from 'commander';
import type { ServiceEndpoint, VmLocation } from '../../contracts/endpoints.js';
import type { ApiClient } from '../../contracts/http-client.js';
import { connect } from '../config.js';
import { printJson, printTable, setErrorContext } from '../output.js';
import { parsePositiveInt } from '../parse.js';
import { jsonOption, vmPath, type JsonOpt } from './common.js';

export const endpointLine = (e: ServiceEndpoint): string => `${e.url} -> ${e.vm}:${e.port}${e.target ? ` (now ${e.target})` : ''}`;

export function locationLine(l: VmLocation): string {
  const fwd = l.addresses.forwards.map((f) => `${f.host}:${f.port}->${f.guestPort}`).join(' ');
  const lan = (l.addresses.lan ?? []).map((a) => `${a.ip} (${a.mac}) on ${a.segment}`).join(' ');
  return `${l.host} (site ${l.site}) since ${l.since} (${l.reason})${l.addresses.guest ? `, guest ${l.addresses.guest}` : ''}${lan ? `, bridged ${lan}` : ''}${fwd ? `, forwards ${fwd}` : ''}`;
}

/** The VM's entry in the location registry, if it has one. */
export async function locationOf(api: ApiClient, name: string): Promise<VmLocation | undefined> {
  return (await api.get<VmLocation[]>('/api/v1/locations')).find((l) => l.vm === name);
}

export function registerEndpoints(vm: Command): void {
  jsonOption(vm.command('expose').argument('<name>').description('give a guest port a stable address that follows the VM wherever it runs'))
    .requiredOption('--port <P>', 'the guest TCP port', parsePositiveInt)
    .action(async (name: string, o: JsonOpt & { port: number }) => {
      setErrorContext(`vm ${name}`);
      const e = await connect().post<ServiceEndpoint>(`${vmPath(name)}/expose`, { port: o.port });
      if (o.json) return printJson(e);
      process.stdout.write(`${e.url} -> ${e.vm}:${e.port}\n`);
    });

  jsonOption(vm.command('unexpose').argument('<name>').description("close a guest port's service endpoint"))
    .requiredOption('--port <P>', 'the guest TCP port', parsePositiveInt)
    .action(async (name: string, o: JsonOpt & { port: number }) => {
      setErrorContext(`vm ${name}`);
      await connect().delete<void>(`${vmPath(name)}/expose/${o.port}`);
      if (o.json) return printJson({ vm: name, port: o.port, removed: true });
      process.stdout.write(`endpoint of ${name}:${o.port} removed\n`);
    });

  jsonOption(vm.command('endpoints').argument('<name>').description("a VM's service endpoints; --json: an array of {port, url, …}")).action(
    async (name: string, o: JsonOpt) => {
      setErrorContext(`vm ${name}`);
      const list = await connect().get<ServiceEndpoint[]>(`${vmPath(name)}/endpoints`);
      if (o.json) return printJson(list);
      printTable(['PORT', 'URL', 'NOW', 'CONNECTIONS', 'HELD'], list.map((e) => [e.port, e.url, e.target ?? '-', e.connections, e.held]));
    },
  );
}
