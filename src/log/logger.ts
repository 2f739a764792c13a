// Ferry's one logger: namespaced debug output (`ferry:agent`, `ferry:controller:sse`, `ferry:qmp`…)
// enabled like the `debug` package: DEBUG=ferry:qmp, DEBUG=ferry:*, DEBUG=* (comma or space
// separated, `-ns` excludes). Whether a namespace is on is decided once, when its logger is made;
// when off the logger is a no-op and its arguments are never formatted, so a call costs one
// function call. Lines go to stderr: ISO time, namespace, then the printf-style message
// (util.format: %s %d %o %j).
import { formatWithOptions } from 'node:util';

export interface Logger {
  (format: string, ...args: unknown[]): void;
  readonly enabled: boolean;
}

function toRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

/** Whether `namespace` is on under the DEBUG value `env`; an exclusion (`-ns`) always wins. */
export function isEnabled(namespace: string, env: string | undefined = process.env.DEBUG): boolean {
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

function write(namespace: string, format: string, args: unknown[]): void {
  process.stderr.write(`${new Date().toISOString()} ${namespace} ${formatWithOptions({ depth: 4 }, format, ...args)}\n`);
}

const off: Logger = Object.assign(() => {}, { enabled: false });

/** The logger of `namespace`: writes when DEBUG (read now, as `env`) enables it, else a no-op. */
export function logger(namespace: string, env: string | undefined = process.env.DEBUG): Logger {
  if (!isEnabled(namespace, env)) return off;
  return Object.assign((format: string, ...args: unknown[]) => write(namespace, format, args), { enabled: true });
}

const lastWarned = new Map<string, number>();

/**
 * A warning that always prints, whatever DEBUG says, but at most once per `everyMs` per `key`:
 * a dead peer cannot flood stderr with one line per heartbeat.
 */
export function warnRateLimited(namespace: string, key: string, everyMs: number, format: string, ...args: unknown[]): void {
  const now = Date.now();
  const last = lastWarned.get(key);
  if (last !== undefined && now - last < everyMs) return;
  lastWarned.set(key, now);
  write(namespace, format, args);
}
