import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BalancePlan, BalanceStatus } from '../contracts/balance.js';
import { DEFAULT_CONFIG } from '../controller/balance/config.js';
import { configLine, formatBalancePlan, formatStatus } from './balance-format.js';

describe('balance text', () => {
  it('a plan shows each move with its cost and reason, and the notes', () => {
    const p: BalancePlan = {
      mode: 'performance', hotspots: ['host1'], powerOff: [], notes: ['quiet1 stays on host1: it is paused'], imbalanceBefore: 0.8, imbalanceAfter: 0.1,
      moves: [{ vm: 'burner', from: 'host1', to: 'host2', kind: 'move', reason: 'host1 is hot (cpu 83%) in 5 of the last 5 samples', gain: { fromVolumeBefore: 5.9, fromVolumeAfter: 2, imbalanceBefore: 0.8, imbalanceAfter: 0.1 }, cost: { bytes: 150 * 1048576, seconds: 1.2, learned: true } }],
    };
    const text = formatBalancePlan(p);
    assert.match(text, /hot host1; imbalance 0\.800 -> 0\.100/);
    assert.match(text, /burner\s+host1\s+host2\s+move\s+5\.90 -> 2\.00\s+150\.0 MiB, 1\.2 s \(learned\)\s+host1 is hot/);
    assert.match(text, /note: quiet1 stays on host1: it is paused/);
  });

  it('status marks hot hosts and ends with the decisions', () => {
    const s: BalanceStatus = {
      config: { ...DEFAULT_CONFIG, auto: true }, imbalance: 0.5, running: [], powerOff: ['host3'],
      hosts: [{ name: 'host1', site: 'main', up: true, load: { cpu: 0.83, net: 0, mem: 0.02 }, volume: 6, hot: true, overThreshold: 4, samples: 5, vms: 4 }],
      decisions: [{ id: 1, at: '2026-11-22T06:00:01.000Z', trigger: 'auto', kind: 'move-done', vm: 'burner', from: 'host1', to: 'host2', reason: 'moved in 1.2 s' }],
    };
    const text = formatStatus(s);
    assert.match(text, /host1\s+main\s+up\s+83%\s+0%\s+2%\s+6\.000\s+HOT\s+4\/5\s+4/);
    assert.match(text, /power off: host3/);
    assert.match(text, /06:00:01 auto\s+move-done\s+burner host1 -> host2: moved in 1\.2 s/);
    assert.match(configLine(s.config), /^auto on \(every 30\.0 s\); mode performance; hot above 85% in 3 of 5 samples of 10\.0 s/);
  });
});
