import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ResidualActionVectorEnv } from '../src/algos/residual-sac.ts';
import { Rng } from '../src/core/rng.ts';
import { BimodalChoice } from '../src/envs/toy/bimodal.ts';
import { Reach1D } from '../src/envs/toy/reach.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { ActionChunk, TimeLimit } from '../src/envs/wrappers.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { readMetrics } from '../src/run/metrics.ts';
import { steer } from '../src/run/steer.ts';

function tinyPolicy(obsDim: number, actDim: number, chunk: number, low = -1, high = 1): DiffusionPolicy {
  const spec = { obsDim, actDim, chunk, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
  return new DiffusionPolicy({
    spec,
    obsStats: { min: new Float32Array(obsDim).fill(-1), max: new Float32Array(obsDim).fill(1) },
    actionLow: new Array(actDim).fill(low),
    actionHigh: new Array(actDim).fill(high),
    weights: createDiffusionNetwork(spec, Rng.fromSeed(3)).values,
  });
}

const bimodal = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), chunk)));
const reach = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new TimeLimit(new Reach1D(), 12), chunk)));
const out = () => join(mkdtempSync(join(tmpdir(), 'dsrl-steer-baselines-')), 'run');

describe('baselines through steer()', () => {
  it('algo "base": a run folder with the base policy\'s evaluation, the same number a DSRL run of that seed reports as its reference', async () => {
    const policy = tinyPolicy(1, 2, 1);
    const common = { env: 'BimodalChoice', seed: 4, numEnvs: 2, evalEpisodes: 40, quiet: true };
    const base = await steer({ ...common, algo: 'base', out: out() }, policy, bimodal);
    expect([base.step, base.updates]).toEqual([0, 0]);
    expect(base.base.returns).toHaveLength(40);
    expect(base.best?.mean).toBe(base.base.mean);
    const rows = readMetrics(base.dir);
    expect(rows).toHaveLength(1);
    expect(rows[0].step).toBe(0);
    expect(rows[0].values['charts/eval_return_mean']).toBe(base.base.mean);
    const summary = JSON.parse(readFileSync(join(base.dir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({
      algo: 'base',
      env: 'BimodalChoice',
      seed: 4,
      references: { 'base policy': { mean: base.base.mean, episodes: 40 } },
    });
    expect(existsSync(join(base.dir, 'curve.svg'))).toBe(true);

    // With w = 0 the policy plays its one most likely chunk: on BimodalChoice every episode is the same choice.
    const zero = await steer({ ...common, algo: 'base', baseNoise: 'zero', out: out() }, policy, bimodal);
    expect(zero.base.returns).toHaveLength(40);
    expect(new Set(zero.base.returns).size).toBe(1);
    expect(new Set(base.base.returns).size).toBeGreaterThan(1);
    expect(Object.keys(JSON.parse(readFileSync(join(zero.dir, 'summary.json'), 'utf8')).references)).toEqual(['base policy, w = 0']);

    const na = await steer(
      { ...common, algo: 'na', steps: 12, learningStarts: 8, batchSize: 4, actorHidden: [4], criticHidden: [4], evalEvery: 0, out: out() },
      policy,
      bimodal,
    );
    expect(na.base).toStrictEqual(base.base);
    expect(readMetrics(na.dir)[0].values['charts/base_return_mean']).toBe(base.base.mean);
  });

  it('algo "residual": residual SAC trains through the same loop and run folder', async () => {
    const res = await steer(
      {
        env: 'Reach1D',
        algo: 'residual',
        steps: 240,
        learningStarts: 60,
        numEnvs: 2,
        utd: 1,
        batchSize: 16,
        actorHidden: [16],
        criticHidden: [16],
        evalEvery: 120,
        evalEpisodes: 2,
        logEvery: 60,
        out: out(),
        quiet: true,
      },
      tinyPolicy(2, 1, 2),
      reach,
    );
    expect(res.evals.map((e) => e.step)).toEqual([120, 240]);
    expect(res.updates).toBeGreaterThan(0);
    const rows = readMetrics(res.dir);
    expect(rows.some((r) => 'losses/qf_loss' in r.values)).toBe(true);
    expect(rows.filter((r) => 'charts/eval_return_mean' in r.values).map((r) => r.step)).toEqual([120, 240]);
    expect(existsSync(join(res.dir, 'best/actor.safetensors'))).toBe(true);
  });
});

describe('ResidualActionVectorEnv', () => {
  it('executes clip(a_base + delta, bounds), with delta bounded by beta x range and [s, a_base] observed', async () => {
    // A base policy whose chunks reach the env's bounds [-1, 1] (its own range is wider), so clipping shows.
    const policy = tinyPolicy(2, 1, 3, -3, 3);
    const env = new ResidualActionVectorEnv(await reach(2, 3), policy, 0.25, Rng.fromSeed(1));
    expect(Array.from(env.singleActionSpace.high)).toEqual([0.5, 0.5, 0.5]); // 0.25 x range 2
    expect(Array.from(env.singleActionSpace.low)).toEqual([-0.5, -0.5, -0.5]);
    expect(env.singleObservationSpace.size).toBe(2 + 3);
    const { obs } = await env.reset({ seed: 5 });
    const baseChunks = [obs.subarray(2, 5), obs.subarray(7, 10)].map((a) => Array.from(a));
    const delta = Float32Array.from([0.5, -0.5, 0.1, -0.2, 0, 0.3]);
    await env.step(delta);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        const want = Math.min(1, Math.max(-1, Math.fround(baseChunks[i][j] + delta[i * 3 + j])));
        expect(env.lastActions[i * 3 + j]).toBeCloseTo(want, 6);
      }
    }
    expect(baseChunks.flat().some((a) => Math.abs(a) > 1)).toBe(true); // clipping was exercised
    // A seeded reset draws the same base chunks again (every evaluation sees the same base noise).
    const again = await env.reset({ seed: 5 });
    expect(Array.from(again.obs)).toEqual(Array.from(obs));
    const other = await env.reset({ seed: 6 });
    expect(Array.from(other.obs.subarray(2, 5))).not.toEqual(baseChunks[0]);
    expect(() => new ResidualActionVectorEnv(env.inner, policy, 0, Rng.fromSeed(1))).toThrow(/residualScale must be > 0/);
    await env.inner.close();
  });
});
