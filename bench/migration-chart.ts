// The migration benchmark's chart: an SVG we draw ourselves (grouped bars: total time,
// downtime, bytes on the wire per method per link; and the agents' peak RSS per VM size),
// rendered to PNG with the shared helpers of chart.ts.
import { legend, panel, renderPng, svgDocument, text } from './chart.js';
import { median } from './lib.js';

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
  parts.push(legend(40, 40, methods, color));
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
    parts.push(legend(40, H + 8, series, rc));
    parts.push(panel(0, H + 26, W, 280, 'Agents\u2019 resident-memory growth during a Ferry migration (peak \u2212 baseline VmRSS, every 100 ms)', 'MiB', sizes, series, val, rc));
    H += 26 + 280 + 10;
  }
  return svgDocument(W, H, parts);
}

/** Writes BASE.svg and BASE.png; returns the PNG's path. */
export function renderChart(r: ChartInput, base: string): Promise<string> {
  return renderPng(buildSvg(r), base);
}
