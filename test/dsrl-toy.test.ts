import { beforeAll, describe, expect, it } from 'vitest';
import { NoiseActionVectorEnv } from '../src/algos/dsrl/noise-action-env.ts';
import { DsrlNA, dsrlNaDefaults } from '../src/algos/dsrl/dsrl-na.ts';
import { SAC, sacDefaults } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { ReplayBuffer } from '../src/data/replay-buffer.ts';
import { BimodalChoice, bimodalDemonstrations } from '../src/envs/toy/bimodal.ts';
import { SyncVectorEnv } from '../src/envs/vector.ts';
import { ActionChunk } from '../src/envs/wrappers.ts';
import type { DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { buildChunkData, DiffusionTrainer } from '../src/policies/diffusion/train.ts';
import { deterministicActor, evaluate, gaussianNoiseActor, type EvalActor } from '../src/run/evaluate.ts';
import { createOffPolicyLoop, type OffPolicyAgent } from '../src/run/offpolicy.ts';

const M = 2.0;
let base: DiffusionPolicy;

/** Clone a policy from demonstrations split evenly between two modes; only (+, +) is rewarded. */
beforeAll(() => {
  const rng = Rng.fromSeed(0);
  const ds = bimodalDemonstrations(2000, rng);
  const data = buildChunkData(ds, { chunk: 1, tail: 'skip', actionLow: [-1, -1], actionHigh: [1, 1] });
  const spec = { obsDim: 1, actDim: 2, chunk: 1, denoisingSteps: 20, ddimSteps: 5, timeDim: 16, width: 64, depth: 2 };
  const trainer = new DiffusionTrainer(spec, data, { steps: 2500, batchSize: 256, lr: 1e-3, seed: 0, emaDecay: 0.99, emaEvery: 1, emaStart: 1500 });
  for (let i = 0; i < 2500; i++) trainer.trainStep();
  base = trainer.policy();
});

async function noiseEnv(n: number): Promise<NoiseActionVectorEnv> {
  return new NoiseActionVectorEnv(new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), 1))), base, M);
}

const gaussianWarmup = (rng: Rng, out: Float32Array) => {
  for (let i = 0; i < out.length; i++) out[i] = Math.max(-M, Math.min(M, rng.normal()));
};

async function successRate(actor: EvalActor): Promise<number> {
  const env = await noiseEnv(10);
  const res = await evaluate(actor, env, { episodes: 200, seed: 123 });
  if (process.env.DSRL_TEST_VERBOSE) console.log(`success rate ${res.mean.toFixed(3)}`);
  await env.close();
  return res.mean;
}

async function train(agent: OffPolicyAgent, fields: boolean, steps: number, seed: number): Promise<void> {
  const env = await noiseEnv(4);
  const buffer = new ReplayBuffer({ capacity: steps, obsDim: 1, actionDim: 2, fields: fields ? { realActions: 2 } : {}, seed });
  const loop = await createOffPolicyLoop({
    agent,
    env,
    buffer,
    rng: Rng.fromSeed(seed),
    seed,
    config: { totalSteps: steps, learningStarts: 200, updatesPerStep: 2, batchSize: 64, evalEvery: 0, logEvery: 10_000 },
    callbacks: { warmupActions: gaussianWarmup, ...(fields ? { transitionFields: () => ({ realActions: env.lastActions }) } : {}) },
  });
  await loop.run();
  await env.close();
}

describe('DSRL steers a bimodal base policy to the rewarded mode', () => {
  it('the base policy with N(0, I) noise picks each mode about half the time', async () => {
    const rate = await successRate(gaussianNoiseActor(2));
    expect(rate).toBeGreaterThan(0.35);
    expect(rate).toBeLessThan(0.65);
  });

  it('DSRL-SAC: plain SAC on the noise-action env', { tags: ['learning'] }, async () => {
    const sac = new SAC(
      sacDefaults(1, 2, {
        actionLow: [-M, -M],
        actionHigh: [M, M],
        actorHidden: [64, 64],
        criticHidden: [64, 64],
        targetEntropy: 0,
        actorLr: 1e-3,
        criticLr: 1e-3,
        alphaLr: 1e-3,
      }),
      Rng.fromSeed(1),
      64,
    );
    await train(sac, false, 1500, 1);
    expect(await successRate(deterministicActor(sac))).toBeGreaterThanOrEqual(0.95);
  });

  it('DSRL-NA: Q on real actions, distilled into noise space', { tags: ['learning'] }, async () => {
    const na = new DsrlNA(
      dsrlNaDefaults(1, 2, {
        actionMagnitude: M,
        actorHidden: [64, 64],
        criticHidden: [64, 64],
        lr: 1e-3,
        utd: 2,
        distillSteps: 4,
      }),
      base,
      Rng.fromSeed(2),
      64,
    );
    await train(na, true, 1500, 2);
    expect(await successRate(deterministicActor(na))).toBeGreaterThanOrEqual(0.95);
  });
});
