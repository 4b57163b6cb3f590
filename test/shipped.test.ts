/**
 * What the repo ships must load and work: the medium datasets through the D4RL reader (their
 * returns as stated in their metadata and data/README.md), the manipulation demos through the
 * robomimic reader (their counts as stated in their env_args and data/README.md), and the base
 * policies through the checkpoint loader, evaluated in their env with the same protocol as `dsrl eval`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { episodeReturnStats, splitEpisodes } from '../src/data/d4rl.ts';
import { readD4rl, readDataset, readRobomimic } from '../src/data/hdf5.ts';
import { makeEnv } from '../src/envs/registry.ts';
import { evaluateBasePolicy } from '../src/run/evaluate-run.ts';
import { loadDiffusionCheckpoint } from '../src/policies/diffusion/checkpoint-io.ts';

const root = join(import.meta.dirname, '..');
const datasets = readdirSync(join(root, 'data')).filter((f) => f.endsWith('.h5'));
const models = existsSync(join(root, 'models'))
  ? readdirSync(join(root, 'models')).filter((d) => existsSync(join(root, 'models', d, 'manifest.json')))
  : [];

describe('shipped medium datasets', () => {
  it('there is one per task', () => {
    expect(datasets.sort()).toEqual(['halfcheetah-medium.h5', 'hopper-medium.h5', 'walker2d-medium.h5']);
  });

  it.each(datasets)('%s loads through the D4RL reader with the return its metadata states', async (file) => {
    const ds = await readD4rl(join(root, 'data', file));
    const env = await makeEnv(String(ds.metadata.env));
    expect(ds.obsDim).toBe(env.observationSpace.size);
    expect(ds.actionDim).toBe(env.actionSpace.size);
    env.close();
    const stats = episodeReturnStats(splitEpisodes(ds));
    expect(stats.count).toBe(Number(ds.metadata.episodes));
    expect(stats.mean).toBeCloseTo(Number(ds.metadata.return_mean), 1);
  });
});

/** robomimic-layout demos, and what data/README.md states for each: demos, successful ones, mean length (steps). */
const ROBOMIMIC_SHIPPED: Record<string, { env: string; demos: number; successful: number; meanLength: number }> = {
  'lift-mh.hdf5': { env: 'Lift-v0', demos: 50, successful: 45, meanLength: 109.0 },
  'can-mh.hdf5': { env: 'PickPlaceCan-v0', demos: 50, successful: 45, meanLength: 134.0 },
  'square-mh.hdf5': { env: 'NutAssemblySquare-v0', demos: 50, successful: 45, meanLength: 159.4 },
};

describe('shipped manipulation demos (robomimic layout)', () => {
  it('are the ones data/README.md lists', () => {
    expect(
      readdirSync(join(root, 'data'))
        .filter((f) => f.endsWith('.hdf5'))
        .sort(),
    ).toEqual(Object.keys(ROBOMIMIC_SHIPPED).sort());
  });

  it.each(Object.keys(ROBOMIMIC_SHIPPED))(
    '%s loads with the counts its metadata and data/README.md state, and flattens for its env',
    async (file) => {
      const want = ROBOMIMIC_SHIPPED[file];
      const path = join(root, 'data', file);
      const ds = await readRobomimic(path);
      expect(ds.envArgs.env_id).toBe(want.env);
      expect(ds.demos.length).toBe(want.demos);
      const successful = ds.demos.filter((d) => d.attrs.success === 1);
      expect(successful.length).toBe(want.successful);
      expect(ds.masks.successful.length).toBe(want.successful);
      // Successful demos end on their success step; the failure share is what the recipe asked for.
      for (const d of ds.demos) expect(d.dones[d.length - 1]).toBe(d.attrs.success);
      expect(Math.round(Number(ds.envArgs.failure_share) * want.demos)).toBe(want.demos - want.successful);
      const steps = ds.demos.reduce((s, d) => s + d.length, 0);
      expect((steps / ds.demos.length).toFixed(1)).toBe(want.meanLength.toFixed(1));
      const flat = await readDataset(path);
      const env = await makeEnv(want.env);
      expect(flat.obsDim).toBe(env.observationSpace.size);
      expect(flat.actionDim).toBe(env.actionSpace.size);
      env.close();
      expect(flat.size).toBe(steps);
    },
  );
});

describe('shipped base policies', () => {
  it.each(models)('models/%s loads and evaluates near its recorded return', async (name) => {
    const { policy, manifest } = loadDiffusionCheckpoint(join(root, 'models', name));
    const envId = manifest.envId!;
    const recorded = manifest.eval!.at(-1)!;
    // The recorded evaluation again (same episodes, seeds and `dsrl eval`'s default batching of 8).
    // On this machine the mean comes back to the digit; the bound leaves room for another CPU's
    // float rounding (which the dynamics amplify) while failing for weights that load wrongly.
    const { mean, successRate } = await evaluateBasePolicy(policy, envId, { episodes: recorded.episodes, seed: recorded.seed, parallel: 8 });
    expect(Math.abs(mean - recorded.returnMean)).toBeLessThan(0.15 * Math.abs(recorded.returnMean) + recorded.returnStd);
    // Manipulation: the success rate too, to within 4 of its 20 episodes (a contact can tip one episode on another CPU).
    if (recorded.successRate !== undefined) expect(Math.abs(successRate! - recorded.successRate)).toBeLessThanOrEqual(0.2 + 1e-9);
  });

  it('the manipulation policies succeed 20-60% of the time over 100 seeded episodes, as their manifests record', () => {
    for (const name of models) {
      const { manifest } = loadDiffusionCheckpoint(join(root, 'models', name));
      const hundred = manifest.eval!.find((e) => e.episodes === 100 && e.successRate !== undefined);
      if (manifest.envId && /^(Lift|PickPlaceCan|NutAssemblySquare)-/.test(manifest.envId)) {
        expect(hundred, `models/${name}: a 100-episode evaluation`).toBeDefined();
        expect(hundred!.successRate).toBeGreaterThanOrEqual(0.2);
        expect(hundred!.successRate).toBeLessThanOrEqual(0.6);
      }
    }
  });
});
