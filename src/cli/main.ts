// The `ferry` command line: a thin client of the controller's REST API, plus the roles
// (`controller`, `agent`) and the local-cluster helpers (`up`, `down`).
// Exit codes: 0 ok, 1 failure (one line on stderr: `ferry: <what>: <why> (<CODE>)`),
// 2 usage error. Set DEBUG=1 (or any DEBUG) to see stack traces.
import { Command, CommanderError } from 'commander';
import { FERRY_VERSION } from '../contracts/version.js';
import { registerBalance } from './commands/balance.js';
import { registerDown } from './commands/down.js';
import { registerDr } from './commands/dr.js';
import { registerHost } from './commands/host.js';
import { registerImage } from './commands/image.js';
import { registerMetrics } from './commands/metrics.js';
import { registerNet } from './commands/net.js';
import { registerRoles } from './commands/roles.js';
import { registerStatus } from './commands/status.js';
import { registerTask } from './commands/task.js';
import { registerUp } from './commands/up.js';
import { registerVm } from './commands/vm.js';
import { exitCodeOf, formatError, getErrorContext } from './output.js';

export function buildProgram(): Command {
  const program = new Command('ferry')
    .description('Ferry keeps virtual machines running through host maintenance, overload and site loss')
    .version(FERRY_VERSION)
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({
      // commander's own errors (unknown option, bad value) become our one-line format
      outputError: (str, write) => write(`ferry: ${str.replace(/^error: /, '').trim()}\n`),
    });
  registerUp(program);
  registerDown(program);
  registerNet(program);
  registerStatus(program);
  registerHost(program);
  registerVm(program);
  registerImage(program);
  registerDr(program);
  registerMetrics(program);
  registerBalance(program);
  registerTask(program);
  registerRoles(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and --version exit 0; everything else commander reports is a usage error
      return err.exitCode === 0 ? 0 : 2;
    }
    process.stderr.write(formatError(err, getErrorContext()) + '\n');
    if (process.env.DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
    return exitCodeOf(err);
  }
}

const code = await main(process.argv);
// Roles keep running on their own; short commands exit when they are done.
process.exitCode = code;
// …but a lingering keep-alive socket must not hold a finished command open.
setTimeout(() => process.exit(code), 2000).unref();
