// Everything the CLI prints: aligned tables, JSON, and the one-line error format
// `ferry: <what>: <why> (<CODE>)`.
import { FerryError } from '../contracts/errors.js';

/** A mistake in how the command was called (exit 2), or a plain local failure (exit 1). */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Pure: rows of cells → aligned text (two spaces between columns, no trailing blanks). */
export function formatTable(header: string[], rows: (string | number | undefined)[][]): string {
  const all = [header, ...rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd())
    .join('\n');
}

export function printTable(header: string[], rows: (string | number | undefined)[][]): void {
  process.stdout.write(formatTable(header, rows) + '\n');
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Pure: `key: value` lines with the keys aligned. */
export function formatFields(fields: [string, string | number | undefined][]): string {
  const w = Math.max(...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${v === undefined ? '-' : v}`).join('\n');
}

/** Pure: the one line printed on stderr for an error. `context` is e.g. `vm web1`. */
export function formatError(err: unknown, context?: string): string {
  if (err instanceof FerryError) {
    const said = context !== undefined && err.message.toLowerCase().includes(context.toLowerCase());
    const msg = context && !said ? `${context}: ${err.message}` : err.message;
    return `ferry: ${msg} (${err.code})`;
  }
  if (err instanceof UsageError) return `ferry: ${err.message}`;
  const msg = err instanceof Error ? err.message : String(err);
  return `ferry: ${context ? `${context}: ` : ''}${msg}`;
}

export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError) return err.exitCode;
  return 1;
}

/** Progress and notes go to stderr so stdout stays clean for --json and pipes. */
export function note(line: string): void {
  process.stderr.write(line + '\n');
}

let errorContext: string | undefined;
/** What the current command acts on (e.g. `vm web1`), used to prefix its error line. */
export function setErrorContext(ctx: string | undefined): void {
  errorContext = ctx;
}
export function getErrorContext(): string | undefined {
  return errorContext;
}
