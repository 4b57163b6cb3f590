import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SAC, sacDefaults } from '../src/algos/sac.ts';
import { Rng } from '../src/core/rng.ts';
import { readD4rl } from '../src/data/hdf5.ts';
import { collect } from '../src/run/collect.ts';
import { saveSacCheckpoint } from '../src/run/sac-checkpoint.ts';

describe('dsrl collect', () => {
  it('records the mean action, Gaussian-perturbed actions or samples of the stochastic policy, reproducibly under a seed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dsrl-collect-'));
    const agent = join(dir, 'agent');
    // An untrained Hopper agent: short episodes, and a policy std far from zero.
    saveSacCheckpoint(agent, new SAC(sacDefaults(11, 3, { actorHidden: [16, 16], criticHidden: [16, 16] }), Rng.fromSeed(3)), {
      env: 'Hopper-v5',
      step: 0,
      evalReturn: null,
    });
    const run = (name: string, extra: { noise?: number; stochastic?: boolean; seed?: number }) =>
      collect({ policy: agent, env: 'Hopper-v5', episodes: 2, noise: 0, seed: 0, out: join(dir, `${name}.h5`), ...extra });
    const mean = await run('mean', {});
    const stochastic = await run('stochastic', { stochastic: true });
    const again = await run('again', { stochastic: true });
    const otherSeed = await run('other', { stochastic: true, seed: 1 });
    expect(again.hash).toBe(stochastic.hash);
    expect(otherSeed.hash).not.toBe(stochastic.hash);
    expect(stochastic.hash).not.toBe(mean.hash);
    // Sampled actions spread around the mean action far more than float noise would.
    const first = (r: typeof mean) => Array.from(r.dataset.actions.subarray(0, 3));
    expect(Math.max(...first(stochastic).map((a, j) => Math.abs(a - first(mean)[j])))).toBeGreaterThan(0.05);
    const file = await readD4rl(join(dir, 'stochastic.h5'));
    expect(file.metadata.stochastic).toBe(1);
    expect(file.size).toBe(stochastic.dataset.size);
  });
});
