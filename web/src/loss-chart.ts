/**
 * The run's training losses against env steps (metrics.jsonl's `losses/...`, thinned by src/web/run-losses.ts),
 * in uPlot, under the evaluation chart: all of them or the one chosen in the menu. Losses span orders of
 * magnitude and some go negative (the actor's, the temperature's), so the log scale is uPlot's arcsinh scale
 * (distr 4: logarithmic away from zero, linear near it, defined for negative values), or a plain log scale when
 * every value drawn is positive. A live run's new points go in with setData; the plot is rebuilt only when the
 * series or the scale change.
 */
import uPlot from 'uplot';
import type { RunLosses } from '../../src/web/run-losses.ts';
import type { ViewerState } from './viewer-state.ts';

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
export const ALL = '';

export class LossChart {
  private plot: uPlot | null = null;
  private layout = '';

  constructor(
    private readonly el: HTMLElement,
    private readonly width: number,
  ) {}

  /** Draws the series `shown` (ALL: every one) of `losses`, on a log-like scale when `log`; returns what is drawn. */
  update(losses: RunLosses, shown: string, log: boolean): NonNullable<ViewerState['losses']> {
    const keys = shown === ALL || !losses.keys.includes(shown) ? losses.keys : [shown];
    const x = [...new Set(keys.flatMap((k) => losses.series[k].step))].sort((a, b) => a - b);
    const at = new Map(x.map((s, i) => [s, i]));
    const series: Record<string, (number | null)[]> = {};
    for (const k of keys) {
      const column: (number | null)[] = x.map(() => null);
      losses.series[k].step.forEach((s, i) => (column[at.get(s)!] = losses.series[k].value[i]));
      series[k] = column;
    }
    const values = keys.flatMap((k) => losses.series[k].value);
    const scale = !log || values.length === 0 ? 'linear' : values.every((v) => v > 0) ? 'log' : 'asinh';
    const data = [x, ...Object.values(series)] as uPlot.AlignedData;
    const layout = JSON.stringify([keys, scale, scale === 'asinh' ? linearBelow(values) : 0]);
    if (this.plot && layout === this.layout) {
      this.plot.setData(data);
    } else {
      this.plot?.destroy();
      this.layout = layout;
      const y: uPlot.Scale = scale === 'log' ? { distr: 3 } : scale === 'asinh' ? { distr: 4, asinh: linearBelow(values) } : {};
      this.plot = new uPlot(
        {
          width: this.width,
          height: 240,
          scales: { x: { time: false }, y },
          axes: [{ label: losses.xAxis }, { label: `loss${scale === 'linear' ? '' : scale === 'log' ? ' (log)' : ' (arcsinh)'}`, size: 60 }],
          series: [
            {},
            ...keys.map((name) => ({
              label: name,
              stroke: COLORS[losses.keys.indexOf(name) % COLORS.length],
              width: 1.5,
              points: { show: x.length <= 60, size: 4 },
              spanGaps: true,
            })),
          ],
        },
        data,
        this.el,
      );
    }
    return { x, series, scale, keys: losses.keys, skipped: losses.skipped };
  }

  clear(): void {
    this.plot?.destroy();
    this.plot = null;
    this.layout = '';
  }
}

/**
 * The arcsinh scale's linear band: the 10th percentile of the drawn magnitudes (rounded to a power of ten so a
 * live run's new points rarely change it), so that all but the smallest values fall on the logarithmic part.
 */
function linearBelow(values: number[]): number {
  const mags = values.map(Math.abs).filter((v) => v > 0);
  if (mags.length === 0) return 1;
  mags.sort((a, b) => a - b);
  return 10 ** Math.floor(Math.log10(mags[Math.floor(mags.length * 0.1)]));
}
