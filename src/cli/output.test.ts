import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FerryError } from '../contracts/errors.js';
import { formatError, formatFields, formatTable, UsageError } from './output.js';

test('tables align columns and leave no trailing blanks', () => {
  const t = formatTable(['NAME', 'STATE', 'HOST'], [
    ['web1', 'running', 'host1'],
    ['database', 'stopped', undefined],
  ]);
  assert.equal(t, ['NAME      STATE    HOST', 'web1      running  host1', 'database  stopped  -'].join('\n'));
});

test('fields align their keys', () => {
  assert.equal(formatFields([['name', 'web1'], ['state', undefined]]), 'name:  web1\nstate: -');
});

test('errors are one line with the code, prefixed by what they are about', () => {
  assert.equal(formatError(new FerryError('INVALID_STATE', 'cannot pause: it is stopped'), 'vm web1'), 'ferry: vm web1: cannot pause: it is stopped (INVALID_STATE)');
  assert.equal(formatError(new FerryError('NOT_FOUND', 'vm web1 does not exist'), 'vm web1'), 'ferry: vm web1 does not exist (NOT_FOUND)');
  assert.equal(formatError(new FerryError('NOT_FOUND', 'VM web1 not found'), 'vm web1'), 'ferry: VM web1 not found (NOT_FOUND)');
  assert.equal(formatError(new UsageError('no cluster found')), 'ferry: no cluster found');
});
