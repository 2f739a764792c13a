// A client of a VM's http service through a Ferry service endpoint, for tests and benchmarks:
// `GET /` on a new TCP connection every `everyMs`; every answer must be the guest's heartbeat
// line with a `seq` that never goes backwards (anything else is a wrong answer), and the times
// of good answers give the longest gap a client saw around a move.
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from './wait-for.js';

const HEARTBEAT = /^ferry-heartbeat seq=(\d+)\b/;

export class EndpointPoller {
  /** Wrong answers, in words. */
  readonly wrong: string[] = [];
  /** Monotonic times (ms) of good answers. */
  readonly okAt: number[] = [];
  maxSeq = -1;
  failures = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly url: string,
    private readonly everyMs = 100,
    private readonly timeoutMs = 3000,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        await this.once();
        await sleep(Math.max(0, this.everyMs - (performance.now() - t0)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** Resolves at the first good answer after `t` (monotonic ms). */
  answerAfter(t: number, timeoutMs = 60_000): Promise<number> {
    return waitFor(`an answer through ${this.url}`, () => this.okAt.find((x) => x > t), { timeoutMs, everyMs: 50 });
  }

  /** The longest time without a good answer between `from` and the first good answer after `to`. */
  longestGap(from: number, to: number): number {
    const end = this.okAt.find((x) => x > to) ?? performance.now();
    const inside = this.okAt.filter((x) => x >= from && x <= end);
    const before = [...this.okAt].reverse().find((x) => x < from);
    const times = before !== undefined ? [before, ...inside] : inside;
    let gap = 0;
    for (let i = 1; i < times.length; i++) gap = Math.max(gap, times[i]! - times[i - 1]!);
    return Math.round(gap);
  }

  private async once(): Promise<void> {
    const u = new URL(this.url.replace(/^tcp:/, 'http:'));
    const body = await new Promise<string | undefined>((resolve) => {
      // agent: false and Connection: close: every poll is a new TCP connection, as a new client's would be.
      const req = request({ host: u.hostname, port: Number(u.port), path: '/', agent: false, headers: { connection: 'close' }, timeout: this.timeoutMs }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(text));
        res.on('error', () => resolve(undefined));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(undefined));
      req.end();
    });
    if (body === undefined) {
      this.failures++;
      return;
    }
    const m = HEARTBEAT.exec(body.trim());
    const seq = m ? Number(m[1]) : undefined;
    if (seq === undefined) this.wrong.push(`not a heartbeat: ${JSON.stringify(body.slice(0, 120))}`);
    else if (seq < this.maxSeq) this.wrong.push(`seq went back from ${this.maxSeq} to ${seq}`);
    else {
      this.maxSeq = seq;
      this.okAt.push(performance.now());
    }
  }
}
