/**
 * The run's evaluations against env steps, with its reference lines (the base policy's return), in uPlot;
 * success rate instead of return for tasks that report success. A live run's new points go in with
 * setData, so the chart grows in place.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { RunMetrics } from '../../src/web/run-metrics.ts';
import type { ViewerState } from './viewer-state.ts';

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd'];

export class EvalChart {
  private plot: uPlot | null = null;
  private layout = '';

  constructor(
    private readonly el: HTMLElement,
    private readonly width: number,
  ) {}

  /** Draws `metrics`; returns what is drawn. */
  update(metrics: RunMetrics): NonNullable<ViewerState['chart']> {
    const bySuccess = [...metrics.evals, ...metrics.references].some((e) => e.successRate !== undefined);
    const y = (e: { mean: number | null; successRate?: number }) => (bySuccess ? (e.successRate ?? 0) : e.mean);
    // Reference lines span the evaluated range (from 0, where they were measured).
    const x = [...new Set([0, ...metrics.evals.map((e) => e.step)])].sort((a, b) => a - b);
    const series: Record<string, (number | null)[]> = {
      steered: x.map((s) => {
        const e = metrics.evals.find((p) => p.step === s);
        return e ? y(e) : null;
      }),
    };
    for (const ref of metrics.references) series[ref.name] = x.map(() => y(ref));
    const yLabel = bySuccess ? 'success rate' : 'eval return';
    const data = [x, ...Object.values(series)] as uPlot.AlignedData;
    const layout = JSON.stringify([metrics.xAxis, yLabel, Object.keys(series)]);
    if (this.plot && layout === this.layout) {
      this.plot.setData(data);
    } else {
      this.plot?.destroy();
      this.layout = layout;
      this.plot = new uPlot(
        {
          width: this.width,
          height: 260,
          scales: { x: { time: false } },
          axes: [{ label: metrics.xAxis }, { label: yLabel }],
          series: [
            {},
            ...Object.keys(series).map((name, i) => ({
              label: name,
              stroke: COLORS[i % COLORS.length],
              width: 2,
              dash: i === 0 ? undefined : [6, 4],
              points: { show: i === 0, size: 7 },
              spanGaps: true,
            })),
          ],
        },
        data,
        this.el,
      );
    }
    return { x, series, yLabel };
  }

  clear(): void {
    this.plot?.destroy();
    this.plot = null;
    this.layout = '';
  }
}
