/**
 * A run's evaluation history (stable-baselines3's EvalCallback): every evaluation in order, the best so
 * far, the reference lines evaluated once at the start (e.g. the base policy), and what each evaluation
 * leaves in the run folder: `last/` and `best/` agents, `summary.json` and `curve.svg`. Saved in each
 * checkpoint, so a resumed run continues the same history.
 */
import { join } from 'node:path';
import { writeFileAtomic } from '../node/fs.ts';
import { curveSvg } from './curve.ts';
import type { EpisodeStats, EvalResult } from './evaluate.ts';

export interface Reference extends EpisodeStats {
  name: string;
}

/** What a checkpoint keeps of the history. */
export interface HistoryState {
  evals: EvalResult[];
  bestIndex: number;
  references: Reference[];
}

export interface HistoryOptions {
  dir: string;
  /** Curve title and legend label. */
  title: string;
  label: string;
  /** 'env steps', or 'gradient updates' for offline-only runs. */
  xAxis: string;
  /** Saves the agent as evaluated into a folder (`<run>/best`, `<run>/last`); absent for runs with no agent. */
  saveAgent?: (folder: string, res: EvalResult) => void;
  /** Also save each evaluation's agent under checkpoints/step-N. */
  keepSnapshots: boolean;
  /** Fields of summary.json that describe the run (algo, env, seed, ...). */
  describe: Record<string, unknown>;
}

export class EvalHistory {
  readonly evals: EvalResult[] = [];
  best: EvalResult | null = null;
  references: Reference[] = [];

  constructor(private readonly opts: HistoryOptions) {}

  /** Mean return of the newest evaluation, for the progress bar. */
  get latest(): number | null {
    return this.evals.at(-1)?.mean ?? null;
  }

  restore(state: HistoryState): void {
    this.evals.push(...state.evals);
    this.best = state.bestIndex >= 0 ? this.evals[state.bestIndex] : null;
    this.references = state.references;
  }

  state(): HistoryState {
    return { evals: this.evals, bestIndex: this.best ? this.evals.indexOf(this.best) : -1, references: this.references };
  }

  /** One evaluation: saves the last (and, when it is the best so far, the best) agent, the summary and the curve. */
  record(res: EvalResult, step: number, extra: Record<string, unknown> = {}): void {
    this.evals.push(res);
    const { dir, saveAgent } = this.opts;
    saveAgent?.(join(dir, 'last'), res);
    if (this.opts.keepSnapshots) saveAgent?.(join(dir, 'checkpoints', `step-${res.step}`), res);
    if (!this.best || res.mean > this.best.mean) {
      this.best = res;
      saveAgent?.(join(dir, 'best'), res);
    }
    this.write(step, extra);
  }

  /** summary.json and curve.svg for the history as it stands. */
  write(step: number, extra: Record<string, unknown> = {}): void {
    const brief = (e: EvalResult) => ({
      step: e.step,
      mean: e.mean,
      std: e.std,
      episodes: e.returns.length,
      ...(e.successRate !== undefined ? { successRate: e.successRate } : {}),
    });
    const { dir, title, label, xAxis } = this.opts;
    const refs = Object.fromEntries(
      this.references.map((r) => [
        r.name,
        { mean: r.mean, std: r.std, episodes: r.returns.length, ...(r.successRate !== undefined ? { successRate: r.successRate } : {}) },
      ]),
    );
    writeFileAtomic(
      join(dir, 'summary.json'),
      `${JSON.stringify(
        {
          ...this.opts.describe,
          ...extra,
          xAxis,
          step,
          references: refs,
          evals: this.evals.map(brief),
          best: this.best ? brief(this.best) : null,
        },
        null,
        2,
      )}\n`,
    );
    // Tasks with a success signal are judged by it: their curve is the success rate.
    const bySuccess = [...this.evals, ...this.references].some((e) => e.successRate !== undefined);
    const y = (e: EpisodeStats) => (bySuccess ? (e.successRate ?? 0) : e.mean);
    writeFileAtomic(
      join(dir, 'curve.svg'),
      curveSvg({
        title,
        xLabel: xAxis,
        yLabel: bySuccess ? 'success rate' : 'eval return',
        series:
          this.evals.length > 0 && this.opts.saveAgent ? [{ name: label, points: this.evals.map((e) => [e.step, y(e)] as [number, number]) }] : [],
        hlines: this.references.map((r) => ({ name: r.name, value: y(r) })),
      }),
    );
  }
}
