import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planRuns, writeReport, type ExperimentOptions } from '../experiments/steer-table.ts';
import {
  bestUpTo,
  collectRuns,
  envCurvesSvg,
  minutesAt,
  nominalStep,
  RESUME_GAP_S,
  runFolder,
  statAt,
  trainingMinutes,
  type AlgoKey,
} from '../experiments/report.ts';
import { MetricsLogger } from '../src/run/metrics.ts';

/** A run folder as a trainer leaves it: config.json, eval returns in metrics.jsonl, optionally a checkpoint. */
function fakeRun(dir: string, evalEvery: number, steps: number, evals: Array<[number, number]>, checkpoint = false, success?: number[]): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ evalEvery, steps }));
  const logger = new MetricsLogger(dir, { tensorboard: false });
  logger.log(0, { 'charts/base_return_mean': 1 });
  evals.forEach(([step, mean], i) =>
    logger.log(step, { 'charts/eval_return_mean': mean, ...(success ? { 'charts/success_rate': success[i] } : {}) }),
  );
  logger.close();
  if (checkpoint) {
    mkdirSync(join(dir, 'train-state', 'step-000000000500'), { recursive: true });
    writeFileSync(join(dir, 'train-state', 'step-000000000500', 'manifest.json'), '{}');
  }
}

describe('experiments: gym comparison table', () => {
  it('counts training minutes without the downtime of a stop and resume', () => {
    // rows 60 s apart, a 2-hour stop, then 30 s more
    expect(trainingMinutes([0, 60, 120, 7320, 7350])).toEqual([0, 1, 2, 2, 2.5]);
    expect(RESUME_GAP_S).toBeGreaterThan(5 * 60);
  });

  it("reports each seed's best evaluation up to a budget", () => {
    const rec = (seed: number, evals: Array<[number, number]>) => ({
      env: 'E',
      algo: 'na' as const,
      seed,
      dir: '',
      evals,
      minutes: evals.map(() => 0),
      metric: 'return' as const,
    });
    const records = [
      rec(1, [
        [1000, 10],
        [2000, 30],
        [3000, 20],
      ]),
      rec(2, [
        [1000, 50],
        [2000, 10],
        [3000, 10],
      ]),
      rec(3, [[1000, 99]]),
    ];
    expect(bestUpTo(records, 'E', 'na', 2000)).toEqual({ mean: 40, std: 10, seeds: [1, 2] });
    expect(minutesAt(records, 'E', 'na', 3000)).toBe(0);
    expect(minutesAt(records, 'E', 'sac', 3000)).toBeNull();
  });

  it('keeps the band of a success-rate curve inside 0-100% and leaves a return band as it is', () => {
    const rec = (seed: number, value: number, metric: 'success' | 'return') => ({
      env: 'E',
      algo: 'na' as const,
      seed,
      dir: '',
      evals: [[1000, value] as [number, number], [2000, value] as [number, number]],
      minutes: [0, 0],
      metric,
    });
    // Seeds at 0, 0 and 100: mean 33.3 ± 47.1, a band from -13.8 to 80.5.
    const svgOf = (metric: 'success' | 'return') =>
      envCurvesSvg(
        [0, 0, 100].map((v, i) => rec(i + 1, v, metric)),
        'E',
        ['na'],
      );
    const lowestTick = (svg: string) => Math.min(...[...svg.matchAll(/text-anchor="end"[^>]*>(-?[\d.]+)<\/text>/g)].map((m) => Number(m[1])));
    expect(lowestTick(svgOf('success'))).toBe(0);
    expect(lowestTick(svgOf('return'))).toBeLessThan(0);
  });

  it('snaps evaluations to the schedule, aggregates seeds per budget, and plans only the unfinished runs', () => {
    expect(nominalStep(25_003, 5000, 100_000)).toBe(25_000);
    expect(nominalStep(1_003, 0, 1_000)).toBe(1_000);
    const out = mkdtempSync(join(tmpdir(), 'dsrl-experiments-'));
    const root = join(out, 'runs');
    const env = 'Hopper-v5';
    const at = (algo: AlgoKey, seed: number) => runFolder(root, env, algo, seed);
    fakeRun(at('base', 1), 1000, 0, [[0, 10]]);
    fakeRun(at('base', 2), 1000, 0, [[0, 20]]);
    fakeRun(at('base-zero', 1), 1000, 0, [[0, 60]]);
    // Chunked runs overshoot each evaluation point by a few steps.
    fakeRun(at('na', 1), 1000, 2000, [
      [1002, 30],
      [2004, 50],
    ]);
    fakeRun(at('na', 2), 1000, 2000, [[1001, 40]], true); // stopped after 1000, checkpointed
    fakeRun(at('scratch', 1), 1000, 2000, [
      [1000, 5],
      [2000, 7],
    ]);
    fakeRun(at('sac', 1), 1000, 2000, []); // started, no checkpoint
    const records = collectRuns(root);
    expect(records.map((r) => `${r.algo}-s${r.seed}`)).toEqual(['base-s1', 'base-s2', 'base-zero-s1', 'na-s1', 'na-s2', 'sac-s1', 'scratch-s1']);
    expect(statAt(records, env, 'base', 2000)).toEqual({ mean: 15, std: 5, seeds: [1, 2] });
    expect(statAt(records, env, 'na', 1000)).toEqual({ mean: 35, std: 5, seeds: [1, 2] });
    expect(statAt(records, env, 'na', 2000)).toEqual({ mean: 50, std: 0, seeds: [1] });
    expect(statAt(records, env, 'residual', 1000)).toBeNull();

    const options: ExperimentOptions = {
      policies: { [env]: '/policies/hopper' },
      envs: [env],
      algos: ['base', 'base-zero', 'na', 'sac', 'residual', 'scratch'],
      seeds: [1, 2],
      budgets: [1000, 2000],
      evalEvery: 1000,
      evalEpisodes: 3,
      checkpointEvery: 500,
      residualScale: 0.2,
      obs: 'raw',
      steerArgs: ['--utd', '2'],
      sacArgs: [],
      out,
    };
    const plan = planRuns(options);
    const status = Object.fromEntries(plan.map((r) => [`${r.algo}-s${r.seed}`, r.status]));
    expect(status).toEqual({
      'base-s1': 'done',
      'base-s2': 'done',
      'base-zero-s1': 'done',
      'base-zero-s2': 'new',
      'na-s1': 'done',
      'na-s2': 'resume',
      'sac-s1': 'restart',
      'sac-s2': 'new',
      'residual-s1': 'new',
      'residual-s2': 'new',
      'scratch-s1': 'done',
      'scratch-s2': 'new',
    });
    const args = Object.fromEntries(plan.map((r) => [`${r.algo}-s${r.seed}`, r.args?.join(' ')]));
    // The base policy with w = 0 is `steer --algo base` with zero noise: one evaluation, no checkpoints.
    expect(args['base-zero-s2']).toBe(
      `steer --env Hopper-v5 --policy /policies/hopper --algo base --seed 2 --out ${at('base-zero', 2)} --eval-every 1000 --eval-episodes 3 ` +
        '--action-magnitude 1.5 --hidden 128,128,128 --base-noise zero --utd 2',
    );
    expect(args['na-s2']).toBe(`steer --resume --out ${at('na', 2)} --steps 2000`);
    expect(args['residual-s1']).toBe(
      `steer --env Hopper-v5 --policy /policies/hopper --algo residual --seed 1 --out ${at('residual', 1)} --eval-every 1000 --eval-episodes 3 ` +
        '--action-magnitude 1.5 --hidden 128,128,128 --residual-scale 0.2 --steps 2000 --checkpoint-every 500 --utd 2',
    );
    // The DSRL agents get the table's observation protocol explicitly; residual SAC has no such option.
    expect(args['sac-s2']).toContain('--hidden 128,128,128 --no-normalize-obs --steps 2000');
    expect(
      planRuns({ ...options, obs: 'normalized' })
        .find((r) => r.algo === 'sac' && r.seed === 2)!
        .args!.join(' '),
    ).toContain(' --normalize-obs --steps');
    const narrow = planRuns({ ...options, presetOverrides: { [env]: { width: 64 } } }).find((r) => r.algo === 'residual' && r.seed === 1)!;
    expect(narrow.args!.join(' ')).toContain('--action-magnitude 1.5 --hidden 64,64,64');
    expect(args['scratch-s2']).toBe(
      `sac --env Hopper-v5 --steps 2000 --seed 2 --out ${at('scratch', 2)} --eval-every 1000 --eval-episodes 3 --checkpoint-every 500`,
    );

    const markdown = writeReport(options);
    expect(markdown).toContain('| algorithm | 1k | 2k | best ≤ 2k | min |');
    expect(markdown).toContain('| base policy, w ~ N(0, I) | 15.0 ± 5.0 | 15.0 ± 5.0 |  |  |');
    expect(markdown).toContain('| base policy, w = 0 | 60.0 (seed 1 only) | 60.0 (seed 1 only) |  |  |');
    // A cell only one seed reached names that seed instead of a std of one run.
    expect(markdown).toContain('| DSRL-NA | 35.0 ± 5.0 | 50.0 (seed 1 only) | 50.0 (seed 1 only) | 0 |');
    expect(markdown).toContain('| residual SAC | – | – | – |  |');
    expect(markdown).toContain('![Hopper-v5 learning curves](curves-Hopper-v5.svg)');
    // Runs of seeds not asked for stay out of the table.
    const seedOne = writeReport({ ...options, seeds: [1] });
    expect(seedOne).toContain('| base policy, w ~ N(0, I) | 10.0 | 10.0 |  |  |');
    expect(seedOne).toContain('| DSRL-NA | 30.0 | 50.0 | 50.0 | 0 |');
  });

  it('manipulation: reports the success rate in %, and plans DSRL-NA with the demonstrations and SAC on the dense reward', () => {
    const out = mkdtempSync(join(tmpdir(), 'dsrl-experiments-'));
    const root = join(out, 'runs');
    const env = 'Lift-v0';
    const at = (algo: AlgoKey, seed: number) => runFolder(root, env, algo, seed);
    fakeRun(
      at('na', 1),
      5000,
      10_000,
      [
        [5003, -250],
        [10_001, -60],
      ],
      false,
      [0.31, 0.97],
    );
    fakeRun(at('na-demos', 1), 5000, 10_000, [[5002, -200]], true, [0.5]);
    const records = collectRuns(root);
    expect(records.map((r) => `${r.algo}-s${r.seed}:${r.metric}`)).toEqual(['na-demos-s1:success', 'na-s1:success']);
    expect(statAt(records, env, 'na', 10_000)).toEqual({ mean: 97, std: 0, seeds: [1] });
    const options: ExperimentOptions = {
      policies: { [env]: '/policies/lift' },
      datasets: { [env]: '/data/lift-mh.hdf5' },
      envs: [env],
      algos: ['na', 'na-demos', 'scratch'],
      seeds: [1],
      budgets: [5000, 10_000],
      evalEvery: 5000,
      evalEpisodes: 100,
      checkpointEvery: 5000,
      residualScale: 0.2,
      obs: 'normalized',
      steerArgs: [],
      sacArgs: [],
      out,
    };
    const args = Object.fromEntries(planRuns(options).map((r) => [`${r.algo}-s${r.seed}`, r.args?.join(' ')]));
    expect(args['na-s1']).toBeUndefined(); // finished
    expect(args['na-demos-s1']).toBe(`steer --resume --out ${at('na-demos', 1)} --steps 10000`);
    expect(args['scratch-s1']).toBe(
      `sac --env Lift-v0 --steps 10000 --seed 1 --out ${at('scratch', 1)} --eval-every 5000 --eval-episodes 100 --checkpoint-every 5000 --reward dense`,
    );
    const fresh = planRuns({ ...options, seeds: [2] }).find((r) => r.algo === 'na-demos')!;
    expect(fresh.args!.join(' ')).toBe(
      `steer --env Lift-v0 --policy /policies/lift --algo na --seed 2 --out ${at('na-demos', 2)} --eval-every 5000 --eval-episodes 100 ` +
        '--action-magnitude 1.5 --critic-hidden 256,256,256 --actor-layer-norm --offline /data/lift-mh.hdf5 --normalize-obs --steps 10000 --checkpoint-every 5000',
    );
    const [dsrlSac, residual] = planRuns({ ...options, algos: ['sac', 'residual'], seeds: [2] });
    expect(dsrlSac.args!.join(' ')).toContain('--actor-layer-norm --init-temperature 0.01 --normalize-obs');
    expect(residual.args!.join(' ')).toContain('--residual-scale 0.2 --init-temperature 0.01 --steps');
    const markdown = writeReport(options);
    expect(markdown).toContain('## Lift-v0: success rate (%)');
    expect(markdown).toContain('| DSRL-NA | 31.0 | 97.0 | 97.0 | 0 |');
  });
});
