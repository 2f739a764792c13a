// Text for `ferry balance …`: the host profiles, a plan with each move's reason, gain and cost,
// the decision log, and the config in one line. Pure, so it is tested without a cluster.
import type { BalanceConfig, BalanceDecision, BalancePlan, BalanceStatus } from '../contracts/balance.js';
import { bytes, duration, pct } from '../contracts/format.js';
import { formatTable } from './output.js';

const time = (iso: string): string => iso.slice(11, 19);

export function configLine(c: BalanceConfig): string {
  const p = c.policy;
  const rules = p.rules.length > 0 ? `; rules: ${p.rules.map((r) => `${r.kind}(${r.vms.join(',')})`).join(' ')}` : '';
  return (
    `auto ${c.auto ? 'on' : 'off'} (every ${duration(c.intervalMs)}); mode ${p.mode}; hot above ${pct(p.threshold)} in ${p.k} of ${p.n} samples of ${duration(c.sampleMs)}; ` +
    `at most ${p.maxMoves} moves per plan, ${c.maxConcurrent} at once; cooldown ${duration(p.cooldownMs)}${rules}`
  );
}

export function formatDecisions(list: readonly BalanceDecision[]): string {
  if (list.length === 0) return 'no decisions yet';
  return list.map((d) => `${time(d.at)} ${d.trigger.padEnd(5)} ${d.kind.padEnd(12)} ${d.vm ? `${d.vm} ${d.from} -> ${d.to}: ` : ''}${d.reason}`).join('\n');
}

export function formatStatus(s: BalanceStatus): string {
  const table = formatTable(
    ['HOST', 'SITE', 'STATE', 'CPU', 'NET', 'MEM', 'VOLUME', 'HOT', 'OVER', 'VMS'],
    s.hosts.map((h) => [h.name, h.site, h.up ? 'up' : 'down', pct(h.load.cpu), pct(h.load.net), pct(h.load.mem), h.volume.toFixed(3), h.hot ? 'HOT' : '', `${h.overThreshold}/${h.samples}`, h.vms]),
  );
  const running = s.running.length === 0 ? [] : ['', 'moving now:', ...s.running.map((m) => `  ${m.vm} ${m.from} -> ${m.to}: ${m.reason}`)];
  const off = s.powerOff.length === 0 ? [] : [`power off: ${s.powerOff.join(', ')}`];
  return [table, '', `imbalance ${s.imbalance.toFixed(3)}`, ...off, configLine(s.config), ...running, '', 'latest decisions:', formatDecisions(s.decisions)].join('\n');
}

export function formatBalancePlan(p: BalancePlan): string {
  const head = `${p.mode} plan: ${p.hotspots.length === 0 ? 'no hotspot' : `hot ${p.hotspots.join(', ')}`}; imbalance ${p.imbalanceBefore.toFixed(3)} -> ${p.imbalanceAfter.toFixed(3)}`;
  const lines = [head];
  if (p.moves.length > 0) {
    lines.push(
      formatTable(
        ['#', 'VM', 'FROM', 'TO', 'KIND', 'SOURCE VOLUME', 'COST', 'REASON'],
        p.moves.map((m, i) => [
          i + 1,
          m.vm,
          m.from,
          m.to,
          m.group ? `${m.kind} ${m.group}` : m.kind,
          `${m.gain.fromVolumeBefore.toFixed(2)} -> ${m.gain.fromVolumeAfter.toFixed(2)}`,
          `${bytes(Math.round(m.cost.bytes))}, ${duration(m.cost.seconds * 1000)}${m.cost.learned ? ' (learned)' : ''}`,
          m.reason,
        ]),
      ),
    );
  } else lines.push('no move');
  if (p.powerOff.length > 0) lines.push(`power off: ${p.powerOff.join(', ')}`);
  for (const n of p.notes) lines.push(`note: ${n}`);
  return lines.join('\n');
}
