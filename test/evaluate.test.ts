/**
 * The one evaluation protocol (src/run/evaluate.ts): `dsrl eval --policy`, steer's base-policy line and
 * training evaluations measure the same thing for the same seed and episode count, whatever the number of
 * episodes run side by side.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import { runEval, successText } from '../src/cli/eval.ts';
import { Rng } from '../src/core/rng.ts';
import { BimodalChoice } from '../src/envs/toy/bimodal.ts';
import { SyncVectorEnv } from '../src/envs/vector.ts';
import { ActionChunk } from '../src/envs/wrappers.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { readMetrics } from '../src/run/metrics.ts';
import { makeChunkedVectorEnv } from '../src/envs/registry.ts';
import { loadDiffusionPolicy } from '../src/policies/diffusion/checkpoint-io.ts';
import { episodeResetSeed, evaluate, gaussianNoiseActor, successInterval, TRAINING_EVAL_SEED, zeroNoiseActor } from '../src/run/evaluate.ts';
import { evaluateRun } from '../src/run/evaluate-run.ts';
import { steer } from '../src/run/steer.ts';

const hopperDir = join(import.meta.dirname, '..', 'models', 'hopper');

describe('one evaluation protocol', () => {
  it("dsrl eval --policy models/hopper and steer's base-policy line give the same number for the same seed and episode count", async () => {
    const policy = loadDiffusionPolicy(hopperDir, { expect: { obsDim: 11, actDim: 3 } });
    const episodes = 3;
    const out = join(mkdtempSync(join(tmpdir(), 'dsrl-eval-protocol-')), 'run');
    const run = await steer({ env: 'Hopper-v5', algo: 'base', evalEpisodes: episodes, seed: 7, out, quiet: true }, policy);
    // steer's base line runs its 3 episodes side by side; the CLI's default batching is 8, i.e. also all 3:
    // the same policy batches, so the same floats in one process.
    const cli = await runEval({ policy: hopperDir, episodes, seed: TRAINING_EVAL_SEED }, { log: () => {} });
    expect(cli.returns).toEqual(run.base.returns);
    expect(cli.returnMean).toBe(run.base.mean);
    // One at a time: the same episodes (same starts, same noise), the policy on batches of 1. A BLAS may round
    // a row of another batch size differently in the last bits, and Hopper's contacts amplify that over
    // hundreds of steps, so this compares episode lengths and returns to 1%, not bit for bit.
    const serial = await runEval({ policy: hopperDir, episodes, seed: TRAINING_EVAL_SEED, parallel: 1 }, { log: () => {} });
    serial.returns.forEach((r, i) => expect(Math.abs(r - cli.returns[i])).toBeLessThan(0.01 * Math.abs(cli.returns[i]) + 1));
  });

  it("episode k starts from seed S * 100003 + k with its own noise stream; zero noise is the sampler's mean chunk", async () => {
    expect(episodeResetSeed(10_000, 3)).toBe(10_000 * 100_003 + 3);
    const policy = loadDiffusionPolicy(hopperDir, { expect: { obsDim: 11, actDim: 3 } });
    const inner = await makeChunkedVectorEnv('Hopper-v5', 2, policy.chunk);
    const env = new NoiseActionVectorEnv(inner, policy, 1.5);
    const noiseDim = policy.chunk * policy.actDim;
    const a = await evaluate(gaussianNoiseActor(noiseDim), env, { episodes: 2, seed: 5 });
    const b = await evaluate(gaussianNoiseActor(noiseDim), env, { episodes: 2, seed: 5 });
    expect(b).toStrictEqual(a);
    const zero = await evaluate(zeroNoiseActor(noiseDim), env, { episodes: 2, seed: 5 });
    expect(zero.returns).not.toEqual(a.returns);
    expect(zero.lengths.every((l) => l > 0 && l <= 1000)).toBe(true);
    await expect(evaluate(zeroNoiseActor(noiseDim), env, { episodes: 0, seed: 5 })).rejects.toThrow(/episodes must be a positive integer, got 0/);
    await env.close();
    // `dsrl eval --noise zero` is that same baseline (2 episodes side by side: the same batches, the same floats).
    const cli = await runEval({ policy: hopperDir, episodes: 2, seed: 5, noise: 'zero' }, { log: () => {} });
    expect(cli.returns).toEqual(zero.returns);
    await expect(runEval({ policy: hopperDir, episodes: 2, noise: 'zero', record: true })).rejects.toThrow(/drop --noise or --record/);
  });

  it('envs whose info carries success report the success rate: evaluations, metrics, summary and curve', async () => {
    const bimodal = async (n: number, chunk: number) =>
      new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), chunk)));
    const spec = { obsDim: 1, actDim: 2, chunk: 1, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
    const policy = new DiffusionPolicy({
      spec,
      obsStats: { min: Float32Array.of(-1), max: Float32Array.of(1) },
      actionLow: [-1, -1],
      actionHigh: [1, 1],
      weights: createDiffusionNetwork(spec, Rng.fromSeed(2)).values,
    });
    const env = new NoiseActionVectorEnv(await bimodal(4, 1), policy, 1.5);
    const res = await evaluate(gaussianNoiseActor(2), env, { episodes: 40, seed: 1 });
    // BimodalChoice pays 1 exactly on success: the rate is the mean return.
    expect(res.successes).toHaveLength(40);
    expect(res.successRate).toBeCloseTo(res.mean, 12);
    expect(res.successRate).toBeGreaterThan(0);
    expect(res.successRate).toBeLessThan(1);
    await env.close();

    const out = join(mkdtempSync(join(tmpdir(), 'dsrl-eval-success-')), 'run');
    const run = await steer(
      {
        env: 'BimodalChoice',
        algo: 'na',
        steps: 40,
        learningStarts: 20,
        numEnvs: 2,
        batchSize: 8,
        actorHidden: [8],
        criticHidden: [8],
        evalEvery: 20,
        evalEpisodes: 10,
        out,
        quiet: true,
      },
      policy,
      bimodal,
    );
    const rows = readMetrics(run.dir);
    expect(rows.filter((r) => 'charts/success_rate' in r.values).map((r) => r.step)).toEqual(run.evals.map((e) => e.step));
    expect(rows[0].values['charts/base_success_rate']).toBe(run.base.successRate);
    const summary = JSON.parse(readFileSync(join(run.dir, 'summary.json'), 'utf8'));
    expect(summary.evals[0].successRate).toBe(run.evals[0].successRate);
    expect(readFileSync(join(run.dir, 'curve.svg'), 'utf8')).toMatch(/success rate/);
    // dsrl eval --run names the saved agent's training success rate (from summary.json), and gives it back on the same
    // starts. Batched as steer's evaluation was (min(evalEpisodes, 5) sub-envs): the same batches give the same floats,
    // where another batch size may round a row differently (the Hopper case above), so the rates compare exactly.
    const again = await evaluateRun({ run: run.dir, agent: 'best', episodes: 10, seed: TRAINING_EVAL_SEED, parallel: 5 }, policy, (_env, n, chunk) =>
      bimodal(n, chunk ?? 1),
    );
    expect(again.trainedSteps).toBe(run.best!.step);
    expect(again.trainedSuccessRate).toBe(run.best!.successRate);
    expect(again.successRate).toBe(run.best!.successRate);
  });

  it('success rates come with a 95% Wilson interval that stays inside [0, 1]', () => {
    // Reference values: the Wilson score formula with z = 1.959964 (e.g. statsmodels proportion_confint(method='wilson')).
    const [lo, hi] = successInterval(0.43, 100);
    expect(lo).toBeCloseTo(0.3373, 3);
    expect(hi).toBeCloseTo(0.5278, 3);
    expect(successInterval(0, 100)[0]).toBe(0);
    expect(successInterval(0, 100)[1]).toBeCloseTo(0.037, 3);
    expect(successInterval(1, 100)[1]).toBe(1);
    expect(successInterval(1, 100)[0]).toBeCloseTo(0.963, 3);
    expect(() => successInterval(0.5, 0)).toThrow(/n > 0/);
    expect(successText({ successRate: 0.43, returns: new Array(100).fill(0) })).toBe('success rate 0.43 (95% interval 0.34-0.53), ');
    expect(successText({ returns: [1, 2] })).toBe('');
  });
});
