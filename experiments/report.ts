/**
 * Results of a comparison from its run folders: a markdown table (the eval metric at each step budget, mean ±
 * std across seeds) and one learning-curve SVG per env with every algorithm and the base policy's line. The
 * metric is the success rate (in %) for envs whose evaluations report one (manipulation), else the return.
 *
 * Every trainer writes the same metrics (metrics.jsonl: `charts/eval_return_mean` and, where the env says
 * `info.success`, `charts/success_rate` at env steps; one evaluation protocol: run/evaluate.ts), so `dsrl steer`
 * runs (DSRL-NA, DSRL-SAC, residual SAC, base) and `dsrl sac` runs (SAC from scratch) are read the same way.
 * Layout: `<root>/<env>/<algo>-s<seed>/`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { curveSvg, meanStdAcrossSeeds, type BandPoint, type CurvePoint } from '../src/run/curve.ts';
import { readMetrics } from '../src/run/metrics.ts';

export const ALGO_KEYS = ['base', 'base-zero', 'na', 'na-demos', 'sac', 'residual', 'scratch'] as const;
export type AlgoKey = (typeof ALGO_KEYS)[number];

export const ALGO_LABELS: Record<AlgoKey, string> = {
  base: 'base policy, w ~ N(0, I)',
  'base-zero': 'base policy, w = 0',
  na: 'DSRL-NA',
  'na-demos': 'DSRL-NA, demonstrations in the buffer',
  sac: 'DSRL-SAC',
  residual: 'residual SAC',
  scratch: 'SAC from scratch',
};

export interface RunRecord {
  env: string;
  algo: AlgoKey;
  seed: number;
  dir: string;
  /** Evaluations as (nominal env step, value of `metric`); see nominalStep. */
  evals: CurvePoint[];
  metric: EvalMetric;
  /** Training wall-clock in minutes up to each evaluation, aligned with `evals` (see trainingMinutes). */
  minutes: number[];
}

/** What a run's evaluations are measured by: the success rate in % where the env reports success, else the mean return. */
export type EvalMetric = 'success' | 'return';

/** The base policy alone (N(0, I) or zero noise): one evaluation, the same at every budget. */
export function evalOnly(algo: AlgoKey): boolean {
  return algo === 'base' || algo === 'base-zero';
}

const RUN_NAME = new RegExp(`^(${ALGO_KEYS.join('|')})-s(\\d+)$`);

/** The folder of one run. */
export function runFolder(root: string, env: string, algo: AlgoKey, seed: number): string {
  return join(root, env, `${algo}-s${seed}`);
}

/**
 * The evaluation schedule's step for an evaluation logged at `step`: the loop evaluates at the first vector step
 * at or past each multiple of evalEvery, which overshoots by less than one chunk per sub-env, so seeds and
 * algorithms line up after rounding down. Without periodic evaluations the only one is at the end (`steps`).
 */
export function nominalStep(step: number, evalEvery: number, steps: number | null): number {
  if (evalEvery > 0) return evalEvery * Math.floor(step / evalEvery);
  return steps ?? step;
}

/**
 * A gap between two consecutive metrics rows longer than this is a stop and a later `--resume`, not training:
 * rows come every logEvery (1000) env steps, which the slowest preset here (DSRL-NA, width 2048) covers in
 * about 5 min on 2 cores.
 */
export const RESUME_GAP_S = 15 * 60;

/**
 * Wall-clock of training up to each row, in minutes: the sum of the gaps between consecutive rows, leaving out
 * gaps longer than RESUME_GAP_S (a resumed run truncates its metrics to the checkpoint, so the one gap across a
 * stop holds the downtime; dropping it under-counts the run by at most one logging interval).
 */
export function trainingMinutes(wallTimes: readonly number[]): number[] {
  let seconds = 0;
  return wallTimes.map((t, i) => {
    const gap = i === 0 ? 0 : t - wallTimes[i - 1];
    if (gap > 0 && gap <= RESUME_GAP_S) seconds += gap;
    return seconds / 60;
  });
}

/** A run folder's evaluations, or null when it has no config.json (not started). */
export function readRun(dir: string): CurvePoint[] | null {
  return readRunTimed(dir)?.evals ?? null;
}

/** A run folder's evaluations (success rate in % where reported, else mean return) and the training minutes at each, or null when it has no config.json. */
export function readRunTimed(dir: string): { evals: CurvePoint[]; minutes: number[]; metric: EvalMetric } | null {
  if (!existsSync(join(dir, 'config.json'))) return null;
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { evalEvery?: number; steps?: number };
  const evalEvery = config.evalEvery ?? 0;
  const rows = readMetrics(dir);
  const elapsed = trainingMinutes(rows.map((r) => r.wall_time));
  const metric: EvalMetric = rows.some((r) => typeof r.values['charts/success_rate'] === 'number') ? 'success' : 'return';
  const evals: CurvePoint[] = [];
  const minutes: number[] = [];
  rows.forEach((row, i) => {
    const mean = row.values['charts/eval_return_mean'];
    if (typeof mean !== 'number') return;
    const success = row.values['charts/success_rate'];
    evals.push([nominalStep(row.step, evalEvery, config.steps ?? null), metric === 'success' ? 100 * (success as number) : mean]);
    minutes.push(elapsed[i]);
  });
  return { evals, minutes, metric };
}

/** Every run under `root` (`<env>/<algo>-s<seed>`), in name order. */
export function collectRuns(root: string): RunRecord[] {
  const records: RunRecord[] = [];
  if (!existsSync(root)) return records;
  for (const env of readdirSync(root).sort()) {
    const envDir = join(root, env);
    for (const name of readdirSync(envDir).sort()) {
      const match = RUN_NAME.exec(name);
      if (!match) continue;
      const run = readRunTimed(join(envDir, name));
      if (run) records.push({ env, algo: match[1] as AlgoKey, seed: Number(match[2]), dir: join(envDir, name), ...run });
    }
  }
  return records;
}

export interface Stat {
  mean: number;
  std: number;
  /** The seeds that reached the point, in record order. */
  seeds: number[];
}

/** Mean and population std of one number per seed, or null without any. */
function seedStat(points: ReadonlyArray<{ seed: number; value: number }>): Stat | null {
  if (points.length === 0) return null;
  const values = points.map((p) => p.value);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, std: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length), seeds: points.map((p) => p.seed) };
}

/** Mean and population std of each run's return at `step` (the base policy alone: its single evaluation, any step). */
export function statAt(records: readonly RunRecord[], env: string, algo: AlgoKey, step: number): Stat | null {
  const values: Array<{ seed: number; value: number }> = [];
  for (const r of records) {
    if (r.env !== env || r.algo !== algo) continue;
    const point = evalOnly(algo) ? r.evals[0] : r.evals.find(([s]) => s === step);
    if (point) values.push({ seed: r.seed, value: point[1] });
  }
  return seedStat(values);
}

/** Mean training minutes (across the seeds that got there) to the evaluation at `step`, or null. */
export function minutesAt(records: readonly RunRecord[], env: string, algo: AlgoKey, step: number): number | null {
  const values: Array<{ seed: number; value: number }> = [];
  for (const r of records) {
    if (r.env !== env || r.algo !== algo) continue;
    const i = r.evals.findIndex(([s]) => s === step);
    if (i >= 0) values.push({ seed: r.seed, value: r.minutes[i] });
  }
  return seedStat(values)?.mean ?? null;
}

/** Best evaluation up to `step` per seed, averaged across seeds: what a user keeping the best checkpoint gets. */
export function bestUpTo(records: readonly RunRecord[], env: string, algo: AlgoKey, step: number): Stat | null {
  const values: Array<{ seed: number; value: number }> = [];
  for (const r of records) {
    if (r.env !== env || r.algo !== algo || !r.evals.some(([s]) => s >= step)) continue;
    values.push({ seed: r.seed, value: Math.max(...r.evals.filter(([s]) => s <= step).map(([, v]) => v)) });
  }
  return seedStat(values);
}

function formatSteps(step: number): string {
  return step >= 1000 && step % 1000 === 0 ? `${step / 1000}k` : String(step);
}

/** "mean ± std", or for a single seed its value and which seed it is (a std of one run says nothing). */
function formatStat(stat: Stat | null, seeds: number): string {
  if (!stat) return '–';
  if (stat.seeds.length === 1) return `${stat.mean.toFixed(1)}${seeds > 1 ? ` (seed ${stat.seeds[0]} only)` : ''}`;
  const partial = stat.seeds.length < seeds ? ` (${stat.seeds.length}/${seeds} seeds)` : '';
  return `${stat.mean.toFixed(1)} ± ${stat.std.toFixed(1)}${partial}`;
}

export interface TableOptions {
  envs: readonly string[];
  algos: readonly AlgoKey[];
  /** Env-step budgets, one column each. */
  budgets: readonly number[];
  /** Seeds asked for (to flag cells with fewer). */
  seeds: readonly number[];
}

/** Markdown: one table per env, a row per algorithm, a column per budget. */
export function resultsMarkdown(records: readonly RunRecord[], options: TableOptions): string {
  const { envs, algos, budgets, seeds } = options;
  const oneSeed = seeds.length === 1;
  const lines = [
    '# DSRL comparison',
    '',
    `The eval metric, success rate in % where the task reports success and else the return (${oneSeed ? `seed ${seeds[0]}` : `mean ± std across seeds ${seeds.join(', ')}`}), after each budget of env steps. Every run uses the same evaluation protocol ` +
      '(deterministic actor, the same seeded episode starts); the base policy rows are the base policy alone (w ~ N(0, I), or w = 0: its most likely chunk), the same at every budget. ' +
      `"best ≤ ${formatSteps(Math.max(...budgets))}" is ${oneSeed ? 'the best evaluation' : "each seed's best evaluation"} up to the largest budget (the best/ checkpoint)${oneSeed ? '' : ', averaged'}; ` +
      '"min" is the training wall-clock to the largest budget on this machine (2 cores, two runs side by side, evaluations included).',
    '',
  ];
  const last = Math.max(...budgets);
  for (const env of envs) {
    lines.push(
      `## ${env}: ${metricLabel(envMetric(records, env))}`,
      '',
      `| algorithm | ${budgets.map(formatSteps).join(' | ')} | best ≤ ${formatSteps(last)} | min |`,
      `|---|${budgets.map(() => '---:').join('|')}|---:|---:|`,
    );
    for (const algo of algos) {
      const cells = budgets.map((b) => formatStat(statAt(records, env, algo, b), seeds.length));
      const best = evalOnly(algo) ? '' : formatStat(bestUpTo(records, env, algo, last), seeds.length);
      const minutes = evalOnly(algo) ? null : minutesAt(records, env, algo, last);
      lines.push(`| ${ALGO_LABELS[algo]} | ${cells.join(' | ')} | ${best} | ${minutes === null ? '' : minutes.toFixed(0)} |`);
    }
    lines.push('', `![${env} learning curves](${curveFileName(env)})`, '');
  }
  return `${lines.join('\n')}\n`;
}

/** An env's metric: success where any of its runs reports it. */
export function envMetric(records: readonly RunRecord[], env: string): EvalMetric {
  return records.some((r) => r.env === env && r.metric === 'success') ? 'success' : 'return';
}

function metricLabel(metric: EvalMetric): string {
  return metric === 'success' ? 'success rate (%)' : 'eval return';
}

export function curveFileName(env: string): string {
  return `curves-${env.replace(/[^A-Za-z0-9._-]+/g, '_')}.svg`;
}

/** One chart for an env: mean ± std across seeds per algorithm, the base policy alone as horizontal lines. */
export function envCurvesSvg(records: readonly RunRecord[], env: string, algos: readonly AlgoKey[]): string {
  const metric = envMetric(records, env);
  // mean ± std of a success rate can leave [0, 100]; a rate cannot, so its band stops at the bounds.
  const clip = (b: BandPoint): BandPoint => (metric === 'success' ? [b[0], Math.max(0, b[1]), Math.min(100, b[2])] : b);
  const series = algos
    .filter((a) => !evalOnly(a))
    .flatMap((algo) => {
      const runs = records.filter((r) => r.env === env && r.algo === algo).map((r) => r.evals);
      if (runs.length === 0) return [];
      const { points, band } = meanStdAcrossSeeds(runs);
      return [{ name: `${ALGO_LABELS[algo]} (${runs.length} seed${runs.length > 1 ? 's' : ''})`, points, band: band.map(clip) }];
    });
  const hlines = algos.filter(evalOnly).flatMap((algo) => {
    const stat = statAt(records, env, algo, 0);
    return stat ? [{ name: ALGO_LABELS[algo], value: stat.mean }] : [];
  });
  const label = metricLabel(metric);
  return curveSvg({
    title: `${env}: ${label}`,
    xLabel: 'env steps',
    yLabel: label,
    series,
    hlines,
  });
}
