import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ProtectionRow } from './repo.js';
import { zeroLossHold, zeroLossMigrateRefusal } from './zero-loss.js';

const repo = (rpoMs: number | undefined) => ({
  get: (vm: string): ProtectionRow | undefined => (rpoMs === undefined ? undefined : ({ protection: { vm, rpoMs }, meta: { syncingSince: '' } } as unknown as ProtectionRow)),
});

test('only a zero-loss protection holds a VM where it is', () => {
  assert.equal(zeroLossHold(repo(undefined), 'web'), undefined);
  assert.equal(zeroLossHold(repo(30_000), 'web'), undefined);
  const why = zeroLossHold(repo(0), 'web');
  assert.match(why ?? '', /zero-loss/);
  assert.match(zeroLossMigrateRefusal('web', why!), /^cannot migrate VM web: .*ferry dr unprotect web.*ferry dr failover web --planned/);
});
