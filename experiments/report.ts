/**
 * Results of a comparison from its run folders: a markdown table (eval return at each step budget, mean ±
 * std across seeds) and one learning-curve SVG per env with every algorithm and the base policy's line.
 *
 * Every trainer writes the same metrics (metrics.jsonl: `charts/eval_return_mean` at env steps, one
 * evaluation protocol: run/offpolicy.ts evaluate()), so `dsrl steer` runs (DSRL-NA, DSRL-SAC, residual SAC,
 * base) and `dsrl sac` runs (SAC from scratch) are read the same way. Layout: `<root>/<env>/<algo>-s<seed>/`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { curveSvg, meanStdAcrossSeeds, type CurvePoint } from '../src/run/curve.ts';
import { readMetrics } from '../src/run/metrics.ts';

export const ALGO_KEYS = ['base', 'na', 'sac', 'residual', 'scratch'] as const;
export type AlgoKey = (typeof ALGO_KEYS)[number];

export const ALGO_LABELS: Record<AlgoKey, string> = {
  base: 'base policy, w ~ N(0, I)',
  na: 'DSRL-NA',
  sac: 'DSRL-SAC',
  residual: 'residual SAC',
  scratch: 'SAC from scratch',
};

export interface RunRecord {
  env: string;
  algo: AlgoKey;
  seed: number;
  dir: string;
  /** Evaluations as (nominal env step, mean return); see nominalStep. */
  evals: CurvePoint[];
}

const RUN_NAME = /^(base|na|sac|residual|scratch)-s(\d+)$/;

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

/** A run folder's evaluations, or null when it has no config.json (not started). */
export function readRun(dir: string): CurvePoint[] | null {
  if (!existsSync(join(dir, 'config.json'))) return null;
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { evalEvery?: number; steps?: number };
  const evalEvery = config.evalEvery ?? 0;
  const evals: CurvePoint[] = [];
  for (const row of readMetrics(dir)) {
    const mean = row.values['charts/eval_return_mean'];
    if (typeof mean === 'number') evals.push([nominalStep(row.step, evalEvery, config.steps ?? null), mean]);
  }
  return evals;
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
      const evals = readRun(join(envDir, name));
      if (evals) records.push({ env, algo: match[1] as AlgoKey, seed: Number(match[2]), dir: join(envDir, name), evals });
    }
  }
  return records;
}

export interface Stat {
  mean: number;
  std: number;
  /** Seeds that reached the point. */
  n: number;
}

/** Mean and population std of each run's return at `step` (the base policy: its single evaluation, any step). */
export function statAt(records: readonly RunRecord[], env: string, algo: AlgoKey, step: number): Stat | null {
  const values: number[] = [];
  for (const r of records) {
    if (r.env !== env || r.algo !== algo) continue;
    const point = algo === 'base' ? r.evals[0] : r.evals.find(([s]) => s === step);
    if (point) values.push(point[1]);
  }
  if (values.length === 0) return null;
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, std: Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length), n: values.length };
}

function formatSteps(step: number): string {
  return step >= 1000 && step % 1000 === 0 ? `${step / 1000}k` : String(step);
}

function formatStat(stat: Stat | null, seeds: number): string {
  if (!stat) return '–';
  const partial = stat.n < seeds ? ` (${stat.n}/${seeds} seeds)` : '';
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
  const lines = [
    '# DSRL comparison on Gym MuJoCo',
    '',
    `Eval return (mean ± std across seeds ${seeds.join(', ')}) after each budget of env steps. Every run uses the same evaluation protocol ` +
      '(deterministic actor, the same seeded episode starts); the base policy row is the base policy alone with w ~ N(0, I), the same at every budget.',
    '',
  ];
  for (const env of envs) {
    lines.push(`## ${env}`, '', `| algorithm | ${budgets.map(formatSteps).join(' | ')} |`, `|---|${budgets.map(() => '---:').join('|')}|`);
    for (const algo of algos) {
      lines.push(`| ${ALGO_LABELS[algo]} | ${budgets.map((b) => formatStat(statAt(records, env, algo, b), seeds.length)).join(' | ')} |`);
    }
    lines.push('', `![${env} learning curves](${curveFileName(env)})`, '');
  }
  return `${lines.join('\n')}\n`;
}

export function curveFileName(env: string): string {
  return `curves-${env.replace(/[^A-Za-z0-9._-]+/g, '_')}.svg`;
}

/** One chart for an env: mean ± std across seeds per algorithm, the base policy as a horizontal line. */
export function envCurvesSvg(records: readonly RunRecord[], env: string, algos: readonly AlgoKey[]): string {
  const series = algos.filter((a) => a !== 'base').flatMap((algo) => {
    const runs = records.filter((r) => r.env === env && r.algo === algo).map((r) => r.evals);
    if (runs.length === 0) return [];
    const { points, band } = meanStdAcrossSeeds(runs);
    return [{ name: `${ALGO_LABELS[algo]} (${runs.length} seed${runs.length > 1 ? 's' : ''})`, points, band }];
  });
  const base = algos.includes('base') ? statAt(records, env, 'base', 0) : null;
  return curveSvg({
    title: `${env}: eval return`, xLabel: 'env steps', yLabel: 'eval return', series,
    hlines: base ? [{ name: ALGO_LABELS.base, value: base.mean }] : [],
  });
}
