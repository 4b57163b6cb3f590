/**
 * Learning-curve plot as a standalone SVG string, hand-written so it needs no plotting dependency
 * and runs unchanged in Node (saved next to the metrics) and in a browser (inlined in a page).
 *
 * Lines break at NaN/infinite values instead of dropping to zero; a series with a single finite
 * point shows as a dot; empty input still gives a valid chart that says "no data".
 */

export type CurvePoint = readonly [step: number, value: number];
/** A shaded band, typically mean ± std across seeds: `[step, lower, upper]`. */
export type BandPoint = readonly [step: number, lower: number, upper: number];

export interface CurveSeries {
  name: string;
  points: readonly CurvePoint[];
  band?: readonly BandPoint[];
  /** CSS color; default: next in a colorblind-friendly palette. */
  color?: string;
}

/** A horizontal reference line, e.g. the base diffusion policy's return. */
export interface CurveHLine {
  name: string;
  value: number;
  color?: string;
}

export interface CurveOptions {
  series: readonly CurveSeries[];
  hlines?: readonly CurveHLine[];
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
}

// Okabe-Ito palette: distinguishable with the common kinds of color blindness.
const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];
const HLINE_COLOR = '#555555';
const FONT = 'font-family="sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** 1, 2 or 5 times a power of ten, near `x` (Heckbert's "nice numbers"). */
function niceNumber(x: number, round: boolean): number {
  const exponent = Math.floor(Math.log10(x));
  const fraction = x / 10 ** exponent;
  let nice: number;
  if (round) nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  else nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * 10 ** exponent;
}

/** Decimal places that show multiples of `step` exactly. */
function decimalsFor(step: number): number {
  return Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
}

/**
 * Round tick values covering [min, max]: the first tick <= min, the last >= max, spaced 1/2/5·10^k,
 * about `maxTicks` of them.
 */
export function niceTicks(min: number, max: number, maxTicks = 6): { ticks: number[]; step: number } {
  if (!(max > min) || !Number.isFinite(max - min)) throw new Error(`niceTicks: need finite min < max, got ${min}, ${max}`);
  const step = niceNumber((max - min) / Math.max(1, maxTicks - 1), true);
  const first = Math.floor(min / step);
  const last = Math.ceil(max / step);
  const decimals = decimalsFor(step);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) ticks.push(Number((k * step).toFixed(decimals)));
  return { ticks, step };
}

/** Tick label: SI suffix for big values (`250k`, `1.5M`), else just the decimals `step` needs. */
export function formatTick(value: number, step: number): string {
  for (const [unit, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (Math.abs(value) >= unit) {
      const text = (value / unit).toFixed(decimalsFor(step / unit));
      return (text.includes('.') ? text.replace(/\.?0+$/, '') : text) + suffix;
    }
  }
  const text = value.toFixed(decimalsFor(step));
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/**
 * Mean and population std (as numpy.std) across seeds, at the steps every seed logged with a
 * finite value, for `CurveSeries.points` and `.band`.
 */
export function meanStdAcrossSeeds(runs: readonly (readonly CurvePoint[])[]): {
  points: CurvePoint[];
  band: BandPoint[];
} {
  if (runs.length === 0) return { points: [], band: [] };
  const byStep = new Map<number, number[]>();
  for (const run of runs) {
    const seen = new Set<number>();
    for (const [step, value] of run) {
      if (!Number.isFinite(value) || seen.has(step)) continue;
      seen.add(step); // a run that logged a step twice counts once (its first value)
      const values = byStep.get(step) ?? [];
      values.push(value);
      byStep.set(step, values);
    }
  }
  const steps = [...byStep.keys()].filter((s) => byStep.get(s)!.length === runs.length).sort((a, b) => a - b);
  const points: CurvePoint[] = [];
  const band: BandPoint[] = [];
  for (const step of steps) {
    const values = byStep.get(step)!;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
    points.push([step, mean]);
    band.push([step, mean - std, mean + std]);
  }
  return { points, band };
}

function finiteExtent(values: Iterable<number>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** Widen a zero-width range so a flat line or single point sits mid-axis. */
function padDegenerate([lo, hi]: [number, number]): [number, number] {
  if (hi > lo) return [lo, hi];
  const pad = Math.abs(lo) * 0.1 || 1;
  return [lo - pad, hi + pad];
}

/** Split into runs of consecutive points whose coordinates are all finite. */
function finiteRuns<T extends readonly number[]>(points: readonly T[]): T[][] {
  const runs: T[][] = [];
  let current: T[] = [];
  for (const p of points) {
    if (p.every(Number.isFinite)) current.push(p);
    else if (current.length > 0) {
      runs.push(current);
      current = [];
    }
  }
  if (current.length > 0) runs.push(current);
  return runs;
}

const byStep = <T extends readonly number[]>(points: readonly T[]): T[] => points.filter((p) => Number.isFinite(p[0])).sort((a, b) => a[0] - b[0]);

const num = (v: number): string => (Math.round(v * 100) / 100).toString();

export function curveSvg(options: CurveOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 420;
  const series = options.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length],
    points: byStep(s.points),
    band: byStep(s.band ?? []),
  }));
  const hlines = (options.hlines ?? []).map((h) => ({ ...h, color: h.color ?? HLINE_COLOR }));

  const xs = series.flatMap((s) => [...s.points.map((p) => p[0]), ...s.band.map((b) => b[0])]);
  const ys = [...series.flatMap((s) => [...s.points.map((p) => p[1]), ...s.band.flatMap((b) => [b[1], b[2]])]), ...hlines.map((h) => h.value)];
  const xExtent = finiteExtent(xs);
  const yExtent = finiteExtent(ys);
  const hasData = series.some((s) => s.points.some((p) => Number.isFinite(p[1])));

  const legendNames = [...series.map((s) => s.name), ...hlines.map((h) => h.name)];
  const longestName = Math.max(0, ...legendNames.map((n) => n.length));
  // About 7 px per character at font-size 12; a legend longer than a third of the width widens the
  // canvas instead of shrinking the plot or clipping its names.
  const legendW = legendNames.length > 0 ? 48 + 7 * longestName : 20;
  const margin = {
    left: 70,
    right: legendW,
    top: options.title ? 40 : 16,
    bottom: options.xLabel ? 52 : 34,
  };
  const plotW = Math.max(10, width - margin.left - Math.min(width / 3, legendW));
  const canvasW = margin.left + plotW + legendW;
  const plotH = Math.max(10, height - margin.top - margin.bottom);

  const xTicks = niceTicks(...padDegenerate(xExtent ?? [0, 1]));
  const yTicks = niceTicks(...padDegenerate(yExtent ?? [0, 1]), 6);
  const [x0, x1] = [xTicks.ticks[0], xTicks.ticks[xTicks.ticks.length - 1]];
  const [y0, y1] = [yTicks.ticks[0], yTicks.ticks[yTicks.ticks.length - 1]];
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0)) * plotW;
  const sy = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0)) * plotH;

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(canvasW)}" height="${height}" viewBox="0 0 ${num(canvasW)} ${height}" ${FONT} font-size="12">`,
  );
  out.push(`<rect x="0" y="0" width="${num(canvasW)}" height="${height}" fill="white"/>`);
  if (options.title) {
    out.push(
      `<text x="${num(margin.left + plotW / 2)}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    );
  }

  // Grid and tick labels.
  const bottom = margin.top + plotH;
  out.push('<g stroke="#e5e5e5" stroke-width="1">');
  for (const t of xTicks.ticks) out.push(`<line x1="${num(sx(t))}" y1="${margin.top}" x2="${num(sx(t))}" y2="${num(bottom)}"/>`);
  for (const t of yTicks.ticks) out.push(`<line x1="${margin.left}" y1="${num(sy(t))}" x2="${num(margin.left + plotW)}" y2="${num(sy(t))}"/>`);
  out.push('</g>');
  out.push(`<g fill="#333" font-size="11">`);
  for (const t of xTicks.ticks) {
    out.push(`<text x="${num(sx(t))}" y="${num(bottom + 16)}" text-anchor="middle">${escapeXml(formatTick(t, xTicks.step))}</text>`);
  }
  for (const t of yTicks.ticks) {
    out.push(`<text x="${margin.left - 6}" y="${num(sy(t) + 4)}" text-anchor="end">${escapeXml(formatTick(t, yTicks.step))}</text>`);
  }
  out.push('</g>');
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${num(plotW)}" height="${num(plotH)}" fill="none" stroke="#333"/>`);
  if (options.xLabel) {
    out.push(`<text x="${num(margin.left + plotW / 2)}" y="${num(bottom + 38)}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  }
  if (options.yLabel) {
    const cy = num(margin.top + plotH / 2);
    out.push(`<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${escapeXml(options.yLabel)}</text>`);
  }

  // Bands under lines, reference lines under series.
  for (const s of series) {
    for (const run of finiteRuns(s.band)) {
      const upper = run.map((b) => `${num(sx(b[0]))},${num(sy(b[2]))}`);
      const lower = run.map((b) => `${num(sx(b[0]))},${num(sy(b[1]))}`).reverse();
      out.push(`<polygon class="band" points="${[...upper, ...lower].join(' ')}" fill="${escapeXml(s.color)}" fill-opacity="0.2" stroke="none"/>`);
    }
  }
  for (const h of hlines) {
    if (!Number.isFinite(h.value)) continue;
    out.push(
      `<line class="hline" x1="${margin.left}" y1="${num(sy(h.value))}" x2="${num(margin.left + plotW)}" y2="${num(sy(h.value))}" stroke="${escapeXml(h.color)}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
  }
  for (const s of series) {
    const color = escapeXml(s.color);
    out.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    for (const run of finiteRuns(s.points)) {
      if (run.length === 1) {
        out.push(`<circle cx="${num(sx(run[0][0]))}" cy="${num(sy(run[0][1]))}" r="3" fill="${color}"/>`);
      } else {
        const d = run.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(sx(p[0]))},${num(sy(p[1]))}`).join(' ');
        out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`);
      }
    }
    out.push('</g>');
  }
  if (!hasData) {
    out.push(
      `<text x="${num(margin.left + plotW / 2)}" y="${num(margin.top + plotH / 2)}" text-anchor="middle" fill="#999" font-size="14">no data</text>`,
    );
  }

  // Legend to the right of the plot.
  const legendX = margin.left + plotW + 14;
  let legendY = margin.top + 8;
  out.push('<g class="legend">');
  for (const s of series) {
    out.push(
      `<line x1="${num(legendX)}" y1="${legendY}" x2="${num(legendX + 22)}" y2="${legendY}" stroke="${escapeXml(s.color)}" stroke-width="2"/>`,
    );
    out.push(`<text x="${num(legendX + 28)}" y="${legendY + 4}">${escapeXml(s.name)}</text>`);
    legendY += 18;
  }
  for (const h of hlines) {
    out.push(
      `<line x1="${num(legendX)}" y1="${legendY}" x2="${num(legendX + 22)}" y2="${legendY}" stroke="${escapeXml(h.color)}" stroke-width="1.5" stroke-dasharray="6 4"/>`,
    );
    out.push(`<text x="${num(legendX + 28)}" y="${legendY + 4}">${escapeXml(h.name)}</text>`);
    legendY += 18;
  }
  out.push('</g>');
  out.push('</svg>');
  return out.join('\n') + '\n';
}
