// An agent in a child process of the test, so the test can SIGKILL or SIGSTOP it while the
// QEMUs it started live on (an in-process agent can only be closed gracefully).
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AgentOptions } from '../agent/index.js';
import type { ApiClient } from '../contracts/index.js';
import type { TestPki } from './pki.js';

const agentModule = fileURLToPath(new URL('../agent/index.js', import.meta.url));

export interface AgentProcess {
  proc: ChildProcess;
  url: string;
  /** SIGKILL, resolved once the process is gone. Idempotent. */
  kill(): Promise<void>;
}

/** Starts `runAgent(opts)` in a child process (opts must survive JSON) and resolves once it listens. */
export function spawnAgent(opts: AgentOptions, env: NodeJS.ProcessEnv = process.env): Promise<AgentProcess> {
  const code = `import(${JSON.stringify(agentModule)}).then((m) => m.runAgent(${JSON.stringify(opts)})).then((a) => console.log('URL ' + a.url))`;
  const proc = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const gone = new Promise<void>((res) => proc.once('exit', () => res()));
  const kill = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await gone;
  };
  return new Promise((res, rej) => {
    let out = '';
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => {
      out += s;
      const m = /URL (\S+)/.exec(out);
      if (m) res({ proc, url: m[1]!, kill });
    });
    proc.once('exit', (code) => rej(new Error(`agent exited with ${code} before listening`)));
  });
}

/** One host's agent that a test crashes (SIGKILL, SIGSTOP) and starts again on the same data dir. */
export class RestartableAgent {
  #current: AgentProcess | undefined;

  /** `pki`: the CA of `opts.tls`, whose controller certificate the returned clients present. */
  constructor(readonly opts: AgentOptions, private readonly pki: TestPki) {}

  get url(): string {
    return this.#current?.url ?? '';
  }

  get alive(): boolean {
    const p = this.#current?.proc;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Starts the agent (again, after a kill) and returns a client once it listens. */
  async start(): Promise<ApiClient> {
    this.#current = await spawnAgent(this.opts);
    return this.pki.agentClient(this.#current.url, this.opts.name);
  }

  /** SIGKILL, and wait until it is gone. */
  async kill(): Promise<void> {
    await this.#current?.kill();
  }

  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    if (this.alive) this.#current!.proc.kill(sig);
  }

  /** For `after`: continue it if stopped, then kill it. */
  async stop(): Promise<void> {
    this.signal('SIGCONT');
    await this.kill();
  }
}
