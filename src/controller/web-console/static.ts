// The console's files (contract: src/contracts/web-console.ts). GET / is the app shell, index.html, whose
// one inline import map is allowed by its sha256 in the Content-Security-Policy (scripts
// otherwise come from 'self' only). Assets come from three roots and nowhere else:
//   /console/assets/app/<path>     dist/web-console/ (the compiled console: .js, .js.map)
//   /console/assets/static/<path>  src/web-console/static/ (css, svg)
//   /console/assets/vendor/<name>  an allowlist of front-end libraries in node_modules
// A path is refused if any segment is empty or starts with a dot (no traversal, no dotfiles),
// or if its extension has no known content type.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout: src/controller/web-console/ in source, dist/src/controller/web-console/ compiled. */
export const REPO_ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../../' : '../../../', import.meta.url));

export const ASSETS_PREFIX = '/console/assets/';

export const VENDOR: Readonly<Record<string, string>> = {
  'preact.mjs': 'preact/dist/preact.module.js',
  'hooks.mjs': 'preact/hooks/dist/hooks.module.js',
  'jsx-runtime.mjs': 'preact/jsx-runtime/dist/jsxRuntime.module.js',
  'signals.mjs': '@preact/signals/dist/signals.module.js',
  'signals-core.mjs': '@preact/signals-core/dist/signals-core.module.js',
  'uplot.mjs': 'uplot/dist/uPlot.esm.js',
  'uplot.css': 'uplot/dist/uPlot.min.css',
};

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
};

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export function contentSecurityPolicy(importMapHash?: string): string {
  const scripts = importMapHash ? `'self' 'sha256-${importMapHash}'` : `'self'`;
  return `default-src 'self'; script-src ${scripts}; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
}

const IMPORT_MAP = /<script type="importmap">([\s\S]*?)<\/script>/g;

/** Base64 sha256 of the shell's inline import map (what CSP's 'sha256-…' names). */
export function importMapHash(html: string): string | undefined {
  const maps = [...html.matchAll(IMPORT_MAP)];
  if (maps.length !== 1) return undefined;
  return createHash('sha256').update(maps[0]![1]!, 'utf8').digest('base64');
}

/** `rel` under `base`, or undefined if it is not a plain relative path of known type. */
export function resolveUnder(base: string, rel: string): string | undefined {
  const segments = rel.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.') || s.includes('\\') || s.includes('\0'))) return undefined;
  if (!(extname(rel) in CONTENT_TYPES)) return undefined;
  const root = resolve(base);
  const full = resolve(root, ...segments);
  return full.startsWith(root + sep) ? full : undefined;
}

export interface ConsoleFiles {
  /** The app shell; default src/web-console/static/index.html of the checkout. */
  shell?: string;
  /** The checkout holding dist/web-console, src/web-console/static and node_modules. */
  root?: string;
}

export type FileReply =
  | { status: 200; headers: Record<string, string>; body: Buffer }
  | { status: 304; headers: Record<string, string> }
  | { status: 404 | 503; message: string };

export class StaticFiles {
  readonly shell: string;
  private readonly app: string;
  private readonly static: string;
  private readonly modules: string;

  constructor(opts: ConsoleFiles = {}) {
    const root = opts.root ?? REPO_ROOT;
    this.static = join(root, 'src/web-console/static');
    this.shell = opts.shell ?? join(this.static, 'index.html');
    this.app = join(root, 'dist/web-console');
    this.modules = join(root, 'node_modules');
  }

  /**
   * The shell with its CSP. Read on every request (it is small): an edited shell and its new
   * import map hash are served without restarting the controller.
   */
  async index(): Promise<FileReply> {
    let html: Buffer;
    try {
      html = await readFile(this.shell);
    } catch {
      return { status: 503, message: `the console is not built into this checkout yet (no ${this.shell})` };
    }
    const headers = {
      ...SECURITY_HEADERS,
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      'content-security-policy': contentSecurityPolicy(importMapHash(html.toString('utf8'))),
    };
    return { status: 200, headers, body: html };
  }

  /** `/console/assets/<kind>/<rest>`: the file, 304 if `etag` still matches, else 404. */
  async asset(kind: string, rest: string, etag?: string): Promise<FileReply> {
    const file =
      kind === 'app' ? resolveUnder(this.app, rest)
      : kind === 'static' ? resolveUnder(this.static, rest)
      : kind === 'vendor' && Object.hasOwn(VENDOR, rest) ? join(this.modules, VENDOR[rest]!)
      : undefined;
    const found = file ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !found?.isFile()) return { status: 404, message: `no console asset ${kind}/${rest}` };
    // Cheap validator: size and mtime; `no-cache` makes the browser revalidate every load.
    const tag = `W/"${found.size.toString(16)}-${Math.floor(found.mtimeMs).toString(16)}"`;
    const headers = { ...SECURITY_HEADERS, etag: tag, 'cache-control': 'no-cache', 'content-type': CONTENT_TYPES[extname(file)]! };
    if (etag === tag) return { status: 304, headers };
    return { status: 200, headers, body: await readFile(file) };
  }
}
