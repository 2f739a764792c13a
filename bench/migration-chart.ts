// The migration benchmark's chart: an SVG we draw ourselves (grouped bars: total time,
// downtime, bytes on the wire per method per link; and the agents' peak RSS per VM size),
// rendered to PNG by @resvg/resvg-js (prebuilt binary in its npm package, no native build).
import { writeFileSync } from 'node:fs';

interface ChartRow {
  link: string;
  method: string;
  ok: boolean;
  totalMs: number;
  downtimeMs: number;
  wireBytes: number;
  wireCounter: string;
}
interface ChartRss {
  memoryMiB: number;
  transport: string;
  source: { baseline: number; peak: number };
  target: { baseline: number; peak: number };
}
export interface ChartInput {
  vm: { memoryMiB: number; workload: string };
  runs: number;
  rows: ChartRow[];
  rss: ChartRss[];
}

const COLORS: Record<string, string> = {
  'qemu-tcp': '#7f8c8d',
  'qemu-tls': '#b9770e',
  'qemu-multifd': '#2c3e50',
  'ferry-direct': '#8e44ad',
  'ferry-passthrough': '#2980b9',
  'ferry-chunked': '#27ae60',
};
const FONT = 'DejaVu Sans, sans-serif';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
function text(x: number, y: number, s: string, o: { size?: number; anchor?: string; weight?: string; fill?: string } = {}): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-family="${FONT}" font-size="${o.size ?? 12}" text-anchor="${o.anchor ?? 'start'}" font-weight="${o.weight ?? 'normal'}" fill="${o.fill ?? '#222'}">${esc(s)}</text>`;
}

const TICKS = 5;
/** A round axis maximum: TICKS steps of (1, 2, 5) × 10^n, at or above v. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const raw = v / TICKS;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p * TICKS;
  return 10 * p * TICKS;
}

/** Median of the successful runs of each (group, series) pair; failed-only pairs are marked. */
function panel(x0: number, y0: number, w: number, h: number, title: string, unit: string, groups: string[], series: string[], value: (g: string, s: string) => { v: number; failed: boolean } | undefined, color: (s: string) => string): string {
  const out: string[] = [];
  const left = 56;
  const top = 28;
  const bottom = 34;
  const pw = w - left - 10;
  const ph = h - top - bottom;
  const vals = groups.flatMap((g) => series.map((s) => value(g, s)?.v ?? 0)).filter((v) => Number.isFinite(v));
  const max = niceMax(Math.max(0, ...vals));
  out.push(text(x0 + w / 2, y0 + 16, `${title} (${unit})`, { size: 14, anchor: 'middle', weight: 'bold' }));
  for (let i = 0; i <= TICKS; i++) {
    const y = y0 + top + ph - (ph * i) / TICKS;
    out.push(`<line x1="${x0 + left}" y1="${y}" x2="${x0 + left + pw}" y2="${y}" stroke="#ddd"/>`);
    const tick = (max * i) / TICKS;
    out.push(text(x0 + left - 6, y + 4, tick >= 100 ? tick.toFixed(0) : String(Number(tick.toFixed(2))), { size: 11, anchor: 'end' }));
  }
  out.push(`<line x1="${x0 + left}" y1="${y0 + top + ph}" x2="${x0 + left + pw}" y2="${y0 + top + ph}" stroke="#444"/>`);
  const gw = pw / Math.max(1, groups.length);
  const bw = Math.min(36, (gw * 0.8) / Math.max(1, series.length));
  groups.forEach((g, gi) => {
    const gx = x0 + left + gi * gw + (gw - bw * series.length) / 2;
    series.forEach((s, si) => {
      const r = value(g, s);
      if (!r) return;
      const bx = gx + si * bw;
      if (r.failed || !Number.isFinite(r.v)) {
        out.push(text(bx + bw / 2, y0 + top + ph - 4, 'FAIL', { size: 10, anchor: 'middle', fill: '#c0392b', weight: 'bold' }));
        return;
      }
      const bh = (ph * r.v) / max;
      out.push(`<rect x="${(bx + 1).toFixed(1)}" y="${(y0 + top + ph - bh).toFixed(1)}" width="${(bw - 2).toFixed(1)}" height="${bh.toFixed(1)}" fill="${color(s)}"/>`);
      const label = r.v >= 100 ? r.v.toFixed(0) : r.v.toFixed(r.v >= 10 ? 1 : 2);
      out.push(text(bx + bw / 2, y0 + top + ph - bh - 3, label, { size: 10, anchor: 'middle' }));
    });
    out.push(text(x0 + left + gi * gw + gw / 2, y0 + top + ph + 18, g, { size: 12, anchor: 'middle' }));
  });
  return out.join('\n');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function buildSvg(r: ChartInput): string {
  const W = 1200;
  const links = [...new Set(r.rows.map((x) => x.link))];
  const methods = Object.keys(COLORS).filter((m) => r.rows.some((x) => x.method === m));
  const pick = (f: (x: ChartRow) => number) => (g: string, s: string): { v: number; failed: boolean } | undefined => {
    const all = r.rows.filter((x) => x.link === g && x.method === s);
    if (all.length === 0) return undefined;
    const ok = all.filter((x) => x.ok);
    return ok.length === 0 ? { v: NaN, failed: true } : { v: median(ok.map(f)), failed: false };
  };
  const color = (s: string): string => COLORS[s] ?? '#999';
  const parts: string[] = [];
  parts.push(text(W / 2, 26, `Live migration: ${r.vm.memoryMiB} MiB demo guest, workload ${r.vm.workload}, TCG (median of ${r.runs} run${r.runs === 1 ? '' : 's'})`, { size: 17, anchor: 'middle', weight: 'bold' }));
  // legend
  methods.forEach((m, i) => {
    const x = 40 + i * 200;
    parts.push(`<rect x="${x}" y="40" width="14" height="14" fill="${color(m)}"/>`);
    parts.push(text(x + 20, 52, m, { size: 13 }));
  });
  const pw = W / 3;
  const y1 = 66;
  parts.push(panel(0, y1, pw, 300, 'Total time', 's', links, methods, pick((x) => x.totalMs / 1000), color));
  parts.push(panel(pw, y1, pw, 300, 'Downtime (QEMU)', 'ms', links, methods, pick((x) => x.downtimeMs), color));
  parts.push(panel(2 * pw, y1, pw, 300, 'Bytes on the wire', 'MB', links, methods, pick((x) => x.wireBytes / 1e6), color));
  let H = y1 + 300 + 28;
  parts.push(text(W / 2, H - 6, 'wire bytes: tbf = tx+rx of the source namespace veth; loopback = QEMU ram.transferred or Ferry record wireBytes', { size: 11, anchor: 'middle', fill: '#555' }));
  if (r.rss.length > 0) {
    const sizes = [...new Set(r.rss.map((x) => x.memoryMiB))].sort((a, b) => a - b).map((m) => `${m} MiB VM`);
    // Per transport: the source agent in the method's colour, the target agent half-transparent (a lighter shade on white).
    const transports = Object.keys(COLORS).filter((m) => m.startsWith('ferry-')).map((m) => m.slice('ferry-'.length)).filter((t) => r.rss.some((x) => x.transport === t));
    const series = transports.flatMap((t) => [`source ${t}`, `target ${t}`]);
    const rc = (s: string): string => {
      const [side, t] = s.split(' ');
      return color(`ferry-${t}`) + (side === 'target' ? '80' : '');
    };
    const val = (g: string, s: string): { v: number; failed: boolean } | undefined => {
      const [side, t] = s.split(' ') as ['source' | 'target', string];
      const row = r.rss.find((x) => `${x.memoryMiB} MiB VM` === g && x.transport === t);
      return row ? { v: row[side].peak - row[side].baseline, failed: false } : undefined;
    };
    series.forEach((s, i) => {
      const x = 40 + i * 200;
      parts.push(`<rect x="${x}" y="${H + 8}" width="14" height="14" fill="${rc(s)}"/>`);
      parts.push(text(x + 20, H + 20, s, { size: 13 }));
    });
    parts.push(panel(0, H + 26, W, 280, 'Agents\u2019 resident-memory growth during a Ferry migration (peak \u2212 baseline VmRSS, every 100 ms)', 'MiB', sizes, series, val, rc));
    H += 26 + 280 + 10;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}"><rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** Writes BASE.svg and BASE.png; returns the PNG's path. */
export async function renderChart(r: ChartInput, base: string): Promise<string> {
  const svg = buildSvg(r);
  writeFileSync(`${base}.svg`, svg);
  const { Resvg } = await import('@resvg/resvg-js');
  const png = new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
  writeFileSync(`${base}.png`, png);
  return `${base}.png`;
}
