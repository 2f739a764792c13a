// Namespaced debug logging for the controller (DEBUG=ferry:controller, DEBUG=ferry:*). Quiet by
// default: when a namespace is off the logger is a no-op and arguments are never formatted.
// Kept local rather than imported from another component (components share types, not code).
import { formatWithOptions } from 'node:util';

export interface Log {
  (format: string, ...args: unknown[]): void;
  readonly enabled: boolean;
}

function matches(pattern: string, namespace: string): boolean {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`).test(namespace);
}

export function isEnabled(namespace: string, env: string | undefined = process.env.DEBUG): boolean {
  let enabled = false;
  for (const raw of (env ?? '').split(/[\s,]+/)) {
    if (!raw) continue;
    if (raw.startsWith('-')) {
      if (matches(raw.slice(1), namespace)) return false;
    } else if (matches(raw, namespace)) enabled = true;
  }
  return enabled;
}

const noop: Log = Object.assign(() => {}, { enabled: false });

export function createLog(namespace: string): Log {
  if (!isEnabled(namespace)) return noop;
  const log = (format: string, ...args: unknown[]): void => {
    process.stderr.write(`${new Date().toISOString()} ${namespace} ${formatWithOptions({ depth: 4 }, format, ...args)}\n`);
  };
  return Object.assign(log, { enabled: true });
}
