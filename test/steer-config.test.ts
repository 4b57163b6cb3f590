import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/rng.ts';
import { BimodalChoice } from '../src/envs/toy/bimodal.ts';
import { SyncVectorEnv, type VectorEnv } from '../src/envs/vector.ts';
import { ActionChunk } from '../src/envs/wrappers.ts';
import { createDiffusionNetwork, DiffusionPolicy } from '../src/policies/diffusion/policy.ts';
import { readSafetensors } from '../src/node/safetensors-io.ts';
import { buildSteerParts, parseSteerConfig, steer } from '../src/run/steer.ts';

function tinyPolicy(obsDim: number, actDim: number, chunk: number): DiffusionPolicy {
  const spec = { obsDim, actDim, chunk, denoisingSteps: 10, ddimSteps: 3, timeDim: 8, width: 16, depth: 1 };
  return new DiffusionPolicy({
    spec,
    obsStats: { min: new Float32Array(obsDim).fill(-1), max: new Float32Array(obsDim).fill(1) },
    actionLow: new Array(actDim).fill(-1),
    actionHigh: new Array(actDim).fill(1),
    weights: createDiffusionNetwork(spec, Rng.fromSeed(1)).values,
  });
}

const bimodal = async (n: number, chunk: number): Promise<VectorEnv> =>
  new SyncVectorEnv(Array.from({ length: n }, () => new ActionChunk(new BimodalChoice(), chunk)));
const config = {
  env: 'BimodalChoice',
  steps: 20,
  learningStarts: 10,
  numEnvs: 2,
  batchSize: 8,
  actorHidden: [8],
  criticHidden: [8],
  evalEvery: 0,
  evalEpisodes: 2,
  quiet: true,
};
const freshOut = () => join(mkdtempSync(join(tmpdir(), 'dsrl-steer-config-')), 'run');

describe('steer config validation', () => {
  it('an unknown option fails with an error naming it, before any run folder is made', async () => {
    const out = freshOut();
    const input = { ...config, out, learningRate: 1e-3 } as Parameters<typeof steer>[0];
    await expect(steer(input, tinyPolicy(1, 2, 1), bimodal)).rejects.toThrow(
      /steer config: unknown option "learningRate" \(known options: env, algo, steps, .*lr,/,
    );
    expect(existsSync(out)).toBe(false);
    expect(() => parseSteerConfig({ ...config, evalEvry: 5, critic_hidden: [8] })).toThrow(/unknown options "evalEvry", "critic_hidden"/);
  });

  it('bad values and missing or conflicting options name the option', () => {
    expect(() => parseSteerConfig({ ...config, utd: 0 })).toThrow(/steer config: utd: Too small/);
    expect(() => parseSteerConfig({ ...config, algo: 'ppo' })).toThrow(/steer config: algo: .*"na"\|"sac"\|"residual"\|"base"/);
    expect(() => parseSteerConfig({ ...config, steps: undefined })).toThrow(/steps is required for algo "na"/);
    expect(parseSteerConfig({ ...config, algo: 'base', steps: undefined }).algo).toBe('base');
    expect(() => parseSteerConfig({ ...config, algo: 'sac', offline: 'data.h5' })).toThrow(
      /offline data cannot be used with algo "sac": DSRL-SAC learns Q\(s, w\) on the noise it chose itself, and offline data has real actions, not noise/,
    );
    expect(() => parseSteerConfig({ ...config, algo: 'residual', offline: 'data.h5' })).toThrow(/offline data cannot be used with algo "residual"/);
    expect(() => parseSteerConfig({ ...config, steps: undefined, offlineOnly: 100 })).toThrow(/offlineOnly needs offline data/);
    expect(() => parseSteerConfig({ ...config, offline: 'd.h5', offlineOnly: 100 })).toThrow(
      /give either steps \(online\) or offlineOnly \(updates\), not both/,
    );
    expect(() => parseSteerConfig({ ...config, algo: 'base', checkpointEvery: 10 })).toThrow(/algo "base" is a single evaluation/);
    expect(() => parseSteerConfig({ ...config, baseNoise: 'zero' })).toThrow(/baseNoise "zero" is for algo "base"/);
  });

  it('a run whose replay buffer would not fit in memory is refused up front, naming steps, before any run folder is made', async () => {
    const out = freshOut();
    await expect(steer({ ...config, steps: 1e9, out }, tinyPolicy(1, 2, 1), bimodal)).rejects.toThrow(
      /replay buffer would need [\d.]+ GiB for 1000000002 rows .*lower steps/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a base policy whose dims do not fit the env fails with a clear error, before any run folder is made', async () => {
    const out = freshOut();
    await expect(steer({ ...config, out }, tinyPolicy(3, 2, 1), bimodal)).rejects.toThrow(
      /base policy does not fit BimodalChoice: the policy takes observations of dim 3 and returns chunks of 1 x 2 actions; BimodalChoice has observations of dim 1 and actions of dim 2/,
    );
    expect(existsSync(out)).toBe(false);
    // Action dim 3 against the env's 2 (the chunked env takes 4 x 2 = 8 values, the policy returns 4 x 3 = 12).
    await expect(steer({ ...config, algo: 'sac', out }, tinyPolicy(1, 3, 4), bimodal)).rejects.toThrow(
      /base policy does not fit BimodalChoice: the policy takes observations of dim 1 and returns chunks of 4 x 3 actions; BimodalChoice has observations of dim 1 and actions of dim 2/,
    );
    await expect(steer({ ...config, algo: 'base', out }, tinyPolicy(1, 3, 1), bimodal)).rejects.toThrow(/base policy does not fit BimodalChoice/);
    expect(existsSync(out)).toBe(false);
  });

  it('actorLayerNorm puts LayerNorm in the actor of every learning algo, is off by default and is saved in config.json', async () => {
    expect(parseSteerConfig(config).actorLayerNorm).toBe(false);
    for (const algo of ['na', 'sac', 'residual'] as const) {
      for (const actorLayerNorm of [false, true]) {
        const out = freshOut();
        await steer({ ...config, algo, actorLayerNorm, out }, tinyPolicy(1, 2, 1), bimodal);
        const names = Object.keys(readSafetensors(join(out, 'last', 'actor.safetensors')).tensors);
        expect(
          names.some((n) => n.endsWith('ln.weight')),
          `${algo} actorLayerNorm ${actorLayerNorm}: ${names.join(', ')}`,
        ).toBe(actorLayerNorm);
        expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).actorLayerNorm).toBe(actorLayerNorm);
      }
    }
  });

  it("initTemperature is every learning algo's starting alpha (the reference's 1 by default)", async () => {
    expect(parseSteerConfig(config).initTemperature).toBe(1);
    expect(() => parseSteerConfig({ ...config, initTemperature: 0 })).toThrow(/initTemperature/);
    const envs = await bimodal(2, 1);
    for (const algo of ['na', 'sac', 'residual'] as const) {
      const parts = buildSteerParts(parseSteerConfig({ ...config, algo, initTemperature: 0.05 }), tinyPolicy(1, 2, 1), null, envs, 1)!;
      const agent = parts.agent as unknown as { logAlpha: { values: Float32Array } };
      expect(agent.logAlpha.values[0], algo).toBeCloseTo(Math.log(0.05), 6);
    }
    await envs.close();
  });

  it('actorInit zero-mean starts every learning algo at the middle of its bounds (DSRL: w = 0) whatever the observation', async () => {
    expect(parseSteerConfig(config).actorInit).toBe('random');
    const envs = await bimodal(2, 1);
    for (const algo of ['na', 'sac', 'residual'] as const) {
      for (const actorInit of ['random', 'zero-mean'] as const) {
        const parts = buildSteerParts(parseSteerConfig({ ...config, algo, actorInit }), tinyPolicy(1, 2, 1), null, envs, 1)!;
        const obs = Float32Array.from({ length: 4 * parts.obsDim }, (_, i) => Math.sin(3 * i));
        const mean = Array.from(await parts.agent.act(obs, 4, true));
        // tanh(0) * bound is 0 exactly: the mean half of the output layer is zero, so its output is 0 for any input.
        if (actorInit === 'zero-mean') expect(mean, algo).toEqual(new Array(8).fill(0));
        else
          expect(
            mean.some((v) => Math.abs(v) > 1e-3),
            algo,
          ).toBe(true);
      }
    }
    await envs.close();
  });
});
