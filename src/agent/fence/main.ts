// Entry point of the fence guard process (spawn.ts starts it detached from the agent):
//   node main.js --data-dir DIR --host NAME --listen-host ADDR
// The cluster secret is read from <dataDir>/fence/secret. SIGTERM or SIGINT ends it (ferry down);
// FERRY_FAULT_HOOKS=1 lets tests cut its link (files.ts).
import { parseArgs } from 'node:util';
import { fencePaths } from './files.js';
import { FenceGuard, readGuardSecret } from './guard.js';

const { values } = parseArgs({ options: { 'data-dir': { type: 'string' }, host: { type: 'string' }, 'listen-host': { type: 'string' } } });
const dataDir = values['data-dir'];
const host = values.host;
if (!dataDir || !host) {
  process.stderr.write('usage: main.js --data-dir DIR --host NAME [--listen-host ADDR]\n');
  process.exit(2);
}
const guard = new FenceGuard({
  dataDir, host, listenHost: values['listen-host'] ?? '127.0.0.1',
  secret: readGuardSecret(fencePaths(dataDir)), faultHooks: process.env.FERRY_FAULT_HOOKS === '1',
});
guard.onExit = () => process.exit(0);
// The guard is the last line against a VM running twice: an error in one tick or one ping is
// logged and the next tick runs; it never ends the process.
for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(ev, (err: unknown) => process.stderr.write(`${new Date().toISOString()} ferry:fence-guard ${ev}: ${(err as Error)?.stack ?? String(err)}\n`));
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void guard.close().then(() => process.exit(0)));
await guard.start();
