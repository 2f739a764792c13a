// Drawing helpers shared by the benchmarks' charts: SVG text, grouped-bar panels with a round
// axis, a legend, and rendering to PNG with @resvg/resvg-js (a prebuilt renderer inside its npm
// package, no native build; text uses the system's DejaVu fonts). The SVG is kept next to the PNG.
import { writeFileSync } from 'node:fs';

const FONT = 'DejaVu Sans, sans-serif';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
export function text(x: number, y: number, s: string, o: { size?: number; anchor?: string; weight?: string; fill?: string } = {}): string {
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

/**
 * One bar panel at (x0, y0): a bar per series within each group, its value written above it;
 * `value` undefined draws nothing, `failed` (or a non-finite value) writes FAIL instead.
 */
export function panel(x0: number, y0: number, w: number, h: number, title: string, unit: string, groups: string[], series: string[], value: (g: string, s: string) => { v: number; failed: boolean } | undefined, color: (s: string) => string): string {
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

/** A row of coloured squares with labels, from (x, y), `step` apart. */
export function legend(x: number, y: number, items: string[], color: (s: string) => string, step = 200): string {
  return items.map((s, i) => `<rect x="${x + i * step}" y="${y}" width="14" height="14" fill="${color(s)}"/>\n${text(x + i * step + 20, y + 12, s, { size: 13 })}`).join('\n');
}

export function svgDocument(w: number, h: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}"><rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** Writes BASE.svg and BASE.png; returns the PNG's path. */
export async function renderPng(svg: string, base: string): Promise<string> {
  writeFileSync(`${base}.svg`, svg);
  const { Resvg } = await import('@resvg/resvg-js');
  writeFileSync(`${base}.png`, new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng());
  return `${base}.png`;
}
