import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FERRY_VERSION } from './version.js';

test('the version is package.json\'s, and `ferry --version` prints it', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(FERRY_VERSION, pkg.version);
  const cli = fileURLToPath(new URL('../cli/main.js', import.meta.url));
  assert.equal(execFileSync(process.execPath, [cli, '--version'], { encoding: 'utf8' }).trim(), pkg.version);
});
