// The simulation's chart: volume spread and hot hosts over time, one line per balancer, each
// point the mean over a minute of samples. Drawn with bench/chart.ts's helpers.
import { legend, renderPng, svgDocument, text } from '../chart.js';
import type { SimResult } from './run.js';

const COLORS: Record<string, string> = { ferry: '#2e86de', greedy: '#e67e22', none: '#95a5a6' };
const W = 1000;
const PANEL_H = 300;

function means(xs: readonly number[], per: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < xs.length; i += per) {
    const part = xs.slice(i, i + per);
    out.push(part.reduce((a, b) => a + b, 0) / part.length);
  }
  return out;
}

function linePanel(y0: number, title: string, series: { name: string; ys: number[] }[], xLabel: (i: number) => string, logMax?: number): string {
  const left = 60;
  const top = 30;
  const bottom = 34;
  const pw = W - left - 20;
  const ph = PANEL_H - top - bottom;
  const n = Math.max(...series.map((s) => s.ys.length));
  const max = logMax ?? Math.max(1e-9, ...series.flatMap((s) => s.ys));
  const out = [text(W / 2, y0 + 18, title, { size: 14, anchor: 'middle', weight: 'bold' })];
  for (let i = 0; i <= 5; i++) {
    const y = y0 + top + ph - (ph * i) / 5;
    out.push(`<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#ddd"/>`, text(left - 6, y + 4, String(Number(((max * i) / 5).toFixed(1))), { size: 11, anchor: 'end' }));
  }
  for (let i = 0; i < n; i += Math.ceil(n / 8)) out.push(text(left + (pw * i) / Math.max(1, n - 1), y0 + top + ph + 18, xLabel(i), { size: 11, anchor: 'middle' }));
  for (const s of series) {
    const pts = s.ys.map((v, i) => `${(left + (pw * i) / Math.max(1, n - 1)).toFixed(1)},${(y0 + top + ph - (ph * Math.min(v, max)) / max).toFixed(1)}`);
    out.push(`<polyline fill="none" stroke="${COLORS[s.name] ?? '#000'}" stroke-width="1.5" points="${pts.join(' ')}"/>`);
  }
  return out.join('\n');
}

/** Writes BASE.svg and BASE.png; returns the PNG's path. */
export async function renderSimChart(runs: readonly SimResult[], tickSec: number, base: string, subtitle: string): Promise<string> {
  const per = Math.max(1, Math.round(60 / tickSec));
  const hhmm = (i: number) => `${Math.floor(i / 60)}h${String(i % 60).padStart(2, '0')}`;
  const all = runs.flatMap((r) => means(r.spread, per));
  const spreadMax = Math.min(Math.max(...all), Math.max(...runs.filter((r) => r.balancer !== 'none').flatMap((r) => means(r.spread, per))) * 4);
  const parts = [
    text(W / 2, 22, `Balancing simulation: ${subtitle}`, { size: 16, anchor: 'middle', weight: 'bold' }),
    legend(W / 2 - 240, 34, runs.map((r) => r.balancer), (s) => COLORS[s] ?? '#000', 160),
    linePanel(56, `Imbalance: spread (std dev) of host volumes, per-minute mean (axis up to ${spreadMax.toFixed(1)})`, runs.map((r) => ({ name: r.balancer, ys: means(r.spread, per) })), hhmm, spreadMax),
    linePanel(56 + PANEL_H, 'Hosts over the threshold, per-minute mean', runs.map((r) => ({ name: r.balancer, ys: means(r.hot, per) })), hhmm),
  ];
  return renderPng(svgDocument(W, 56 + 2 * PANEL_H + 10, parts), base);
}
