// Every file that code, comments and docs name exists: a path like `src/agent/launch.ts`,
// `docs/qemu.md` or `controller/dr/ha.ts` (a tail of a real path is enough), a folder under
// src/ or docs/, a `.js` under src/, test/, bench/ or dist/ (its `.ts` source), and a bare
// `NAME.md` or `name.ts`. Files move; this keeps comments from pointing at where they were.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: this file runs as dist/src/testing/doc-references.test.js. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SKIP_DIRS = new Set(['node_modules', 'dist', 'build']);
const SCANNED = /\.(ts|tsx|md|mjs|js|sh|c|css|html)$|^guest\/init$/;
/** This file names missing files on purpose, as examples. */
const SELF = 'src/testing/doc-references.test.ts';

/** Other projects' files that comments cite as models (STYLE: nats.js's parser, undici's errors). */
const FOREIGN = new Set(['core/src/parser.ts']);

function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(dir, rel), { withFileTypes: true })) {
    if (e.name.startsWith('.') || SKIP_DIRS.has(e.name)) continue;
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${p}/`, ...walk(dir, p));
    else out.push(p);
  }
  return out;
}

const PATH = /(?<![\w./@:$}{*-])((?:\.{1,2}\/)*[A-Za-z_][\w.-]*(?:\/[\w.-]+)+\/?)/g;
const BARE = /(?<![\w./@:$}{*-])([A-Z][\w-]*\.md|[\w-]+\.tsx?)\b/g;
const OURS = /^(src|test|bench|scripts|bin)\//;

/** The references in `text` that name nothing in `paths` (repo-relative; folders end in '/'). */
export function danglingReferences(text: string, paths: readonly string[]): string[] {
  const all = new Set(paths);
  const names = new Set(paths.map((p) => basename(p)));
  const has = (p: string): boolean => all.has(p) || all.has(`${p}/`) || paths.some((f) => f.endsWith(`/${p}`) || f.endsWith(`/${p}/`));
  const out: string[] = [];
  for (const m of text.matchAll(PATH)) {
    const next = text[m.index + m[0].length];
    if (next === '*' || next === '{' || next === '<' || next === '$') continue; // a glob or a template
    const segments = m[1]!.split('/');
    if (segments.some((s) => s.startsWith('.') && s !== '.' && s !== '..')) continue; // a dotfile: test data
    const ref = m[1]!.replace(/^(\.{1,2}\/)+/, '').replace(/\.$/, '').replace(/\/$/, '');
    if (FOREIGN.has(ref)) continue;
    if (/\.(tsx?|md|mjs|sh|css|html)$/.test(ref)) {
      if (!has(ref) && !existsSync(join(ROOT, 'node_modules', ref))) out.push(ref);
    } else if (/\.js$/.test(ref)) {
      if (!OURS.test(ref) && !ref.startsWith('dist/')) continue; // an import specifier or a URL path
      const src = ref.replace(/^dist\/web-console\//, 'src/').replace(/^dist\//, '');
      if (![src, src.replace(/\.js$/, '.ts'), src.replace(/\.js$/, '.tsx')].some(has)) out.push(ref);
    } else if (!/\.\w+$/.test(ref) && /^(src|docs)\//.test(ref)) {
      if (!has(ref)) out.push(ref);
    }
  }
  for (const m of text.matchAll(BARE)) if (!names.has(m[1]!)) out.push(m[1]!);
  return out;
}

describe('references to files', () => {
  it('finds what is gone and passes what exists', () => {
    const paths = ['src/', 'src/contracts/', 'src/contracts/heartbeat.ts', 'src/controller/dr/ha.ts', 'docs/qemu.md', 'package.json'];
    const text = [
      '// see src/contracts/heartbeat.ts, dr/ha.ts and docs/qemu.md; run dist/src/contracts/heartbeat.js',
      '// the old src/wire/heartbeat.ts, wire/heartbeat.ts, src/wire and QEMU-NOTES.md; console/live.ts',
      "import { x } from '../contracts/heartbeat.js'; // an import (tsc checks those)",
      '// a glob src/**/*.ts, a template `${dir}/x.md`, foreign core/src/parser.ts, the .git/x.ts of a fixture',
    ].join('\n');
    assert.deepEqual(danglingReferences(text, paths), ['src/wire/heartbeat.ts', 'wire/heartbeat.ts', 'src/wire', 'console/live.ts', 'QEMU-NOTES.md']);
  });

  it('every file named in src, test, bench, docs, scripts, guest and the README exists', () => {
    assert.ok(existsSync(join(ROOT, 'package.json')), `no checkout at ${ROOT}`);
    const paths = walk(ROOT);
    const scanned = paths.filter((p) => p !== SELF && SCANNED.test(p) && /^(src|test|bench|docs|scripts|guest|bin)\/|^README\.md$/.test(p));
    assert.ok(scanned.length > 100, `scanned only ${scanned.length} files`);
    const dangling = scanned.flatMap((p) => danglingReferences(readFileSync(join(ROOT, p), 'utf8'), paths).map((ref) => `${p}: ${ref}`));
    assert.deepEqual(dangling, []);
  });
});
