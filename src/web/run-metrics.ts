/**
 * What the viewer's chart draws of a run: its evaluations and reference lines, numbers only, read from the
 * run's summary.json (history.ts writes it at every evaluation). Node-free: `dsrl view`'s server answers
 * /api/runs/<i>/metrics with it, and the static page computes it from a summary.json the user picks.
 */

export interface MetricsPoint {
  step: number;
  mean: number;
  std: number | null;
  successRate?: number;
}

export interface RunMetrics {
  xAxis: string;
  evals: MetricsPoint[];
  references: (Omit<MetricsPoint, 'step'> & { step: number | null; name: string })[];
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The chart's data from a parsed summary.json (null: none yet); anything that is not a finite number is dropped. */
export function metricsOf(summary: Record<string, unknown> | null): RunMetrics {
  const point = (e: unknown) => {
    const o = (e ?? {}) as Record<string, unknown>;
    return { step: num(o.step), mean: num(o.mean), std: num(o.std), ...(num(o.successRate) !== null ? { successRate: num(o.successRate)! } : {}) };
  };
  const evals = Array.isArray(summary?.evals) ? summary.evals.slice(0, 100_000).map(point) : [];
  const refs = summary?.references && typeof summary.references === 'object' ? (summary.references as Record<string, unknown>) : {};
  return {
    xAxis: typeof summary?.xAxis === 'string' ? summary.xAxis : 'env steps',
    evals: evals.filter((e): e is MetricsPoint => e.step !== null && e.mean !== null),
    references: Object.entries(refs)
      .slice(0, 16)
      .map(([name, r]) => ({ name, ...point(r) }))
      .filter((r): r is RunMetrics['references'][number] => r.mean !== null),
  };
}
