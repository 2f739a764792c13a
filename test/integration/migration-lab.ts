// Two in-process agents with data-plane certificates from a throw-away cluster CA: the set-up
// every agent-level migration test shares. `close()` stops every QEMU the agents started (by
// PID), then the agents, and removes their data dirs. Base disk images a test makes go in
// `imagesDir()`, the one directory both agents allow specs to name (the stand-in for shared storage).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runAgent, type RunningAgent } from '../../src/agent/index.js';
import { killQemus, P } from '../../src/testing/agent.js';
import type { ApiClient, HostInfo } from '../../src/contracts/index.js';
import { TestPki } from '../../src/testing/pki.js';

export interface Identity {
  keyPem: string;
  certPem: string;
  caPem: string;
}

export class MigrationLab {
  readonly dirs: string[] = [];
  readonly agents: RunningAgent[] = [];
  /** The lab's cluster CA: hosts' identities, and the controller's the test's clients present. */
  readonly pki = new TestPki();
  #images: string | undefined;

  constructor(private readonly prefix: string) {}

  /** A key and host certificate for `name`, signed by the lab's CA. */
  identity(name: string): Promise<Identity> {
    return this.pki.identity(name);
  }

  /** A directory every agent of the lab allows VM specs to name files in. */
  imagesDir(): string {
    if (!this.#images) {
      // Not in `dirs`: dirs[i] is the i-th agent's data dir.
      this.#images = mkdtempSync(join(tmpdir(), `${this.prefix}-images-`));
    }
    return this.#images;
  }

  async startAgent(name: string): Promise<ApiClient> {
    const dataDir = mkdtempSync(join(tmpdir(), `${this.prefix}-${name}-`));
    this.dirs.push(dataDir);
    const agent = await runAgent({ name, site: 'main', dataDir, accel: 'tcg', tls: await this.identity(name), imageDirs: [this.imagesDir()] });
    this.agents.push(agent);
    return this.pki.agentClient(agent.url, name);
  }

  /** Source `h1` and target `h2` (dirs[0], dirs[1]), and the target's ferry-wire endpoint. */
  async startPair(): Promise<{ a: ApiClient; b: ApiClient; targetDataUrl: string }> {
    const a = await this.startAgent('h1');
    const b = await this.startAgent('h2');
    const host = await b.get<HostInfo>(`${P}/host`);
    assert.match(host.dataUrl ?? '', /^ferry-wire:\/\/127\.0\.0\.1:\d+$/);
    return { a, b, targetDataUrl: host.dataUrl! };
  }

  async close(): Promise<void> {
    for (const d of this.dirs) killQemus(d);
    for (const ag of this.agents) await ag.close();
    for (const d of [...this.dirs, ...(this.#images ? [this.#images] : [])]) rmSync(d, { recursive: true, force: true });
  }
}
