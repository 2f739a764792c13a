#!/usr/bin/env node
// Runs every compiled test file with node:test, one file at a time: integration tests boot
// real QEMU guests and a 2-core machine cannot run many at once.
// Usage: node scripts/run-tests.mjs [unit|integration|all]
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const which = process.argv[2] ?? 'all';
const roots = { unit: ['dist/src'], integration: ['dist/test'], all: ['dist/src', 'dist/test'] }[which];
if (!roots) throw new Error(`unknown test set ${which}`);

function find(dir) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(find(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
// tsc never deletes outputs: skip compiled tests whose source is gone (renamed or removed).
const files = roots
  .flatMap((r) => find(r))
  .filter((f) => existsSync(f.replace(/^dist\//, '').replace(/\.js$/, '.ts')))
  .sort();
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
