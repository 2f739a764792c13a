// An agent in a child process of its own, for tests that crash it (SIGKILL, SIGSTOP) and start a
// new one on the same data dir: what a real agent crash or upgrade looks like to its QEMUs.
// `stop()` kills it by PID (also after a failed test); it never touches the QEMUs it started.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ApiClient } from '../contracts/index.js';
import type { AgentOptions } from '../agent/index.js';

const agentModule = resolve(fileURLToPath(import.meta.url), '../../agent/index.js');

export class AgentProcess {
  #proc: ChildProcess | undefined;
  url = '';

  constructor(readonly opts: AgentOptions) {}

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  get alive(): boolean {
    return this.#proc !== undefined && this.#proc.exitCode === null && this.#proc.signalCode === null;
  }

  /** Starts the agent (again, after a kill) and returns a client once it listens. */
  async start(): Promise<ApiClient> {
    const code = `import(${JSON.stringify(agentModule)}).then((m) => m.runAgent(${JSON.stringify(this.opts)})).then((a) => console.log('URL ' + a.url))`;
    const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.#proc = proc;
    this.url = await new Promise<string>((res, rej) => {
      let out = '';
      proc.stdout!.setEncoding('utf8');
      proc.stdout!.on('data', (s: string) => {
        out += s;
        const m = /URL (\S+)/.exec(out);
        if (m) res(m[1]!);
      });
      proc.once('exit', (code) => rej(new Error(`agent ${this.opts.name} exited with ${code} before listening`)));
    });
    return new ApiClient(this.url, this.opts.secret);
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    const proc = this.#proc;
    if (!proc || !this.alive) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.alive) this.#proc!.kill(sig);
  }

  /** For `after`: continue it if stopped, then kill it. */
  async stop(): Promise<void> {
    this.signal('SIGCONT');
    await this.kill();
  }
}
