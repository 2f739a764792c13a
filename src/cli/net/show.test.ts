import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterNet } from '../config.js';
import { planNet } from './plan.js';
import { formatNet } from './show.js';

test('net show lists sites with their hosts, and hosts with their ports; missing namespaces are marked', () => {
  const p = planNet('ab01', [
    { name: 'host1', site: 'main' },
    { name: 'host2', site: 'main' },
    { name: 'host3', site: 'dr' },
  ]);
  const net: ClusterNet = { mode: 'bridged', ...p };
  const text = formatNet(net, new Set(['ferry-ab01-main', 'ferry-ab01-dr', 'ferry-ab01-host1', 'ferry-ab01-host3']));
  assert.match(text, /cluster net ab01/);
  assert.match(text, /^main\s+10\.77\.1\.0\/24\s+10\.77\.1\.1\s+ferry-ab01-main\s+host1,host2$/m);
  assert.match(text, /^dr\s+10\.77\.2\.0\/24\s+10\.77\.2\.1\s+ferry-ab01-dr\s+host3$/m);
  assert.match(text, /^host2\s+main\s+ferry-ab01-host2 \(missing\)\s+p-host2$/m);
  assert.match(text, /^host3\s+dr\s+ferry-ab01-host3\s+p-host3$/m);
});
