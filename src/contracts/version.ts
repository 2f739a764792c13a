// Ferry's version, from package.json alone, read once when this module loads: the CLI's
// --version, the version an agent reports for its host and the controller's status all show it.
import { readFileSync } from 'node:fs';

function readVersion(): string {
  // This module is src/contracts/version.ts in source and dist/src/contracts/version.js compiled.
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ferry' && pkg.version) return pkg.version;
    } catch {
      // not this layout: try the next
    }
  }
  return '0.0.0';
}

export const FERRY_VERSION = readVersion();
