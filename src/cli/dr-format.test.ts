import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FailoverReport, Protection } from '../contracts/dr.js';
import { formatProtections, formatReport, formatReports, protectionLine } from './dr-format.js';

const p = (o: Partial<Protection>): Protection => ({
  vm: 'web', uuid: 'u', fromSite: 'main', toSite: 'dr', targetHost: 'h3', rpoMs: 30_000, keep: 3, state: 'protected', checkpoints: 7, bytesSent: 3 * 1024 * 1024,
  createdAt: 't', updatedAt: 't', ...o,
});
const report: FailoverReport = {
  id: 'r1', vm: 'web', kind: 'test', outcome: 'failed', from: 'h1', to: 'h3', checkpointSeq: 9, dataWindowMs: 12_400, timeToRunningMs: 2100,
  checks: [{ name: 'heartbeat', passed: true, detail: 'first heartbeat seq=80' }, { name: 'memory', passed: false, detail: 'bad=3 at seq=81' }],
  error: { code: 'CHECK_FAILED', message: 'memory: bad=3 at seq=81' }, startedAt: 's', finishedAt: 'f',
};

test('dr status: one row per protection, the alarm in words', () => {
  const t = formatProtections([p({ ageMs: 4200 }), p({ vm: 'db', state: 'behind', alarm: { since: 's', reason: 'a checkpoint takes 42 s' } }), p({ vm: 'old', state: 'failed-over' })], (vm) => (vm === 'old' ? 'h3' : 'h1'));
  const lines = t.split('\n');
  assert.match(lines[0]!, /^VM\s+FROM\s+TO\s+RPO\s+AGE\s+STATE\s+CHECKPOINTS\s+SENT\s+ALARM$/);
  assert.match(lines[1]!, /^web\s+main\/h1\s+dr\/h3\s+30\.0 s\s+4\.2 s\s+protected\s+7\s+3\.0 MiB\s+-$/);
  assert.match(lines[2]!, /behind .* a checkpoint takes 42 s$/);
  assert.match(lines[3]!, /^old\s+main\s+dr\/h3/, 'failed over: the VM runs at the DR host, not at home');
});

test('a protection in one line', () => {
  assert.equal(protectionLine(p({ state: 'syncing', bandwidthBytesPerSec: 10 * 1024 * 1024 })), 'dr web: syncing, main -> dr (host h3), RPO 30.0 s, keeping 3, capped at 10.0 MiB/s');
});

test('a report shows its numbers and every check', () => {
  const t = formatReport(report);
  assert.match(t, /vm:\s+web: DR test h1 -> h3/);
  assert.match(t, /data window:\s+12\.4 s/);
  assert.match(t, /to running:\s+2\.1 s/);
  assert.match(t, /checks:\n {2}ok {3}heartbeat: first heartbeat seq=80\n {2}FAIL memory: bad=3 at seq=81$/);
  assert.match(formatReports([report]).split('\n')[1]!, /^r1\s+web\s+test\s+failed\s+h1\s+h3\s+9\s+12\.4 s\s+2\.1 s\s+1\/2\s+s$/);
});
