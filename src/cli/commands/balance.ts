// `ferry balance …`: the load balancer (src/contracts/balance.ts). status / plan / decisions read;
// apply plans and carries the plan out as a task we wait for, then prints what it decided;
// auto on|off and config change the config.
import type { Command } from 'commander';
import type { BalanceConfig, BalanceConfigPatch, BalanceDecision, BalancePlan, BalanceStatus, VmRule } from '../../contracts/balance.js';
import { BALANCE_MODES } from '../../contracts/balance.js';
import type { Task } from '../../contracts/controller-api.js';
import { configLine, formatBalancePlan, formatDecisions, formatStatus } from '../balance-format.js';
import { connect } from '../config.js';
import { printJson, UsageError } from '../output.js';
import { collect, parseChoice, parseDuration, parsePositiveInt } from '../parse.js';
import { followTask, jsonOption, waitOptions, type JsonOpt, type WaitOpts } from './common.js';

const B = '/api/v1/balance';

interface ConfigOpts extends JsonOpt {
  mode?: BalanceConfig['policy']['mode'];
  threshold?: number;
  k?: number;
  n?: number;
  sample?: number;
  interval?: number;
  maxMoves?: number;
  maxConcurrent?: number;
  cooldown?: number;
  together?: string[];
  apart?: string[];
  clearRules?: boolean;
}

function parseFraction(v: string): number {
  const n = v.endsWith('%') ? Number(v.slice(0, -1)) / 100 : Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 1) throw new UsageError(`expected a fraction in (0, 1] or a percentage, not '${v}'`);
  return n;
}


function rulesOf(o: ConfigOpts, current: VmRule[]): VmRule[] | undefined {
  if (!o.together && !o.apart && !o.clearRules) return undefined;
  const rule = (kind: VmRule['kind']) => (list: string): VmRule => {
    const vms = list.split(',').filter(Boolean);
    if (vms.length < 2) throw new UsageError(`--${kind} needs two or more VMs separated by commas, not '${list}'`);
    return { kind, vms };
  };
  return [...(o.clearRules ? [] : current), ...(o.together ?? []).map(rule('together')), ...(o.apart ?? []).map(rule('apart'))];
}

export function registerBalance(program: Command): void {
  const bal = program.command('balance').description('load balancing by live migration: status, plan, apply, auto mode');

  jsonOption(bal.command('status').description('host profiles (load, volume, hot by k of n), imbalance, moves in flight, latest decisions')).action(async (o: JsonOpt) => {
    const s = await connect().get<BalanceStatus>(B);
    if (o.json) return printJson(s);
    process.stdout.write(`${formatStatus(s)}\n`);
  });

  jsonOption(bal.command('plan').description('what the balancer would do now and why (moves nothing)')).action(async (o: JsonOpt) => {
    const p = await connect().get<BalancePlan>(`${B}/plan`);
    if (o.json) return printJson(p);
    process.stdout.write(`${formatBalancePlan(p)}\n`);
  });

  waitOptions(bal.command('apply').description('plan and carry the plan out by live migration; prints the decisions of the run')).action(async (o: WaitOpts) => {
    const api = connect();
    const task = await api.post<Task>(`${B}/apply`, {});
    const done = await followTask(api, task, o, false);
    if (!done) return;
    const mine = (await api.get<BalanceDecision[]>(`${B}/decisions?limit=200`)).filter((d) => d.taskId === task.id).reverse();
    if (o.json) return printJson({ task: done, decisions: mine });
    process.stdout.write(`${formatDecisions(mine)}\n`);
  });

  jsonOption(bal.command('auto').argument('<on|off>').description('turn auto mode on or off')).action(async (v: string, o: JsonOpt) => {
    if (v !== 'on' && v !== 'off') throw new UsageError(`expected on or off, not '${v}'`);
    const c = await connect().put<BalanceConfig>(`${B}/config`, { auto: v === 'on' } satisfies BalanceConfigPatch);
    if (o.json) return printJson(c);
    process.stdout.write(`${configLine(c)}\n`);
  });

  jsonOption(bal.command('config').description('show or change the policy'))
    .option('--mode <MODE>', `performance (spread load off hotspots) or density (pack VMs, free hosts to power off)`, parseChoice(BALANCE_MODES))
    .option('--threshold <FRACTION>', 'a host is hot above this utilisation (0.85 or 85%)', parseFraction)
    .option('--k <N>', 'samples over the threshold that make a hotspot…', parsePositiveInt)
    .option('--n <N>', '…among the last N samples', parsePositiveInt)
    .option('--sample <DURATION>', 'width of one profile sample (10s)', parseDuration)
    .option('--interval <DURATION>', 'how often auto mode plans (30s)', parseDuration)
    .option('--max-moves <N>', 'migrations in one plan at most', parsePositiveInt)
    .option('--max-concurrent <N>', 'migrations at once at most', parsePositiveInt)
    .option('--cooldown <DURATION>', 'no VM moves again within this long', parseDuration)
    .option('--together <VMS>', 'keep these VMs (comma-separated) on one host; repeatable', collect)
    .option('--apart <VMS>', 'never put two of these VMs on one host; repeatable', collect)
    .option('--clear-rules', 'drop the existing rules first')
    .action(async (o: ConfigOpts) => {
      const api = connect();
      const current = await api.get<BalanceConfig>(`${B}/config`);
      const rules = rulesOf(o, current.policy.rules);
      const policy: BalanceConfigPatch['policy'] = {
        ...(o.mode ? { mode: o.mode } : {}),
        ...(o.threshold !== undefined ? { threshold: o.threshold } : {}),
        ...(o.k !== undefined ? { k: o.k } : {}),
        ...(o.n !== undefined ? { n: o.n } : {}),
        ...(o.maxMoves !== undefined ? { maxMoves: o.maxMoves } : {}),
        ...(o.cooldown !== undefined ? { cooldownMs: o.cooldown } : {}),
        ...(rules ? { rules } : {}),
      };
      const patch: BalanceConfigPatch = {
        ...(Object.keys(policy).length > 0 ? { policy } : {}),
        ...(o.sample !== undefined ? { sampleMs: o.sample } : {}),
        ...(o.interval !== undefined ? { intervalMs: o.interval } : {}),
        ...(o.maxConcurrent !== undefined ? { maxConcurrent: o.maxConcurrent } : {}),
      };
      const c = Object.keys(patch).length > 0 ? await api.put<BalanceConfig>(`${B}/config`, patch) : current;
      if (o.json) return printJson(c);
      process.stdout.write(`${configLine(c)}\n`);
    });

  jsonOption(bal.command('decisions').description('the decision log, newest first'))
    .option('--vm <VM>', 'only decisions about this VM')
    .option('--limit <N>', 'how many (default 50)', parsePositiveInt)
    .action(async (o: JsonOpt & { vm?: string; limit?: number }) => {
      const q = new URLSearchParams({ limit: String(o.limit ?? 50), ...(o.vm ? { vm: o.vm } : {}) });
      const list = await connect().get<BalanceDecision[]>(`${B}/decisions?${q.toString()}`);
      if (o.json) return printJson(list);
      process.stdout.write(`${formatDecisions(list)}\n`);
    });
}
