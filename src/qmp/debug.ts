// Namespaced debug logging, enabled like the `debug` package: DEBUG=ferry:qmp, DEBUG=ferry:*,
// DEBUG=* (comma or space separated, `-ns` excludes). When off, the logger is a no-op and
// arguments are never formatted, so call sites pay one function call.
import { formatWithOptions } from 'node:util';

export interface DebugLog {
  (format: string, ...args: unknown[]): void;
  readonly enabled: boolean;
}

function toRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

export function isDebugEnabled(namespace: string, env: string | undefined = process.env.DEBUG): boolean {
  if (!env) return false;
  let enabled = false;
  for (const raw of env.split(/[\s,]+/)) {
    if (!raw) continue;
    if (raw.startsWith('-')) {
      if (toRegExp(raw.slice(1)).test(namespace)) return false;
    } else if (toRegExp(raw).test(namespace)) {
      enabled = true;
    }
  }
  return enabled;
}

const noop = Object.assign(() => {}, { enabled: false });

export function createDebug(namespace: string): DebugLog {
  if (!isDebugEnabled(namespace)) return noop;
  const log = (format: string, ...args: unknown[]): void => {
    process.stderr.write(`${new Date().toISOString()} ${namespace} ${formatWithOptions({ depth: 4 }, format, ...args)}\n`);
  };
  return Object.assign(log, { enabled: true });
}
