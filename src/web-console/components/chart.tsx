// A live line chart on uPlot: built once per mount, then fed new data with setData (no
// re-creation per event). Series values are numbers per x (seconds); NaN leaves a gap.
import uPlot from 'uplot';
import { useEffect, useRef } from 'preact/hooks';

export interface ChartSeries {
  label: string;
  values: number[];
  color: string;
  /** How a value reads in the legend, e.g. `rate` from src/contracts/format.ts; undefined shows '–'. */
  format?: (v: number) => string | undefined;
}

export interface ChartProps {
  title: string;
  t: number[];
  series: ChartSeries[];
  height?: number;
  /** Fixed y range, e.g. [0, 100] for percentages. */
  yRange?: [number, number];
}

/** uPlot leaves a gap for null, but a NaN poisons its auto range (the whole chart goes blank). */
const data = (t: number[], series: ChartSeries[]): uPlot.AlignedData => [t, ...series.map((s) => s.values.map((v) => (Number.isFinite(v) ? v : null)))];

export function Chart({ title, t, series, height = 140, yRange }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const shape = series.map((s) => s.label).join('|');

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      title,
      width: Math.max(200, el.clientWidth),
      height,
      scales: { x: { time: true }, y: yRange ? { range: yRange } : { auto: true } },
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, value: (_u: uPlot, v: number | null) => (v === null || Number.isNaN(v) ? '–' : ((s.format ? s.format(v) : v.toFixed(2)) ?? '–')) }))],
      axes: [{}, { size: 50 }],
    };
    const u = new uPlot(opts, data(t, series), el);
    plot.current = u;
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
    // Re-create only when the set of series changes; data flows through setData below.
  }, [shape, height, title]);

  useEffect(() => {
    plot.current?.setData(data(t, series));
  }, [t, series]);

  return <div class="chart" ref={box} role="img" aria-label={`${title} chart`} />;
}
